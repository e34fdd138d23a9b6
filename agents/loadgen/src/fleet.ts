/**
 * A fleet of simulated agents in one process: one {@link SimulatedCluster} per bootstrap bundle,
 * heartbeats spread evenly over the interval, desired states dispatched from NATS.
 */
import type { BootstrapBundle } from "@flotilla/api";
import { KeyRing, publicKeyFromPem, signingKeyFromPem } from "@flotilla/proto";
import type { TlsOptions } from "nats";
import { type AgentBehaviour, DEFAULT_BEHAVIOUR } from "./behaviour.js";
import { type AppProgress, type ClusterContext, SimulatedCluster } from "./cluster.js";
import { FleetCounters } from "./counters.js";
import { type FleetLinks, isolatedLinks, sharedLinks } from "./links.js";

/** How often agents beat, as the agent's own default. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 10_000;
/** Clusters per shared NATS connection. */
export const DEFAULT_CLUSTERS_PER_CONNECTION = 500;
/** Resolution of the heartbeat schedule: each tick beats the clusters of one slot. */
const HEARTBEAT_TICK_MS = 100;

export interface SimulatedFleetOptions {
  /** NATS URL(s) the agents connect to, comma-separated (bundles carry the hub's view, which may differ). */
  natsUrl: string;
  /** One per simulated cluster, as registration answered them. */
  bundles: readonly BootstrapBundle[];
  behaviour?: Partial<AgentBehaviour>;
  /** @default {@link DEFAULT_HEARTBEAT_INTERVAL_MS} */
  heartbeatIntervalMs?: number;
  /**
   * Without auth (bundles without NATS credentials): clusters per shared connection.
   * With credentials every cluster has its own connection.
   * @default {@link DEFAULT_CLUSTERS_PER_CONNECTION}
   */
  clustersPerConnection?: number;
  /**
   * Connect only to the URLs given, never to the cluster's other servers the first one
   * gossips: for a link that runs through a proxy a test cuts. @default false
   */
  ignoreClusterUpdates?: boolean;
  /**
   * Verify every desired state's signature, as a real agent does. Off, the simulated agents
   * still refuse other types, untrusted key ids, other clusters' and older values, and still
   * sign everything they send; they only skip the Ed25519 check, which on a busy machine was
   * most of their CPU per desired state. @default true
   */
  verifyDesired?: boolean;
  /**
   * TLS to NATS, nats.js's `tls` option: null connects in plaintext, which only a NATS without
   * TLS accepts. @default TLS required, verified with the CA the first bundle carries (or the
   * system's CAs when it carries none), as a real agent does
   */
  tls?: TlsOptions | null;
}

export class SimulatedFleet {
  readonly counters = new FleetCounters();
  readonly #clusters = new Map<string, SimulatedCluster>();
  #behaviour: AgentBehaviour;
  #links: FleetLinks | undefined;
  #ticker: NodeJS.Timeout | undefined;

  private constructor(behaviour: AgentBehaviour) {
    this.#behaviour = behaviour;
  }

  /**
   * Connects every simulated cluster and starts beating. Bundles with NATS credentials
   * (operator mode) get a connection each; the others share connections.
   */
  static async start(options: SimulatedFleetOptions): Promise<SimulatedFleet> {
    const fleet = new SimulatedFleet({ ...DEFAULT_BEHAVIOUR, ...options.behaviour });
    const first = options.bundles[0];
    if (!first) return fleet;
    const context: ClusterContext = {
      hubKeys: new KeyRing([publicKeyFromPem(first.hubPublicKey)]),
      behaviour: () => fleet.#behaviour,
      counters: fleet.counters,
      verifyDesired: options.verifyDesired ?? true,
    };
    const onDesired = (cluster: string, app: string, value: Uint8Array) =>
      fleet.#clusters.get(cluster)?.onDesired(app, value);
    const names = options.bundles.map((b) => b.cluster);
    const target = {
      url: options.natsUrl,
      ignoreClusterUpdates: options.ignoreClusterUpdates ?? false,
      tls: options.tls === undefined ? (first.natsCa ? { ca: first.natsCa } : {}) : options.tls,
    };
    const isolated = options.bundles.every((b) => b.natsCreds !== "");
    const links = isolated
      ? await isolatedLinks(
          target,
          options.bundles.map((b) => ({
            name: b.cluster,
            creds: b.natsCreds,
            agentKey: signingKeyFromPem(b.agentSigningKey),
          })),
          context.hubKeys,
          onDesired,
        )
      : await sharedLinks(target, names, options.clustersPerConnection ?? DEFAULT_CLUSTERS_PER_CONNECTION, onDesired);
    fleet.#links = links;
    for (const b of options.bundles) {
      fleet.#clusters.set(
        b.cluster,
        new SimulatedCluster(b.cluster, signingKeyFromPem(b.agentSigningKey), links.link(b.cluster), context),
      );
    }
    fleet.#beat(names, options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS);
    return fleet;
  }

  /**
   * Every cluster beats once per interval, in its own slot, so beats arrive evenly spread. Each
   * cluster keeps its own due time, as a real agent's timer does: a tick that runs late (a busy
   * event loop) beats every cluster that came due meanwhile, instead of skipping their slots and
   * leaving them silent for another interval.
   */
  #beat(names: readonly string[], intervalMs: number): void {
    const clusters = names.map((n) => this.#clusters.get(n)!);
    const slots = Math.max(1, Math.round(intervalMs / HEARTBEAT_TICK_MS));
    const start = Date.now();
    const due = clusters.map((_, i) => start + ((i % slots) + 1) * HEARTBEAT_TICK_MS);
    for (const c of clusters) c.heartbeat();
    let dueMs = start + HEARTBEAT_TICK_MS;
    this.#ticker = setInterval(() => {
      const now = Date.now();
      this.counters.heartbeatLateMaxMs = Math.max(this.counters.heartbeatLateMaxMs, now - dueMs);
      dueMs = now + HEARTBEAT_TICK_MS;
      clusters.forEach((c, i) => {
        if ((due[i] ?? 0) > now) return;
        c.heartbeat();
        while ((due[i] ?? 0) <= now) due[i] = (due[i] ?? 0) + intervalMs;
      });
    }, HEARTBEAT_TICK_MS);
  }

  get size(): number {
    return this.#clusters.size;
  }

  get behaviour(): AgentBehaviour {
    return this.#behaviour;
  }

  /** Changes how every cluster answers from the next desired state on. */
  setBehaviour(change: Partial<AgentBehaviour>): void {
    this.#behaviour = { ...this.#behaviour, ...change };
  }

  /** What `cluster` last acted on for `app`. */
  progress(cluster: string, app: string): AppProgress | undefined {
    return this.#clusters.get(cluster)?.progress(app);
  }

  /** What every cluster last acted on for `app`, by cluster (clusters that never got it left out). */
  progressAll(app: string): [cluster: string, progress: AppProgress][] {
    const out: [string, AppProgress][] = [];
    for (const [name, c] of this.#clusters) {
      const p = c.progress(app);
      if (p) out.push([name, p]);
    }
    return out;
  }

  /** Every cluster beats now, at once: a heartbeat burst. */
  async beatAll(): Promise<void> {
    for (const c of this.#clusters.values()) c.heartbeat();
    await this.#links?.flush();
  }

  /**
   * A report burst: every cluster sends each app's sequence of `reports` reports (1 to 5, the
   * verdict last) for the revision it runs, all at once.
   */
  reportAgain(reports = 1): void {
    this.prepareBurst(reports);
    void this.sendBurst();
  }

  /** Seals a report burst in every cluster without sending it; returns how many reports (see {@link SimulatedCluster.prepareBurst}). */
  prepareBurst(reports = 1): number {
    let sealed = 0;
    for (const c of this.#clusters.values()) sealed += c.prepareBurst(reports);
    return sealed;
  }

  /** Sends the burst {@link prepareBurst} sealed, every cluster at once (see {@link SimulatedCluster.sendBurst}). */
  async sendBurst(acked = true): Promise<void> {
    for (const c of this.#clusters.values()) c.sendBurst(acked);
    if (!acked) await this.#links?.flush();
  }

  async stop(): Promise<void> {
    if (this.#ticker) clearInterval(this.#ticker);
    for (const c of this.#clusters.values()) c.stop();
    await this.#links?.close();
  }
}
