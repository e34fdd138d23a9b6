import { setTimeout as delay } from "node:timers/promises";
import { parseStateKey, stateKey } from "@flotilla/proto";
import type { KV, KvEntry } from "nats";
import type { Logger } from "pino";
import { HubError } from "../errors.js";
import type { HubMetrics } from "../metrics.js";
import type { AssignmentReader, ObjectReader, ReportStore, SerializedReport } from "../store.js";
import type { EventBus, HubEvent } from "./events.js";
import type { SignedReport } from "./verification.js";
import type { Verifier } from "./verifier.js";

/** First wait before storing a batch of reports again after Redis failed; it doubles up to {@link REPORT_RETRY_MAX_MS}. */
export const REPORT_RETRY_FIRST_MS = 100;
/** Longest wait between attempts to store one batch. */
export const REPORT_RETRY_MAX_MS = 2_000;

/** What ingestion reads of a status-bucket entry. */
export type StatusEntry = Pick<KvEntry, "key" | "value" | "operation">;

function reportEvent(r: SerializedReport): HubEvent {
  return {
    type: "report",
    cluster: r.cluster,
    app: r.app,
    revision: r.revision,
    observedGeneration: r.observedGeneration,
    phase: r.phase,
    health: r.health,
    atMs: r.receivedAtMs,
  };
}

/**
 * The hub's assignments: a desired record in Redis, or else a value in the desired bucket. The
 * publisher writes the bucket first and the record after, so an agent's first report can arrive
 * between the two; the bucket (read on the hub's own connection) settles that case.
 */
export function publishedAssignments(records: AssignmentReader, desiredKv: Pick<KV, "get">): AssignmentReader {
  return {
    published: async (pairs) => {
      const known = await records.published(pairs);
      return Promise.all(
        pairs.map(async (p, i) => {
          if (known[i]) return true;
          const entry = await desiredKv.get(stateKey(p.cluster, p.app));
          return entry !== null && entry.operation === "PUT";
        }),
      );
    },
  };
}

export interface ReportIngestOptions {
  objects: ObjectReader;
  reports: ReportStore;
  events: EventBus;
  metrics: HubMetrics;
  log: Logger;
  verifier: Verifier;
  /**
   * When set, reports for apps never assigned to the reporting cluster are dropped and counted
   * (`flotilla_hub_reports_rejected_total{reason="unassigned_app"}`): a cluster's credentials
   * let it write any key under its own name, and such keys must not reach the rollouts or the
   * report store.
   */
  assignments?: AssignmentReader;
  /** Aborted when ingestion stops: a batch stops retrying. */
  stopping: AbortSignal;
}

/**
 * Folds values of the `flotilla_status` bucket into the report store a batch at a time: the
 * last value per key in the batch (a key's value is its latest report, so an earlier one in
 * the same batch is already stale), verified with the reporting cluster's own agent key, stored
 * in one transaction and announced in one event message. A value whose digest matches the
 * stored report (a re-delivery) is skipped.
 */
export class ReportIngest {
  /**
   * Digest of the report last stored per `cluster.app` by this ingester, so a batch reads back
   * only the stored reports it has not seen (after an election, the first of each key) to tell
   * a re-delivery from a new report. Ten thousand clusters cost about a megabyte.
   */
  readonly #digests = new Map<string, string>();
  /** `cluster.app` pairs known to be assigned: checked once per ingester, never forgotten. */
  readonly #assigned = new Set<string>();

  constructor(private readonly o: ReportIngestOptions) {}

  /**
   * Stores one batch, retrying while Redis fails: the watch delivers each value once, and an
   * agent reports again only when something changes, so a dropped "healthy" report would hold
   * a rollout until its deadline fails a good revision. Stops retrying when ingestion stops
   * (the next leader's watch starts from every key's last value).
   */
  async store(batch: readonly StatusEntry[]): Promise<void> {
    for (let attempt = 1; !this.o.stopping.aborted; attempt++) {
      try {
        await this.#store(batch);
        return;
      } catch (err) {
        this.o.log.error({ err, reports: batch.length, attempt }, "could not store reports; retrying");
        const wait = Math.min(REPORT_RETRY_FIRST_MS * 2 ** (attempt - 1), REPORT_RETRY_MAX_MS);
        await delay(wait, undefined, { signal: this.o.stopping }).catch(() => {});
      }
    }
  }

  async #store(batch: readonly StatusEntry[]): Promise<void> {
    const latest = new Map<string, StatusEntry>();
    for (const entry of batch) {
      if (entry.operation !== "PUT") continue;
      latest.delete(entry.key);
      latest.set(entry.key, entry);
    }
    let keyed: { cluster: string; app: string; entry: StatusEntry }[] = [];
    for (const entry of latest.values()) {
      try {
        keyed.push({ ...parseStateKey(entry.key), entry });
      } catch {
        this.#reject("bad_key", { key: entry.key });
      }
    }
    if (keyed.length === 0) return;
    try {
      keyed = await this.#onlyAssigned(keyed);
      if (keyed.length === 0) return;
      const clusters = await this.o.objects.getObjects("Cluster", [...new Set(keyed.map((k) => k.cluster))]);
      const signed: SignedReport[] = [];
      for (const { cluster: name, app, entry } of keyed) {
        const cluster = clusters.get(name);
        if (cluster) signed.push({ cluster: name, app, pem: cluster.agentPublicKey, bytes: entry.value });
        else this.#reject("unknown_cluster", { cluster: name, app });
      }
      const verdicts = await this.o.verifier.reports(signed, Date.now());
      const verified: { record: SerializedReport; pair: { cluster: string; app: string } }[] = [];
      signed.forEach(({ cluster, app }, i) => {
        const verdict = verdicts[i];
        if (verdict?.ok) verified.push({ record: verdict.value, pair: { cluster, app } });
        else this.#reject(verdict?.reason ?? "error", { cluster, app, detail: verdict?.detail });
      });
      const pairKey = (p: { cluster: string; app: string }) => `${p.cluster}.${p.app}`;
      const unknown = verified.filter((v) => !this.#digests.has(pairKey(v.pair))).map((v) => v.pair);
      const stored = await this.o.reports.getReports(unknown);
      unknown.forEach((pair, i) => {
        const digest = stored[i]?.digest;
        if (digest !== undefined) this.#digests.set(pairKey(pair), digest);
      });
      const fresh = verified.filter((v) => this.#digests.get(pairKey(v.pair)) !== v.record.digest).map((v) => v.record);
      if (fresh.length === 0) return;
      await this.o.reports.putReports(fresh);
      for (const r of fresh) this.#digests.set(pairKey(r), r.digest);
      this.o.metrics.reportsIngested.inc(fresh.length);
      if (this.o.log.isLevelEnabled("debug")) {
        for (const r of fresh) {
          this.o.log.debug(
            { cluster: r.cluster, app: r.app, generation: r.observedGeneration, phase: r.phase, health: r.health },
            "report ingested",
          );
        }
      }
      await this.o.events.emitAll(fresh.map(reportEvent));
    } catch (err) {
      throw new HubError(`could not store ${keyed.length} report(s)`, { cause: err });
    }
  }

  /** The pairs among `keyed` assigned to their cluster; the others are rejected as `unassigned_app`. */
  async #onlyAssigned<T extends { cluster: string; app: string }>(keyed: T[]): Promise<T[]> {
    const assignments = this.o.assignments;
    if (!assignments) return keyed;
    const unknown = keyed.filter((k) => !this.#assigned.has(`${k.cluster}.${k.app}`));
    if (unknown.length === 0) return keyed;
    const answers = await assignments.published(unknown.map(({ cluster, app }) => ({ cluster, app })));
    const refused = new Set<string>();
    unknown.forEach((k, i) => {
      const pair = `${k.cluster}.${k.app}`;
      if (answers[i]) this.#assigned.add(pair);
      else refused.add(pair);
    });
    return keyed.filter((k) => {
      if (!refused.has(`${k.cluster}.${k.app}`)) return true;
      this.#reject("unassigned_app", { cluster: k.cluster, app: k.app });
      return false;
    });
  }

  #reject(reason: string, fields: Record<string, unknown>): void {
    this.o.metrics.reportsRejected.inc({ reason });
    this.o.log.warn({ ...fields, reason }, "report rejected");
  }
}
