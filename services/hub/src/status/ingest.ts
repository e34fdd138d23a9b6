import { createHash } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import {
  errorCodeName,
  HEARTBEAT,
  HEARTBEAT_PREFIX,
  Health,
  type Heartbeat,
  healthName,
  KeyRing,
  open,
  ProtocolError,
  parseStateKey,
  publicKeyFromPem,
  REPORT,
  type Report,
  ResourceSync,
  syncPhaseName,
} from "@flotilla/proto";
import type { KV, KvEntry, NatsConnection, QueuedIterator, Subscription } from "nats";
import type { Logger } from "pino";
import { HubError } from "../errors.js";
import type { HubMetrics } from "../metrics.js";
import type { ClusterRecord, ClusterStatusStore, ObjectReader, ReportRecord, ReportStore } from "../store.js";
import type { EventBus } from "./events.js";
import { type LivenessPolicy, nextClusterStatus } from "./liveness.js";

/** First wait before storing a report again after Redis failed; it doubles up to {@link REPORT_RETRY_MAX_MS}. */
export const REPORT_RETRY_FIRST_MS = 100;
/** Longest wait between attempts to store one report. */
export const REPORT_RETRY_MAX_MS = 2_000;

/** Caches one KeyRing per agent public key, so each message costs one Redis GET, not a key parse. */
class AgentKeys {
  readonly #rings = new Map<string, KeyRing>();

  ring(cluster: ClusterRecord): KeyRing {
    let ring = this.#rings.get(cluster.agentPublicKey);
    if (!ring) {
      if (this.#rings.size > 10_000) this.#rings.clear();
      ring = new KeyRing([publicKeyFromPem(cluster.agentPublicKey)]);
      this.#rings.set(cluster.agentPublicKey, ring);
    }
    return ring;
  }
}

function reasonOf(err: unknown): string {
  return err instanceof ProtocolError ? err.code : "error";
}

function reportRecord(report: Report, digest: string): ReportRecord {
  return {
    cluster: report.cluster,
    app: report.app,
    observedGeneration: Number(report.observedGeneration),
    revision: report.revision,
    rolloutId: report.rolloutId,
    phase: syncPhaseName(report.phase),
    health: healthName(report.health),
    ...(report.error?.code
      ? {
          error: {
            code: errorCodeName(report.error.code),
            message: report.error.message ?? "",
            retryable: Boolean(report.error.retryable),
          },
        }
      : {}),
    ...(Number(report.rejectedGeneration) > 0 ? { rejectedGeneration: Number(report.rejectedGeneration) } : {}),
    resources: report.resources.map((r) => ({
      kind: r.ref?.kind ?? "",
      namespace: r.ref?.namespace ?? "",
      name: r.ref?.name ?? "",
      health: healthName(r.health ?? Health.HEALTH_UNKNOWN),
      sync: (ResourceSync[r.sync ?? 0] ?? "RESOURCE_SYNC_UNSPECIFIED").slice("RESOURCE_SYNC_".length).toLowerCase(),
      message: r.message ?? "",
    })),
    reportedAtMs: Number(report.reportedAtMs),
    receivedAtMs: Date.now(),
    agentVersion: report.agentVersion,
    digest,
  };
}

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
}

/**
 * Runs on the leader only: folds agent reports (the `flotilla_status` bucket) and heartbeats
 * (`flotilla.hb.*`) into Redis, and sweeps silent clusters to Offline. Each message is verified
 * with the reporting cluster's own agent key and must name that cluster; anything else is
 * logged, counted and dropped, never stored. The bucket watch starts from every key's last
 * value, so a new leader catches up on what arrived while no one was leading.
 */
export class Ingester {
  readonly #keys = new AgentKeys();
  #watch: QueuedIterator<KvEntry> | undefined;
  #sub: Subscription | undefined;
  #sweeper: NodeJS.Timeout | undefined;
  #loops: Promise<void>[] = [];
  readonly #stopping = new AbortController();

  constructor(private readonly o: IngestOptions) {}

  async start(): Promise<void> {
    const watch = await this.o.statusKv.watch({ key: ">" });
    this.#watch = watch;
    const sub = this.o.nc.subscribe(`${HEARTBEAT_PREFIX}.*`);
    this.#sub = sub;
    this.#loops = [
      (async () => {
        for await (const entry of watch) await this.#storeReport(entry);
      })(),
      (async () => {
        for await (const msg of sub) await this.#onHeartbeat(msg.subject, msg.data);
      })(),
    ];
    const every = Math.max(100, Math.floor(this.o.liveness.heartbeatIntervalMs / 2));
    this.#sweeper = setInterval(() => void this.sweep(), every);
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#watch?.stop();
    this.#sub?.unsubscribe();
    await Promise.allSettled(this.#loops);
  }

  /**
   * Ingests one report, retrying while Redis fails: the watch delivers each value once, and an
   * agent reports again only when something changes, so a dropped "healthy" report would hold
   * a rollout until its deadline fails a good revision. Stops retrying when the ingester stops
   * (the next leader's watch starts from every key's last value).
   */
  async #storeReport(entry: KvEntry): Promise<void> {
    for (let attempt = 1; !this.#stopping.signal.aborted; attempt++) {
      try {
        await this.#onReport(entry);
        return;
      } catch (err) {
        this.o.log.error({ err, key: entry.key, attempt }, "could not store a report; retrying");
        const wait = Math.min(REPORT_RETRY_FIRST_MS * 2 ** (attempt - 1), REPORT_RETRY_MAX_MS);
        await delay(wait, undefined, { signal: this.#stopping.signal }).catch(() => {});
      }
    }
  }

  /** Verifies and stores one report; throws only when the store (Redis) fails. */
  async #onReport(entry: KvEntry): Promise<void> {
    if (entry.operation !== "PUT") return;
    let keyCluster: string;
    let keyApp: string;
    try {
      ({ cluster: keyCluster, app: keyApp } = parseStateKey(entry.key));
    } catch {
      this.#reject("bad_key", { key: entry.key });
      return;
    }
    try {
      const cluster = await this.o.objects.getObject("Cluster", keyCluster);
      if (!cluster) {
        this.#reject("unknown_cluster", { cluster: keyCluster, app: keyApp });
        return;
      }
      let report: Report;
      try {
        report = open(REPORT, entry.value, this.#keys.ring(cluster)).message;
      } catch (err) {
        this.#reject(reasonOf(err), { cluster: keyCluster, app: keyApp, err });
        return;
      }
      if (report.cluster !== keyCluster || report.app !== keyApp) {
        this.#reject("cluster_mismatch", {
          cluster: keyCluster,
          app: keyApp,
          claimed: `${report.cluster}.${report.app}`,
        });
        return;
      }
      const digest = createHash("sha256").update(entry.value).digest("hex");
      const previous = await this.o.reports.getReport(keyCluster, keyApp);
      if (previous?.digest === digest) return;
      const record = reportRecord(report, digest);
      await this.o.reports.putReport(record);
      this.o.metrics.reportsIngested.inc();
      this.o.log.debug(
        {
          cluster: record.cluster,
          app: record.app,
          generation: record.observedGeneration,
          phase: record.phase,
          health: record.health,
        },
        "report ingested",
      );
      await this.o.events.emit({
        type: "report",
        cluster: record.cluster,
        app: record.app,
        revision: record.revision,
        observedGeneration: record.observedGeneration,
        phase: record.phase,
        health: record.health,
        atMs: record.receivedAtMs,
      });
    } catch (err) {
      throw new HubError(`could not store the report of ${keyCluster}.${keyApp}`, { cause: err });
    }
  }

  #reject(reason: string, fields: Record<string, unknown>): void {
    this.o.metrics.reportsRejected.inc({ reason });
    this.o.log.warn({ ...fields, reason }, "report rejected");
  }

  async #onHeartbeat(subject: string, data: Uint8Array): Promise<void> {
    const name = subject.slice(HEARTBEAT_PREFIX.length + 1);
    try {
      const cluster = await this.o.objects.getObject("Cluster", name);
      if (!cluster) {
        this.o.metrics.heartbeats.inc({ result: "unknown_cluster" });
        return;
      }
      let beat: Heartbeat;
      try {
        beat = open(HEARTBEAT, data, this.#keys.ring(cluster)).message;
      } catch (err) {
        this.o.metrics.heartbeats.inc({ result: reasonOf(err) });
        this.o.log.warn({ cluster: name, err }, "heartbeat rejected");
        return;
      }
      if (beat.cluster !== name) {
        this.o.metrics.heartbeats.inc({ result: "cluster_mismatch" });
        this.o.log.warn({ cluster: name, claimed: beat.cluster }, "heartbeat rejected");
        return;
      }
      this.o.metrics.heartbeats.inc({ result: "accepted" });
      const now = Date.now();
      const current = await this.o.statuses.getClusterStatus(name);
      const next = nextClusterStatus(
        current,
        {
          kind: "heartbeat",
          atMs: now,
          agentVersion: beat.agentVersion,
          kubernetesVersion: beat.kubernetesVersion,
          capabilities: [...beat.capabilities],
        },
        this.o.liveness,
      );
      await this.o.statuses.putClusterStatus(name, next);
      await this.o.events.emit({ type: "heartbeat", cluster: name, agentVersion: beat.agentVersion, atMs: now });
      if (current?.state !== next.state) await this.#announce(name, current?.state ?? "Pending", next.state);
    } catch (err) {
      this.o.log.error({ err, cluster: name }, "could not record a heartbeat");
    }
  }

  /** Turns Ready clusters that stopped beating Offline. */
  async sweep(): Promise<void> {
    try {
      const clusters = await this.o.objects.listObjects("Cluster");
      const now = Date.now();
      const statuses = await this.o.statuses.getClusterStatuses(clusters.map((c) => c.name));
      for (const c of clusters) {
        const current = statuses.get(c.name);
        if (!current) continue;
        const next = nextClusterStatus(current, { kind: "sweep", nowMs: now }, this.o.liveness);
        if (next.state === current.state) continue;
        await this.o.statuses.putClusterStatus(c.name, next);
        await this.#announce(c.name, current.state, next.state);
      }
    } catch (err) {
      this.o.log.warn({ err }, "liveness sweep failed; retrying");
    }
  }

  async #announce(cluster: string, previous: string, state: string): Promise<void> {
    this.o.log.info({ cluster, previous, state }, "cluster state changed");
    await this.o.events.emit({ type: "cluster-state", cluster, state, previous, atMs: Date.now() });
  }
}
