/**
 * The messages between a {@link ShardedFleet} and its shard workers: each request carries an
 * id, each answer the same id and either a value or an error message. One shape for both ends.
 */
import type { BootstrapBundle } from "@flotilla/api";
import type { TlsOptions } from "nats";
import type { AgentBehaviour } from "./behaviour.js";
import type { AppProgress } from "./cluster.js";
import type { DesiredWindow, FleetCounts } from "./counters.js";

/** What a shard worker starts with (its `workerData`). */
export interface ShardInit {
  natsUrl: string;
  bundles: readonly BootstrapBundle[];
  behaviour: AgentBehaviour;
  heartbeatIntervalMs?: number;
  clustersPerConnection?: number;
  ignoreClusterUpdates?: boolean;
  verifyDesired?: boolean;
  /** TLS to NATS, as `SimulatedFleetOptions.tls` takes it (strings only: it crosses to a worker). */
  tls?: TlsOptions | null;
}

/** A request to one shard, by operation. */
export type ShardRequest =
  | { id: number; op: "setBehaviour"; change: Partial<AgentBehaviour> }
  | { id: number; op: "progress"; app: string }
  | { id: number; op: "counts" }
  | { id: number; op: "openWindow" }
  | { id: number; op: "prepareBurst"; reports: number }
  | { id: number; op: "sendBurst"; acked: boolean }
  | { id: number; op: "beatAll" }
  | { id: number; op: "stop" };

/** What a shard's counters and desired window are now. */
export interface ShardCounts {
  counts: FleetCounts;
  window: DesiredWindow;
}

/** The value each operation answers. */
export interface ShardAnswers {
  setBehaviour: undefined;
  progress: [cluster: string, progress: AppProgress][];
  counts: ShardCounts;
  openWindow: undefined;
  prepareBurst: number;
  sendBurst: undefined;
  beatAll: undefined;
  stop: undefined;
}

/** A shard's message to the fleet: its start, or the answer to one request. */
export type ShardMessage =
  | { kind: "started" }
  | { kind: "failed"; message: string }
  | { kind: "answer"; id: number; value?: unknown; error?: string };
