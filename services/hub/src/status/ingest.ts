import { HEARTBEAT_PREFIX } from "@flotilla/proto";
import { createInbox, type KV, type KvEntry, type NatsConnection, type QueuedIterator, type Subscription } from "nats";
import type { Logger } from "pino";
import type { HubMetrics } from "../metrics.js";
import type { AssignmentReader, ClusterStatusStore, ObjectReader, ReportStore } from "../store.js";
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
/** Subjects the leader sends its liveness marks on, to itself (`<prefix>.<unique id>`). */
export const LIVENESS_MARK_PREFIX = "flotilla.hub.liveness";

/** A liveness mark back from NATS: every beat NATS had taken when it was sent is queued before it. */
interface LivenessMark {
  mark: number;
  /** Hub clock when the mark was sent. */
  atMs: number;
}

type Arrival = ReceivedHeartbeat | LivenessMark;

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
  /** Drops reports for apps not assigned to the reporting cluster (see ReportIngestOptions). */
  assignments?: AssignmentReader;
}

/**
 * Runs on the leader only: folds agent reports (the `flotilla_status` bucket) and heartbeats
 * (`flotilla.hb.*`) into Redis, and sweeps silent clusters to Offline. Both arrive into queues
 * drained in batches, so the cost per message falls as the fleet grows and liveness keeps up
 * with the rate. The bucket watch starts from every key's last value, so a new leader catches up
 * on what arrived while no one was leading.
 *
 * Liveness is judged by marks, not by the clock: every half interval the leader publishes a mark
 * to itself on the connection that receives the heartbeats, and sweeps when the mark comes back
 * through the same queue, as of the time it was sent. NATS hands a subscriber messages in the
 * order it took them, so every beat that reached NATS before the mark is stored by then,
 * however far ingestion lags behind (a busy event loop, a burst of reports, a slow Redis). A
 * cluster is silent only over time the leader was listening: since its subscription began,
 * or since its connection came back after a cut (beats published meanwhile were lost).
 *
 * Stopping drops what is queued and waits only for the batch in flight: heartbeats come again
 * every interval, and reports stay in the bucket for the next leader's watch, so nothing
 * durable is lost and a hub told to stop does not first work through a backlog.
 */
export class Ingester {
  readonly #stopping = new AbortController();
  readonly #heartbeats: HeartbeatIngest;
  readonly #beats: Batcher<Arrival>;
  readonly #reports: Batcher<KvEntry>;
  #watch: QueuedIterator<KvEntry> | undefined;
  #sub: Subscription | undefined;
  #markSub: Subscription | undefined;
  #sweeper: NodeJS.Timeout | undefined;
  /** Marks sent and not yet back: their send times by number. */
  readonly #marks = new Map<number, number>();
  #nextMark = 0;
  /** Since when every beat that reached NATS also reached this leader. */
  #listeningSinceMs = Number.POSITIVE_INFINITY;
  #loop: Promise<void> | undefined;

  constructor(private readonly o: IngestOptions) {
    this.#heartbeats = new HeartbeatIngest(o);
    const reports = new ReportIngest({ ...o, stopping: this.#stopping.signal });
    this.#beats = new Batcher((batch) => this.#arrived(batch), HEARTBEAT_BATCH);
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
    const markSubject = createInbox(LIVENESS_MARK_PREFIX);
    this.#markSub = this.o.nc.subscribe(markSubject, {
      callback: (err, msg) => {
        if (err) return;
        const mark = Number(new TextDecoder().decode(msg.data));
        const atMs = this.#marks.get(mark);
        if (atMs === undefined) return;
        // A mark sent earlier and lost (a cut connection) will not come back.
        for (const n of this.#marks.keys()) if (n <= mark) this.#marks.delete(n);
        this.#beats.push({ mark, atMs });
      },
    });
    // Both subscriptions are in place on the server once this flush returns.
    await this.o.nc.flush();
    this.#listeningSinceMs = Date.now();
    void (async () => {
      // Ends at the first status after stopping (or when the connection closes).
      for await (const s of this.o.nc.status()) {
        if (this.#stopping.signal.aborted) break;
        if (s.type === "reconnect") this.#listeningSinceMs = Date.now();
      }
    })().catch(() => {});
    const every = Math.max(100, Math.floor(this.o.liveness.heartbeatIntervalMs / 2));
    this.#sweeper = setInterval(() => this.sweep(markSubject), every);
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#watch?.stop();
    this.#sub?.unsubscribe();
    this.#markSub?.unsubscribe();
    const beats = await this.#beats.close();
    const reports = await this.#reports.close();
    if (beats + reports > 0)
      this.o.log.info({ heartbeats: beats, reports }, "stopped ingesting; dropped what was queued");
    await this.#loop;
  }

  /** Sends a liveness mark; the sweep runs when it comes back (see the class comment). */
  sweep(markSubject: string): void {
    const mark = this.#nextMark++;
    this.#marks.set(mark, Date.now());
    this.o.nc.publish(markSubject, new TextEncoder().encode(String(mark)));
  }

  /** Stores the beats of one batch, then sweeps as of the newest mark in it. */
  async #arrived(batch: readonly Arrival[]): Promise<void> {
    const beats: ReceivedHeartbeat[] = [];
    let markAtMs: number | undefined;
    for (const a of batch) {
      if ("mark" in a) markAtMs = a.atMs;
      else beats.push(a);
    }
    // Beats that came after the mark are stored before the sweep too: they only prove life.
    if (beats.length > 0) await this.#heartbeats.store(beats);
    if (markAtMs !== undefined) await this.#heartbeats.sweep(markAtMs, this.#listeningSinceMs);
  }
}
