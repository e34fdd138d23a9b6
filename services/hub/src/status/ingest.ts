import { HEARTBEAT_PREFIX } from "@flotilla/proto";
import type { KV, KvEntry, NatsConnection, QueuedIterator, Subscription } from "nats";
import type { Logger } from "pino";
import type { HubMetrics } from "../metrics.js";
import type { ClusterStatusStore, ObjectReader, ReportStore } from "../store.js";
import { Batcher } from "./batcher.js";
import type { EventBus } from "./events.js";
import { HeartbeatIngest, type ReceivedHeartbeat } from "./heartbeats.js";
import type { LivenessPolicy } from "./liveness.js";
import { ReportIngest } from "./reports.js";
import type { Verifier } from "./verifier.js";

/** Most heartbeats stored per batch (one Redis round trip per read and write). */
export const HEARTBEAT_BATCH = 1_000;
/** Most reports stored per batch; reports are larger than heartbeats. */
export const REPORT_BATCH = 500;

export interface IngestOptions {
  nc: NatsConnection;
  statusKv: KV;
  objects: ObjectReader;
  statuses: ClusterStatusStore;
  reports: ReportStore;
  events: EventBus;
  metrics: HubMetrics;
  log: Logger;
  liveness: LivenessPolicy;
  /** Verifies reports and heartbeats; the hub owns it and closes it. */
  verifier: Verifier;
}

/**
 * Runs on the leader only: folds agent reports (the `flotilla_status` bucket) and heartbeats
 * (`flotilla.hb.*`) into Redis, and sweeps silent clusters to Offline. Both arrive into queues
 * drained in batches, so the cost per message falls as the fleet grows and liveness keeps up
 * with the rate. The bucket watch starts from every key's last value, so a new leader catches up
 * on what arrived while no one was leading.
 *
 * Stopping drops what is queued and waits only for the batch in flight: heartbeats come again
 * every interval, and reports stay in the bucket for the next leader's watch, so nothing
 * durable is lost and a hub told to stop does not first work through a backlog.
 */
export class Ingester {
  readonly #stopping = new AbortController();
  readonly #heartbeats: HeartbeatIngest;
  readonly #beats: Batcher<ReceivedHeartbeat>;
  readonly #reports: Batcher<KvEntry>;
  #watch: QueuedIterator<KvEntry> | undefined;
  #sub: Subscription | undefined;
  #sweeper: NodeJS.Timeout | undefined;
  #loop: Promise<void> | undefined;

  constructor(private readonly o: IngestOptions) {
    this.#heartbeats = new HeartbeatIngest(o);
    const reports = new ReportIngest({ ...o, stopping: this.#stopping.signal });
    this.#beats = new Batcher((batch) => this.#heartbeats.store(batch), HEARTBEAT_BATCH);
    this.#reports = new Batcher((batch) => reports.store(batch), REPORT_BATCH);
  }

  async start(): Promise<void> {
    const watch = await this.o.statusKv.watch({ key: ">" });
    this.#watch = watch;
    this.#loop = (async () => {
      for await (const entry of watch) this.#reports.push(entry);
    })();
    const prefix = HEARTBEAT_PREFIX.length + 1;
    this.#sub = this.o.nc.subscribe(`${HEARTBEAT_PREFIX}.*`, {
      callback: (err, msg) => {
        if (!err) this.#beats.push({ cluster: msg.subject.slice(prefix), data: msg.data, atMs: Date.now() });
      },
    });
    const every = Math.max(100, Math.floor(this.o.liveness.heartbeatIntervalMs / 2));
    this.#sweeper = setInterval(() => void this.sweep(), every);
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#watch?.stop();
    this.#sub?.unsubscribe();
    const beats = await this.#beats.close();
    const reports = await this.#reports.close();
    if (beats + reports > 0)
      this.o.log.info({ heartbeats: beats, reports }, "stopped ingesting; dropped what was queued");
    await this.#loop;
  }

  /**
   * Turns Ready clusters that stopped beating Offline. Runs between heartbeat batches, judging
   * silence as of the oldest heartbeat still queued: a cluster whose beat waits in the queue
   * was alive when it arrived.
   */
  sweep(): Promise<void> {
    return this.#beats.run(() => this.#heartbeats.sweep(this.#beats.queued[0]?.atMs ?? Date.now()));
  }
}
