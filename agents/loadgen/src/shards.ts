/**
 * Simulated agents in worker threads: the clusters split into shards, each a
 * {@link SimulatedFleet} on its own thread and event loop. A benchmark's own process (reading
 * the hub's events, serving Git, timing requests) then never delays the agents' heartbeats and
 * reports, and the agents' signing never delays the benchmark's clock.
 */
import { Worker } from "node:worker_threads";
import { type AgentBehaviour, DEFAULT_BEHAVIOUR } from "./behaviour.js";
import type { AppProgress } from "./cluster.js";
import type { DesiredWindow, FleetCounts } from "./counters.js";
import { LoadgenError } from "./errors.js";
import type { SimulatedFleetOptions } from "./fleet.js";
import type { ShardAnswers, ShardInit, ShardMessage, ShardRequest } from "./shard-protocol.js";

/** Shards when none are asked for: one worker thread per core is more than a benchmark wants. */
export const DEFAULT_SHARDS = 2;

export interface ShardedFleetOptions extends SimulatedFleetOptions {
  /** Worker threads; clusters are dealt to them in turn. @default {@link DEFAULT_SHARDS} */
  shards?: number;
}

/** Requests and answers without the id the protocol adds. */
type Request = ShardRequest extends infer Q ? (Q extends ShardRequest ? Omit<Q, "id"> : never) : never;

class Shard {
  #next = 1;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(readonly worker: Worker) {
    worker.on("message", (m: ShardMessage) => {
      if (m.kind !== "answer") return;
      const p = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      if (m.error !== undefined) p?.reject(new LoadgenError(`simulated agent shard: ${m.error}`));
      else p?.resolve(m.value);
    });
    worker.on("error", (err) => this.#failAll(err));
    worker.on("exit", (code) => this.#failAll(new LoadgenError(`simulated agent shard exited with code ${code}`)));
  }

  /** Starts a worker on `init` and resolves once its fleet is connected and beating. */
  static start(init: ShardInit): Promise<Shard> {
    const worker = new Worker(new URL("./shard-worker.js", import.meta.url), { workerData: init });
    return new Promise((resolve, reject) => {
      const onMessage = (m: ShardMessage) => {
        if (m.kind === "started") {
          worker.off("message", onMessage);
          resolve(new Shard(worker));
        } else if (m.kind === "failed") {
          void worker.terminate();
          reject(new LoadgenError(`a simulated agent shard did not start: ${m.message}`));
        }
      };
      worker.on("message", onMessage);
      worker.once("error", reject);
    });
  }

  ask<Q extends Request>(q: Q): Promise<ShardAnswers[Q["op"]]> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...q, id });
    });
  }

  #failAll(err: Error): void {
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }
}

/**
 * A fleet of simulated agents spread over worker threads. The same behaviour as
 * {@link SimulatedFleet}, asked for asynchronously: its counters and each cluster's progress
 * live in the shards.
 */
export class ShardedFleet {
  #behaviour: AgentBehaviour;

  private constructor(
    private readonly shards: readonly Shard[],
    behaviour: AgentBehaviour,
  ) {
    this.#behaviour = behaviour;
  }

  /** Deals the bundles to `shards` workers in turn and starts each one's fleet. */
  static async start(options: ShardedFleetOptions): Promise<ShardedFleet> {
    const count = Math.max(1, Math.min(options.shards ?? DEFAULT_SHARDS, options.bundles.length));
    const behaviour = { ...DEFAULT_BEHAVIOUR, ...options.behaviour };
    const inits: ShardInit[] = Array.from({ length: count }, (_, i) => ({
      natsUrl: options.natsUrl,
      bundles: options.bundles.filter((_, j) => j % count === i),
      behaviour,
      ...(options.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: options.heartbeatIntervalMs } : {}),
      ...(options.clustersPerConnection !== undefined ? { clustersPerConnection: options.clustersPerConnection } : {}),
      ...(options.ignoreClusterUpdates !== undefined ? { ignoreClusterUpdates: options.ignoreClusterUpdates } : {}),
      ...(options.verifyDesired !== undefined ? { verifyDesired: options.verifyDesired } : {}),
      ...(options.tls !== undefined ? { tls: options.tls } : {}),
    }));
    const started = await Promise.allSettled(inits.map((init) => Shard.start(init)));
    const shards = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed) {
      await Promise.allSettled(shards.map((s) => s.ask({ op: "stop" })));
      await Promise.allSettled(shards.map((s) => s.worker.terminate()));
      throw failed.reason;
    }
    return new ShardedFleet(shards, behaviour);
  }

  get shardCount(): number {
    return this.shards.length;
  }

  get behaviour(): AgentBehaviour {
    return this.#behaviour;
  }

  /** Changes how every cluster answers from the next desired state on. */
  async setBehaviour(change: Partial<AgentBehaviour>): Promise<void> {
    this.#behaviour = { ...this.#behaviour, ...change };
    await this.#all({ op: "setBehaviour", change });
  }

  /** What every cluster last acted on for `app`, by cluster. */
  async progress(app: string): Promise<Map<string, AppProgress>> {
    const parts = await this.#all({ op: "progress", app });
    return new Map(parts.flat());
  }

  /** Every shard's counters added up (the latest heartbeat lateness: the worst shard's). */
  async counts(): Promise<FleetCounts> {
    const parts = await this.#all({ op: "counts" });
    const sum = (f: (c: FleetCounts) => number) => parts.reduce((n, p) => n + f(p.counts), 0);
    return {
      desiredAccepted: sum((c) => c.desiredAccepted),
      desiredRefused: sum((c) => c.desiredRefused),
      generationRegressions: sum((c) => c.generationRegressions),
      reportsSent: sum((c) => c.reportsSent),
      reportFailures: sum((c) => c.reportFailures),
      heartbeatsSent: sum((c) => c.heartbeatsSent),
      heartbeatLateMaxMs: Math.max(0, ...parts.map((p) => p.counts.heartbeatLateMaxMs)),
    };
  }

  /** Starts counting desired states afresh in every shard. */
  async openWindow(): Promise<void> {
    await this.#all({ op: "openWindow" });
  }

  /** Desired states accepted since {@link openWindow}, over all shards. */
  async window(): Promise<DesiredWindow> {
    const windows = (await this.#all({ op: "counts" })).map((p) => p.window);
    const firsts = windows.flatMap((w) => (w.firstAtMs === undefined ? [] : [w.firstAtMs]));
    const lasts = windows.flatMap((w) => (w.lastAtMs === undefined ? [] : [w.lastAtMs]));
    return {
      count: windows.reduce((n, w) => n + w.count, 0),
      ...(firsts.length ? { firstAtMs: Math.min(...firsts) } : {}),
      ...(lasts.length ? { lastAtMs: Math.max(...lasts) } : {}),
    };
  }

  /** A report burst in every shard at once (see {@link SimulatedFleet.reportAgain}). */
  async reportAgain(reports = 1): Promise<void> {
    await this.prepareBurst(reports);
    await this.sendBurst();
  }

  /** Seals a report burst in every shard without sending it; returns how many reports. */
  async prepareBurst(reports = 1): Promise<number> {
    return (await this.#all({ op: "prepareBurst", reports })).reduce((n, c) => n + c, 0);
  }

  /** Sends the sealed burst from every shard at once (see {@link SimulatedCluster.sendBurst}). */
  async sendBurst(acked = true): Promise<void> {
    await this.#all({ op: "sendBurst", acked });
  }

  /** Every cluster beats now, at once; resolves when the shards have sent their beats. */
  async beatAll(): Promise<void> {
    await this.#all({ op: "beatAll" });
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.shards.map((s) => s.ask({ op: "stop" })));
    await Promise.allSettled(this.shards.map((s) => s.worker.terminate()));
  }

  #all<Q extends Request>(q: Q): Promise<ShardAnswers[Q["op"]][]> {
    return Promise.all(this.shards.map((s) => s.ask(q)));
  }
}
