import {
  generateSigningKey,
  HEARTBEAT,
  Health,
  publicKeyToPem,
  REPORT,
  type SigningKey,
  SyncPhase,
  seal,
  stateKey,
} from "@flotilla/proto";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { HubMetrics } from "../metrics.js";
import {
  type AssignmentReader,
  type ClusterRecord,
  type ClusterStatus,
  type ClusterStatusStore,
  type ObjectReader,
  type RecordOf,
  type ReportRecord,
  type ReportStore,
  type SerializedReport,
  type StoredKind,
  serializeReport,
} from "../store.js";
import type { EventBus, HubEvent } from "./events.js";
import { HeartbeatIngest, type ReceivedHeartbeat } from "./heartbeats.js";
import { ReportIngest, type StatusEntry } from "./reports.js";
import { InlineVerifier } from "./verifier.js";

const log = pino({ level: "silent" });
const liveness = { heartbeatIntervalMs: 1_000, offlineAfterMissed: 3 };
const agentKeys: Record<string, SigningKey> = { a: generateSigningKey(), b: generateSigningKey() };

/** Registry objects, statuses and reports in memory, counting round trips. */
class MemoryStores implements ObjectReader, ClusterStatusStore, ReportStore {
  readonly clusters = new Map<string, ClusterRecord>(
    Object.entries(agentKeys).map(([name, key]) => [
      name,
      { name, labels: {}, agentPublicKey: publicKeyToPem(key.publicKey), createdAtMs: 0 },
    ]),
  );
  readonly statuses = new Map<string, ClusterStatus>();
  readonly reports = new Map<string, ReportRecord>();
  calls = 0;
  failWrites = 0;

  async getObject<K extends StoredKind>(kind: K, name: string): Promise<RecordOf[K] | undefined> {
    return (await this.getObjects(kind, [name])).get(name);
  }
  async listObjects<K extends StoredKind>(kind: K): Promise<RecordOf[K][]> {
    return [...(await this.getObjects(kind, [...this.clusters.keys()])).values()];
  }
  async getObjects<K extends StoredKind>(kind: K, names: readonly string[]): Promise<Map<string, RecordOf[K]>> {
    this.calls++;
    const found = new Map<string, RecordOf[K]>();
    if (kind !== "Cluster") return found;
    for (const name of names) {
      const c = this.clusters.get(name);
      // Narrowed by the kind check above: RecordOf["Cluster"] is ClusterRecord.
      if (c) found.set(name, c as RecordOf[K]);
    }
    return found;
  }
  async getClusterStatus(cluster: string): Promise<ClusterStatus | undefined> {
    return this.statuses.get(cluster);
  }
  async getClusterStatuses(names: readonly string[]): Promise<Map<string, ClusterStatus>> {
    this.calls++;
    return new Map(names.flatMap((n) => (this.statuses.has(n) ? [[n, this.statuses.get(n)!] as const] : [])));
  }
  async putClusterStatus(cluster: string, status: ClusterStatus): Promise<void> {
    this.statuses.set(cluster, status);
  }
  async putClusterStatuses(statuses: ReadonlyMap<string, ClusterStatus>): Promise<void> {
    this.calls++;
    for (const [c, s] of statuses) this.statuses.set(c, s);
  }
  async getReport(cluster: string, app: string): Promise<ReportRecord | undefined> {
    return this.reports.get(`${cluster}.${app}`);
  }
  async putReport(record: ReportRecord): Promise<void> {
    await this.putReports([serializeReport(record)]);
  }
  async getReports(pairs: readonly { cluster: string; app: string }[]): Promise<(ReportRecord | undefined)[]> {
    this.calls++;
    return pairs.map((p) => this.reports.get(`${p.cluster}.${p.app}`));
  }
  async putReports(reports: readonly SerializedReport[]): Promise<void> {
    this.calls++;
    if (this.failWrites > 0) {
      this.failWrites--;
      throw new Error("Redis is down");
    }
    for (const r of reports) this.reports.set(`${r.cluster}.${r.app}`, JSON.parse(r.json) as ReportRecord);
  }
  async listReports(): Promise<ReportRecord[]> {
    return [...this.reports.values()];
  }
}

/** Records every emitted event, and how many messages carried them. */
class RecordingBus implements EventBus {
  readonly seen: HubEvent[] = [];
  messages = 0;
  async emit(e: HubEvent): Promise<void> {
    await this.emitAll([e]);
  }
  async emitAll(events: readonly HubEvent[]): Promise<void> {
    if (events.length > 0) this.messages++;
    this.seen.push(...events);
  }
  subscribe = () => () => {};
  async nudge(): Promise<void> {}
  onNudge = () => () => {};
  async close(): Promise<void> {}
}

function setup(assignments?: AssignmentReader) {
  const stores = new MemoryStores();
  const events = new RecordingBus();
  const metrics = new HubMetrics();
  const verifier = new InlineVerifier();
  const stopping = new AbortController();
  const heartbeats = new HeartbeatIngest({
    objects: stores,
    statuses: stores,
    events,
    metrics,
    log,
    liveness,
    verifier,
  });
  const reports = new ReportIngest({
    objects: stores,
    reports: stores,
    events,
    metrics,
    log,
    verifier,
    stopping: stopping.signal,
    ...(assignments ? { assignments } : {}),
  });
  return { stores, events, metrics, heartbeats, reports, stopping };
}

async function counter(metrics: HubMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as { value: number; labels: Record<string, string> }[];
  return values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((sum, v) => sum + v.value, 0);
}

const beat = (cluster: string, atMs: number, key = agentKeys[cluster]!, claimed = cluster): ReceivedHeartbeat => ({
  cluster,
  atMs,
  data: seal(HEARTBEAT, { cluster: claimed, agentVersion: `v${atMs}` }, key),
});

function entry(cluster: string, generation: number, key = agentKeys[cluster]!, at = 1): StatusEntry {
  return {
    key: stateKey(cluster, "web"),
    operation: "PUT",
    value: seal(
      REPORT,
      {
        cluster,
        app: "web",
        observedGeneration: generation,
        revision: "a".repeat(40),
        phase: SyncPhase.SYNC_PHASE_SYNCED,
        health: Health.HEALTH_HEALTHY,
        reportedAtMs: at,
      },
      key,
    ),
  };
}

describe("HeartbeatIngest", () => {
  it("records a batch in a fixed number of round trips, one event message, dropping what does not verify", async () => {
    const { stores, events, metrics, heartbeats } = setup();
    await heartbeats.store([
      beat("a", 100),
      beat("b", 110),
      beat("a", 120),
      beat("ghost", 130, agentKeys.a!),
      beat("b", 140, agentKeys.a!),
      beat("a", 150, agentKeys.a!, "b"),
    ]);
    expect(stores.calls).toBe(3);
    expect(stores.statuses.get("a")).toMatchObject({ state: "Ready", lastHeartbeatMs: 120, agentVersion: "v120" });
    expect(stores.statuses.get("b")).toMatchObject({ state: "Ready", lastHeartbeatMs: 110 });
    expect(events.messages).toBe(1);
    expect(events.seen.filter((e) => e.type === "cluster-state").map((e) => e.cluster)).toEqual(["b", "a"]);
    expect(await counter(metrics, "flotilla_hub_heartbeats_total", { result: "accepted" })).toBe(3);
    expect(await counter(metrics, "flotilla_hub_heartbeats_total", { result: "unknown_cluster" })).toBe(1);
    expect(await counter(metrics, "flotilla_hub_heartbeats_total", { result: "signature_invalid" })).toBe(1);
    expect(await counter(metrics, "flotilla_hub_heartbeats_total", { result: "cluster_mismatch" })).toBe(1);
  });

  it("sweeps as of the time it is given: a cluster whose beat is still queued stays Ready", async () => {
    const { stores, events, heartbeats } = setup();
    await heartbeats.store([beat("a", 1_000), beat("b", 1_000)]);
    // 3.5 s later a backlog holds beats from 3.2 s on: judged at 3.2 s, nobody was silent for 3 s.
    await heartbeats.sweep(4_000 - 800);
    expect([stores.statuses.get("a")?.state, stores.statuses.get("b")?.state]).toEqual(["Ready", "Ready"]);
    await heartbeats.store([beat("a", 4_200)]);
    await heartbeats.sweep(4_500);
    expect(stores.statuses.get("a")?.state).toBe("Ready");
    expect(stores.statuses.get("b")).toMatchObject({ state: "Offline", changedAtMs: 4_500 });
    expect(events.seen.filter((e) => e.type === "cluster-state" && e.state === "Offline")).toHaveLength(1);
  });
});

describe("HeartbeatIngest: a cluster's own freeze", () => {
  const frozen = (cluster: string, atMs: number, reason: string): ReceivedHeartbeat => ({
    cluster,
    atMs,
    data: seal(
      HEARTBEAT,
      { cluster, agentVersion: "v1", freezeReason: reason, freezeSource: "configmap flotilla-system/m" },
      agentKeys[cluster]!,
    ),
  });

  it("keeps the freeze a signed heartbeat asks for, announces each change once, and lifts it with a beat without one", async () => {
    const { stores, events, heartbeats } = setup();
    await heartbeats.store([beat("a", 100)]);
    await heartbeats.store([frozen("a", 200, "etcd defrag")]);
    await heartbeats.store([frozen("a", 300, "etcd defrag")]);
    expect(stores.statuses.get("a")?.freeze).toEqual({
      reason: "etcd defrag",
      source: "configmap flotilla-system/m",
      sinceMs: 200,
    });
    await heartbeats.store([beat("a", 400)]);
    expect(stores.statuses.get("a")?.freeze).toBeUndefined();
    expect(events.seen.filter((e) => e.type === "cluster-freeze")).toEqual([
      {
        type: "cluster-freeze",
        cluster: "a",
        reason: "etcd defrag",
        source: "configmap flotilla-system/m",
        atMs: 200,
      },
      { type: "cluster-freeze", cluster: "a", atMs: 400 },
    ]);
  });

  it("cuts a long reason to 500 characters", async () => {
    const { stores, heartbeats } = setup();
    await heartbeats.store([frozen("b", 100, "x".repeat(5_000))]);
    expect(stores.statuses.get("b")?.freeze?.reason).toHaveLength(500);
  });
});

describe("ReportIngest", () => {
  it("stores the last value per key of a batch, once, and announces it in one message", async () => {
    const { stores, events, metrics, reports } = setup();
    await reports.store([
      entry("a", 1),
      entry("b", 1),
      entry("a", 2),
      { key: "not a key", operation: "PUT", value: new Uint8Array([1]) },
      entry("ghost", 1, agentKeys.a!),
      { ...entry("b", 3, agentKeys.a!), key: stateKey("b", "web") },
    ]);
    expect(stores.reports.get("a.web")?.observedGeneration).toBe(2);
    // b's forged value came last, so b's batch value is refused and nothing of b is stored.
    expect(stores.reports.has("b.web")).toBe(false);
    expect(events.messages).toBe(1);
    expect(events.seen.map((e) => e.type === "report" && `${e.cluster}@${e.observedGeneration}`)).toEqual(["a@2"]);
    expect(await counter(metrics, "flotilla_hub_reports_ingested_total")).toBe(1);
    expect(await counter(metrics, "flotilla_hub_reports_rejected_total")).toBe(3);

    const same = entry("a", 2);
    await reports.store([same]);
    await reports.store([same]);
    expect(events.seen).toHaveLength(1);
  });

  it("drops and counts reports for apps never assigned to the reporting cluster, asking once per assigned pair", async () => {
    const assigned = new Set(["a.web"]);
    const asked: string[] = [];
    const { stores, metrics, reports } = setup({
      published: async (pairs) => {
        asked.push(...pairs.map((p) => `${p.cluster}.${p.app}`));
        return pairs.map((p) => assigned.has(`${p.cluster}.${p.app}`));
      },
    });
    await reports.store([entry("a", 1), entry("b", 1)]);
    expect([...stores.reports.keys()]).toEqual(["a.web"]);
    expect(await counter(metrics, "flotilla_hub_reports_rejected_total", { reason: "unassigned_app" })).toBe(1);
    await reports.store([entry("a", 2), entry("b", 2)]);
    expect(stores.reports.get("a.web")?.observedGeneration).toBe(2);
    expect(stores.reports.has("b.web")).toBe(false);
    expect(await counter(metrics, "flotilla_hub_reports_rejected_total", { reason: "unassigned_app" })).toBe(2);
    // An assigned pair is asked about once; an unassigned one every time, so a later assignment is seen.
    expect(asked).toEqual(["a.web", "b.web", "b.web"]);
    assigned.add("b.web");
    await reports.store([entry("b", 3)]);
    expect(stores.reports.get("b.web")?.observedGeneration).toBe(3);
  });

  it("keeps retrying a batch while Redis fails, and stops when ingestion stops", async () => {
    const { stores, reports, stopping } = setup();
    stores.failWrites = 2;
    await reports.store([entry("a", 1)]);
    expect(stores.reports.get("a.web")?.observedGeneration).toBe(1);

    stores.failWrites = 1_000;
    const stored = reports.store([entry("b", 1)]);
    await new Promise((r) => setTimeout(r, 50));
    stopping.abort();
    await stored;
    expect(stores.reports.has("b.web")).toBe(false);
  });
});
