import type { Freeze, PrometheusCredentials } from "@flotilla/api";
import pino from "pino";
import { describe, expect, it, vi } from "vitest";
import {
  type AppSettings,
  type AppWithOverrides,
  desiredFingerprint,
  resolveDesired,
  settingsOf,
} from "../desired/index.js";
import { NotFoundError, NotLeaderError } from "../errors.js";
import { HubMetrics } from "../metrics.js";
import type { DesiredStatePublisher, PublishOutcome, PublishRequest, PublishResult } from "../nats/publisher.js";
import { type MetricQuerier, MetricQueryError } from "../prometheus/client.js";
import { isSettled, type RolloutState, type RolloutTarget, readRollout } from "../rollout/index.js";
import type { EventBus, HubEvent } from "../status/events.js";
import type {
  AppRecord,
  ClusterRecord,
  ClusterStatus,
  ClusterStatusStore,
  DesiredBatchStore,
  DesiredRecord,
  EnvironmentRecord,
  FreezeStore,
  Lease,
  ObjectReader,
  RecordOf,
  RepoRecord,
  ReportRecord,
  ReportStore,
  RolloutFilter,
  RolloutStore,
  SerializedReport,
  SettingsStore,
  StoredKind,
  StoredRollout,
} from "../store.js";
import { RolloutConductor } from "./conductor.js";

const REPO: RepoRecord = {
  name: "web",
  team: "shop",
  url: "https://git.example/web.git",
  branches: { prod: "main" },
  hasCredentials: false,
  hasWebhookSecret: false,
};

/** In-memory RolloutStore with the same compare-and-set semantics as the Redis one. */
class MemoryRollouts implements RolloutStore {
  readonly texts = new Map<string, string>();
  readonly order: string[] = [];
  /** Compare-and-sets that saved, to show how often a step rewrites the rollout. */
  saves = 0;

  async create(rollout: RolloutState): Promise<boolean> {
    if (this.texts.has(rollout.id)) return false;
    this.texts.set(rollout.id, JSON.stringify(rollout));
    this.order.push(rollout.id);
    return true;
  }
  async get(id: string): Promise<StoredRollout | undefined> {
    const raw = this.texts.get(id);
    return raw === undefined ? undefined : { raw, rollout: readRollout(JSON.parse(raw)) };
  }
  async compareAndSet(expected: StoredRollout, next: RolloutState, fence?: Lease): Promise<boolean> {
    if (fence && fence.token !== LEASE.token) throw new NotLeaderError("deposed");
    const text = JSON.stringify(next);
    if (text === expected.raw) return true;
    if (this.texts.get(next.id) !== expected.raw) return false;
    this.texts.set(next.id, text);
    this.saves++;
    return true;
  }
  async list(filter: RolloutFilter): Promise<RolloutState[]> {
    return [...this.order]
      .reverse()
      .map((id) => readRollout(JSON.parse(this.texts.get(id) ?? "{}")))
      .filter(
        (r) =>
          (!filter.app || r.app === filter.app) &&
          (!filter.environment || r.environment === filter.environment) &&
          (!filter.state || r.state === filter.state),
      );
  }
  async unsettled(): Promise<string[]> {
    return this.order.filter((id) => !isSettled(JSON.parse(this.texts.get(id) ?? "{}")));
  }
  async active(app: string, environment: string): Promise<RolloutState[]> {
    return (await this.list({ app, environment })).filter((r) => !isSettled(r));
  }
  async latest(app: string, environment: string): Promise<StoredRollout | undefined> {
    const [r] = await this.list({ app, environment });
    return r ? this.get(r.id) : undefined;
  }
  async lastSucceeded(app: string, environment: string): Promise<RolloutState | undefined> {
    return (await this.list({ app, environment, state: "Succeeded" }))[0];
  }
}

/** The stores the conductor reads, in memory: registry objects, statuses, reports, desired records. */
class MemoryStore implements ObjectReader, ClusterStatusStore, ReportStore, DesiredBatchStore, SettingsStore {
  readonly clusters: ClusterRecord[] = [];
  readonly snapshots = new Map<string, AppSettings>();
  readonly apps: AppRecord[] = [];
  readonly environments: EnvironmentRecord[] = [];
  readonly statuses = new Map<string, ClusterStatus>();
  readonly reports = new Map<string, ReportRecord>();
  readonly desired = new Map<string, DesiredRecord>();

  #objects<K extends StoredKind>(kind: K): RecordOf[K][] {
    const byKind: { [P in StoredKind]: RecordOf[P][] } = {
      Cluster: this.clusters,
      Team: [],
      Repo: [REPO],
      App: this.apps,
      Environment: this.environments,
    };
    return byKind[kind];
  }
  async getObject<K extends StoredKind>(kind: K, name: string): Promise<RecordOf[K] | undefined> {
    return this.#objects(kind).find((x) => x.name === name);
  }
  async listObjects<K extends StoredKind>(kind: K): Promise<RecordOf[K][]> {
    return this.#objects(kind);
  }
  async getObjects<K extends StoredKind>(kind: K, names: readonly string[]): Promise<Map<string, RecordOf[K]>> {
    return new Map(this.#objects(kind).flatMap((x) => (names.includes(x.name) ? [[x.name, x] as const] : [])));
  }
  async getClusterStatus(cluster: string): Promise<ClusterStatus | undefined> {
    return this.statuses.get(cluster);
  }
  async getClusterStatuses(names: readonly string[]): Promise<Map<string, ClusterStatus>> {
    const found = new Map<string, ClusterStatus>();
    for (const name of names) {
      const status = this.statuses.get(name);
      if (status) found.set(name, status);
    }
    return found;
  }
  async putClusterStatus(cluster: string, status: ClusterStatus): Promise<void> {
    this.statuses.set(cluster, status);
  }
  async putClusterStatuses(statuses: ReadonlyMap<string, ClusterStatus>): Promise<void> {
    for (const [cluster, status] of statuses) this.statuses.set(cluster, status);
  }
  async getReport(cluster: string, app: string): Promise<ReportRecord | undefined> {
    return this.reports.get(`${cluster}.${app}`);
  }
  async putReport(record: ReportRecord): Promise<void> {
    this.reports.set(`${record.cluster}.${record.app}`, record);
  }
  async getReports(pairs: readonly { cluster: string; app: string }[]): Promise<(ReportRecord | undefined)[]> {
    return pairs.map((p) => this.reports.get(`${p.cluster}.${p.app}`));
  }
  async putReports(reports: readonly SerializedReport[]): Promise<void> {
    for (const r of reports) await this.putReport(JSON.parse(r.json) as ReportRecord);
  }
  async listReports(by: { cluster?: string; app?: string }): Promise<ReportRecord[]> {
    return [...this.reports.values()].filter(
      (r) => (by.cluster ?? r.cluster) === r.cluster && (by.app ?? r.app) === r.app,
    );
  }
  async getDesired(cluster: string, app: string): Promise<DesiredRecord | undefined> {
    return this.desired.get(`${cluster}.${app}`);
  }
  async putDesired(record: DesiredRecord): Promise<void> {
    this.desired.set(`${record.cluster}.${record.app}`, record);
  }
  async getDesiredMany(pairs: readonly { cluster: string; app: string }[]): Promise<(DesiredRecord | undefined)[]> {
    return pairs.map((p) => this.desired.get(`${p.cluster}.${p.app}`));
  }
  async putDesiredMany(records: readonly DesiredRecord[]): Promise<void> {
    for (const r of records) await this.putDesired(r);
  }
  async listDesired(by: { cluster?: string; app?: string }): Promise<DesiredRecord[]> {
    return [...this.desired.values()].filter(
      (d) => (by.cluster ?? d.cluster) === d.cluster && (by.app ?? d.app) === d.app,
    );
  }
  async putSettings(digest: string, settings: AppSettings): Promise<void> {
    if (!this.snapshots.has(digest)) this.snapshots.set(digest, structuredClone(settings));
  }
  async getSettings(digest: string): Promise<AppSettings | undefined> {
    return this.snapshots.get(digest);
  }
}

/**
 * Publishes into the MemoryStore's desired records from the stored snapshot, resolved for the
 * cluster's labels as the NATS publisher does; the same resolved state again writes nothing.
 */
class MemoryPublisher implements DesiredStatePublisher {
  readonly writes: {
    cluster: string;
    revision: string;
    settings: string;
    set: Record<string, string>;
    rolloutId: string;
    generation: number;
  }[] = [];
  constructor(private readonly store: MemoryStore) {}

  async publish(cluster: string, app: string, target: RolloutTarget, rolloutId: string): Promise<PublishResult> {
    const c = this.store.clusters.find((x) => x.name === cluster);
    if (!c) throw new NotFoundError("cluster", cluster);
    const settings = this.store.snapshots.get(target.settings);
    if (!settings) throw new Error(`snapshot ${target.settings} not stored`);
    const inputs = resolveDesired(settings, {
      app,
      cluster,
      labels: c.labels,
      environment: "prod",
      revision: target.revision,
    });
    const fingerprint = desiredFingerprint(inputs);
    const current = this.store.desired.get(`${cluster}.${app}`);
    if (current && current.fingerprint === fingerprint) {
      this.store.desired.set(`${cluster}.${app}`, { ...current, settings: target.settings });
      return { generation: current.generation, published: false, rolloutId: current.rolloutId };
    }
    const generation = (current?.generation ?? 0) + 1;
    this.store.desired.set(`${cluster}.${app}`, {
      cluster,
      app,
      generation,
      environment: "prod",
      repo: "web",
      branch: "main",
      revision: target.revision,
      path: ".",
      rolloutId,
      settings: target.settings,
      fingerprint,
      publishedAtMs: Date.now(),
    });
    this.writes.push({
      cluster,
      revision: target.revision,
      settings: target.settings,
      set: { ...(inputs.source?.helm?.set ?? {}) },
      rolloutId,
      generation,
    });
    return { generation, published: true, rolloutId };
  }
  async publishAll(requests: readonly PublishRequest[]): Promise<PublishOutcome[]> {
    const outcomes: PublishOutcome[] = [];
    for (const q of requests) {
      try {
        outcomes.push({ ok: true, result: await this.publish(q.cluster, q.app, q.target, q.rolloutId) });
      } catch (error) {
        outcomes.push({ ok: false, error });
      }
    }
    return outcomes;
  }
  async remove(): Promise<PublishResult> {
    return { generation: 0, published: false, rolloutId: "" };
  }
}

const LEASE: Lease = { holder: "test", token: 7 };

const events: EventBus & { seen: HubEvent[] } = {
  seen: [],
  async emit(e) {
    this.seen.push(e);
  },
  async emitAll(all) {
    this.seen.push(...all);
  },
  subscribe: () => () => {},
  async nudge() {},
  onNudge: () => () => {},
  async close() {},
};

/** A bus that hands what is announced to its subscribers, as the Redis one does. */
function listeningBus(): EventBus & { announce(e: HubEvent): void } {
  const listeners = new Set<(e: HubEvent, id: string) => void>();
  let next = 0;
  return {
    ...events,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    announce(e) {
      next += 1;
      for (const l of listeners) l(e, `${next}-0:0`);
    },
  };
}

/** Freezes in memory. */
class MemoryFreezes implements FreezeStore {
  readonly items = new Map<string, Freeze>();
  async list(): Promise<Freeze[]> {
    return [...this.items.values()];
  }
  async put(freeze: Freeze): Promise<void> {
    this.items.set(freeze.environment ?? "", freeze);
  }
  async delete(environment: string | undefined): Promise<boolean> {
    return this.items.delete(environment ?? "");
  }
}

/** A metrics backend whose answers the test sets per query; it records what it was asked. */
class FakeMetrics implements MetricQuerier {
  readonly asked: string[] = [];
  readonly credentials: (PrometheusCredentials | undefined)[] = [];
  answer: (query: string) => number | undefined | Error = () => undefined;
  async query(query: string, credentials?: PrometheusCredentials): Promise<number | undefined> {
    this.asked.push(query);
    this.credentials.push(credentials);
    const a = this.answer(query);
    if (a instanceof Error) throw new MetricQueryError(query, a.message);
    return a;
  }
}

function setup(
  leading = true,
  options: { events?: EventBus; observationRefreshMs?: number; clock?: () => Promise<number> } = {},
) {
  const lease = leading ? LEASE : undefined;
  const freezes = new MemoryFreezes();
  const metrics = new FakeMetrics();
  const store = new MemoryStore();
  const rollouts = new MemoryRollouts();
  const publisher = new MemoryPublisher(store);
  store.apps.push({
    name: "web",
    repo: "web",
    path: ".",
    source: "manifests",
    namespace: "web",
    prune: false,
    selfHeal: false,
    adopt: false,
  });
  store.environments.push({
    name: "prod",
    policy: {
      waves: [{ name: "canary", selector: { tier: "canary" }, maxConcurrency: 1, bakeSeconds: 0 }],
      remaining: { bakeSeconds: 0, maxConcurrency: 1 },
      progressDeadlineSeconds: 600,
      autoRollback: true,
      offlineClusters: "block",
      windows: [],
    },
  });
  for (const [name, labels] of [
    ["canary", { env: "prod", tier: "canary" }],
    ["eu-1", { env: "prod" }],
  ] as const) {
    store.clusters.push({ name, labels, agentPublicKey: "", createdAtMs: 0 });
    store.statuses.set(name, { state: "Ready", changedAtMs: 0 });
  }
  const conductor = new RolloutConductor({
    objects: store,
    statuses: store,
    reports: store,
    desired: store,
    rollouts,
    settings: store,
    freezes,
    metricsSource: metrics,
    prometheusCredentials: async (environment) =>
      environment === "prod" ? { username: "prod-tenant", password: "not-a-real-secret" } : undefined,
    publisher,
    events: options.events ?? events,
    metrics: new HubMetrics(),
    log: pino({ level: "silent" }),
    lease: () => lease,
    // Every pass reads every report: most tests store reports without announcing them.
    observationRefreshMs: options.observationRefreshMs ?? 0,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const app = store.apps[0] as AppRecord;
  /** What the tracker would ask for: `revision` with the app's settings now (optionally changed). */
  const roll = (revision: string, detectedAtMs: number, change: Partial<AppWithOverrides> = {}) =>
    conductor.rollOut({ ...app, ...change }, "prod", {
      revision,
      settings: settingsOf({ ...app, ...change }, REPO, "prod"),
      detectedAtMs,
    });
  /** Steps until every rollout settled, the agents answering healthy after every pass. */
  const converge = async () => {
    for (let i = 0; i < 10; i++) {
      await conductor.stepAll();
      for (const c of store.clusters) if (store.desired.has(`${c.name}.web`)) healthy(c.name);
      if ((await rollouts.unsettled()).length === 0) return;
    }
    throw new Error("rollouts did not settle");
  };
  /** Plays the agent: reports the desired generation healthy. */
  const healthy = (cluster: string, appName = "web") => {
    const d = store.desired.get(`${cluster}.${appName}`);
    if (!d) throw new Error(`nothing desired on ${cluster}`);
    store.reports.set(`${cluster}.${appName}`, {
      cluster,
      app: appName,
      observedGeneration: d.generation,
      revision: d.revision,
      rolloutId: d.rolloutId,
      phase: "synced",
      health: "healthy",
      resources: [],
      reportedAtMs: 0,
      receivedAtMs: 0,
      agentVersion: "test",
      digest: "",
    });
  };
  return { store, rollouts, publisher, conductor, app, healthy, roll, converge, freezes, metrics };
}

describe("RolloutConductor", () => {
  it("creates one rollout per new head, idempotently, and walks it wave by wave", async () => {
    const { rollouts, publisher, conductor, healthy, roll } = setup();
    await roll("aaaaaaa1", 1);
    await roll("aaaaaaa1", 2);
    expect(rollouts.order).toHaveLength(1);
    const [id] = rollouts.order;

    await conductor.stepAll();
    expect(publisher.writes.map((w) => [w.cluster, w.revision, w.rolloutId])).toEqual([["canary", "aaaaaaa1", id]]);
    await conductor.stepAll();
    expect(publisher.writes).toHaveLength(1);

    healthy("canary");
    await conductor.stepAll();
    expect(publisher.writes.map((w) => w.cluster)).toEqual(["canary", "eu-1"]);
    healthy("eu-1");
    await conductor.stepAll();
    const done = (await rollouts.get(id ?? ""))?.rollout;
    expect(done?.state).toBe("Succeeded");
    expect(await rollouts.unsettled()).toEqual([]);

    // The next head starts from the revision that converged.
    await roll("bbbbbbb2", 3);
    const latest = (await rollouts.latest("web", "prod"))?.rollout;
    expect(latest).toMatchObject({
      from: { revision: "aaaaaaa1" },
      to: { revision: "bbbbbbb2" },
      changed: ["revision"],
    });
    expect(latest?.to.settings).toBe(latest?.from?.settings);
  });

  it("times what it stores on the clock it is given, so a leader's skewed wall clock cannot cut a bake short", async () => {
    // The hub gives Redis's clock; here it is far behind this process's Date.now(), which would
    // have ended a bake the moment it started.
    let now = 1_000_000;
    const { store, rollouts, publisher, conductor, healthy, roll } = setup(true, { clock: async () => now });
    const env = store.environments[0] as EnvironmentRecord;
    const canary = env.policy.waves?.[0];
    if (!canary) throw new Error("no canary wave");
    store.environments[0] = { ...env, policy: { ...env.policy, waves: [{ ...canary, bakeSeconds: 10 }] } };
    await roll("aaaaaaa1", 1);
    await conductor.stepAll();
    healthy("canary");
    await conductor.stepAll();
    const baking = (await rollouts.latest("web", "prod"))?.rollout;
    expect(baking?.waves[0]?.clusters[0]?.dispatchedAtMs).toBe(1_000_000);
    expect(baking?.waves[0]).toMatchObject({ status: "baking", bakeStartedAtMs: 1_000_000 });
    now += 9_000;
    await conductor.stepAll();
    expect(publisher.writes.map((w) => w.cluster)).toEqual(["canary"]);
    now += 1_000;
    await conductor.stepAll();
    expect(publisher.writes.map((w) => w.cluster)).toEqual(["canary", "eu-1"]);
  });

  it("writes a whole wave in one pass, each cluster once, and records it with one compare-and-set", async () => {
    const { store, rollouts, publisher, conductor, healthy, roll } = setup();
    const env = store.environments[0]!;
    env.policy = { ...env.policy, remaining: { bakeSeconds: 0, maxConcurrency: "100%" } };
    const wave = Array.from({ length: 30 }, (_, i) => `w-${String(i).padStart(2, "0")}`);
    for (const name of wave) {
      store.clusters.push({ name, labels: { env: "prod" }, agentPublicKey: "", createdAtMs: 0 });
      store.statuses.set(name, { state: "Ready", changedAtMs: 0 });
    }
    await roll("aaaaaaa1", 1);
    await conductor.stepAll();
    healthy("canary");
    const saves = rollouts.saves;
    await conductor.stepAll();
    const written = publisher.writes.map((w) => w.cluster);
    expect([...written].sort()).toEqual(["canary", "eu-1", ...wave].sort());
    // The step that starts the wave, then one record of all 31 writes.
    expect(rollouts.saves - saves).toBe(2);
    const r = (await rollouts.latest("web", "prod"))?.rollout;
    const generations = r?.waves[1]?.clusters.map((c) => [c.name, c.state, c.generation]);
    expect(generations).toEqual(
      ["eu-1", ...wave].map((name) => [name, "progressing", store.desired.get(`${name}.web`)?.generation]),
    );
  });

  it("between full reads, reads again only the clusters whose reports or states were announced", async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const bus = listeningBus();
    const { conductor, rollouts, healthy, roll } = setup(true, { events: bus, observationRefreshMs: 60_000 });
    const states = async () =>
      (await rollouts.latest("web", "prod"))?.rollout.waves.flatMap((w) => w.clusters.map((c) => c.state));
    try {
      conductor.start();
      await roll("aaaaaaa1", 1);
      await conductor.stepAll();
      expect(await states()).toEqual(["progressing", "pending"]);
      // Stored but not announced: the conductor still goes by what it read.
      healthy("canary");
      await conductor.stepAll();
      expect(await states()).toEqual(["progressing", "pending"]);
      bus.announce({
        type: "report",
        cluster: "canary",
        app: "web",
        revision: "aaaaaaa1",
        observedGeneration: 1,
        phase: "synced",
        health: "healthy",
        atMs: 1_000_000,
      });
      await conductor.stepAll();
      expect(await states()).toEqual(["healthy", "progressing"]);
      // A full read comes anyway after the refresh interval: eu-1's unannounced report counts then.
      healthy("eu-1");
      vi.setSystemTime(1_000_000 + 60_000);
      await conductor.stepAll();
      expect((await rollouts.latest("web", "prod"))?.rollout.state).toBe("Succeeded");
    } finally {
      await conductor.stop();
      vi.useRealTimers();
    }
  });

  it("supersedes the rollout in flight; the newer one starts over from the first wave", async () => {
    const { rollouts, publisher, conductor, roll } = setup();
    await roll("aaaaaaa1", 1);
    await conductor.stepAll();
    await roll("bbbbbbb2", 2);
    const [first, second] = rollouts.order;
    expect((await rollouts.get(first ?? ""))?.rollout).toMatchObject({ state: "Superseded", supersededBy: second });
    await conductor.stepAll();
    expect(publisher.writes.map((w) => [w.cluster, w.revision])).toEqual([
      ["canary", "aaaaaaa1"],
      ["canary", "bbbbbbb2"],
    ]);
    expect(events.seen.some((e) => e.type === "rollout" && e.event === "Superseded")).toBe(true);
  });

  it("records a write the last leader made but did not confirm, without writing again", async () => {
    const { store, rollouts, publisher, conductor, roll } = setup();
    await roll("aaaaaaa1", 1);
    const id = rollouts.order[0] ?? "";
    const settings = (await rollouts.get(id))?.rollout.to.settings ?? "";
    // A leader that died after publishing: the desired record is this rollout's write.
    store.desired.set("canary.web", {
      cluster: "canary",
      app: "web",
      generation: 41,
      environment: "prod",
      repo: "web",
      branch: "main",
      revision: "aaaaaaa1",
      path: ".",
      rolloutId: id,
      settings,
      fingerprint: "x",
      publishedAtMs: 0,
    });
    const stored = await rollouts.get(id);
    const decided = structuredClone(stored?.rollout) as RolloutState;
    const wave = decided.waves[0];
    if (!wave?.clusters[0]) throw new Error("no canary");
    wave.status = "progressing";
    const now = Date.now();
    wave.startedAtMs = now;
    wave.clusters[0].state = "writing";
    wave.clusters[0].dispatchedAtMs = now;
    decided.state = "Progressing";
    decided.startedAtMs = now;
    await rollouts.compareAndSet(stored as StoredRollout, decided);

    await conductor.stepAll();
    expect(publisher.writes).toEqual([]);
    expect((await rollouts.get(id))?.rollout.waves[0]?.clusters[0]).toMatchObject({
      state: "progressing",
      generation: 41,
    });
  });

  it("gives a cluster outside any rollout in flight the last good revision, and nothing before one exists", async () => {
    const { store, publisher, conductor, app, healthy, roll } = setup();
    const late: ClusterRecord = { name: "eu-9", labels: { env: "prod" }, agentPublicKey: "", createdAtMs: 0 };
    expect(await conductor.fill(app, "prod", [late])).toBe(0);
    expect(publisher.writes).toEqual([]);

    await roll("aaaaaaa1", 1);
    await conductor.stepAll();
    healthy("canary");
    await conductor.stepAll();
    healthy("eu-1");
    await conductor.stepAll();
    await roll("bbbbbbb2", 2);
    store.clusters.push(late);
    await conductor.fill(app, "prod", store.clusters);
    // canary and eu-1 belong to the rollout in flight; eu-9 gets the target that converged.
    expect(publisher.writes.filter((w) => w.cluster === "eu-9").map((w) => w.revision)).toEqual(["aaaaaaa1"]);
    expect(publisher.writes.filter((w) => w.revision === "bbbbbbb2")).toEqual([]);
  });

  it("settles a rollback to a cluster deregistered meanwhile, so newer rollouts are not held back", async () => {
    const { store, rollouts, publisher, conductor, healthy, roll } = setup();
    await roll("aaaaaaa1", 1);
    await conductor.stepAll();
    healthy("canary");
    await conductor.stepAll();
    healthy("eu-1");
    await conductor.stepAll();
    await roll("bbbbbbb2", 2);
    await conductor.stepAll();
    const failing = rollouts.order[1] ?? "";
    expect(publisher.writes.at(-1)).toMatchObject({ cluster: "canary", revision: "bbbbbbb2" });

    // The canary degrades on the new revision and is deregistered before its rollback is written.
    healthy("canary");
    const report = store.reports.get("canary.web") as ReportRecord;
    store.reports.set("canary.web", { ...report, health: "degraded" });
    store.clusters.splice(
      store.clusters.findIndex((c) => c.name === "canary"),
      1,
    );
    await conductor.stepAll();
    const failed = (await rollouts.get(failing))?.rollout;
    expect(failed?.state).toBe("RolledBack");
    expect(failed?.waves[0]?.clusters[0]?.rollback?.abandoned?.reason).toMatch(/cluster "canary" does not exist/);
    expect(await rollouts.unsettled()).toEqual([]);
    expect(events.seen.some((e) => e.type === "rollout" && e.event === "RollbackAbandoned")).toBe(true);

    // The next commit is not held back behind it.
    await roll("ccccccc3", 3);
    await conductor.stepAll();
    expect(publisher.writes.at(-1)).toMatchObject({ cluster: "eu-1", revision: "ccccccc3" });
  });

  it("rolls a settings-only change through the waves; no cluster outside the rollout gets the new settings", async () => {
    const { store, rollouts, publisher, conductor, app, healthy, roll, converge } = setup();
    const helm = (replicaCount: string) => ({ source: "helm" as const, helm: { set: { replicaCount } } });
    await roll("aaaaaaa1", 1, helm("1"));
    await converge();
    const before = publisher.writes.length;

    await roll("aaaaaaa1", 2, helm("2"));
    const r = (await rollouts.latest("web", "prod"))?.rollout;
    expect(r).toMatchObject({ changed: ["settings"], from: { revision: "aaaaaaa1" }, to: { revision: "aaaaaaa1" } });
    const created = events.seen.filter((e) => e.type === "rollout" && e.event === "Created").at(-1);
    expect(created).toMatchObject({
      changed: ["settings"],
      diff: [{ path: "helm.set.replicaCount", from: '"1"', to: '"2"' }],
    });

    // A cluster joining the environment now gets the last good settings, not the new ones.
    const late: ClusterRecord = { name: "eu-9", labels: { env: "prod" }, agentPublicKey: "", createdAtMs: 0 };
    store.clusters.push(late);
    store.statuses.set("eu-9", { state: "Ready", changedAtMs: 0 });
    await conductor.fill({ ...app, ...helm("2") }, "prod", store.clusters);
    expect(publisher.writes.slice(before).map((w) => `${w.cluster}:${w.set.replicaCount}`)).toEqual(["eu-9:1"]);

    await conductor.stepAll();
    expect(publisher.writes.slice(before + 1).map((w) => `${w.cluster}:${w.set.replicaCount}`)).toEqual(["canary:2"]);
    healthy("canary");
    await conductor.stepAll();
    expect(publisher.writes.slice(before + 1).map((w) => `${w.cluster}:${w.set.replicaCount}`)).toEqual([
      "canary:2",
      "eu-1:2",
    ]);
  });

  it("a reverted setting rolls back what the rollout in flight reached", async () => {
    const { rollouts, publisher, conductor, roll, converge } = setup();
    const ns = (namespace: string) => ({ namespace });
    await roll("aaaaaaa1", 1, ns("web"));
    await converge();
    await roll("aaaaaaa1", 2, ns("web-new"));
    await conductor.stepAll();
    expect(publisher.writes.at(-1)).toMatchObject({ cluster: "canary" });
    const inFlight = rollouts.order.at(-1) ?? "";

    await roll("aaaaaaa1", 3, ns("web"));
    expect(rollouts.order.at(-1)).toBe(inFlight);
    await conductor.stepAll();
    const reverted = (await rollouts.get(inFlight))?.rollout;
    expect(reverted).toMatchObject({ state: "RolledBack", failure: { kind: "rollback-requested" } });
    const good = (await rollouts.lastSucceeded("web", "prod"))?.to;
    expect(publisher.writes.at(-1)).toMatchObject({ cluster: "canary", settings: good?.settings });
    expect(isSettled(reverted as RolloutState)).toBe(true);
  });

  it("an override reaches only the clusters it selects; the others pass on their report without a new generation", async () => {
    const { store, rollouts, publisher, roll, converge } = setup();
    const eu = store.clusters.find((c) => c.name === "eu-1");
    if (eu) eu.labels = { ...eu.labels, region: "eu" };
    const helm = { source: "helm" as const, helm: { set: { replicaCount: "1" } } };
    await roll("aaaaaaa1", 1, helm);
    await converge();
    const before = publisher.writes.length;
    await roll("aaaaaaa1", 2, {
      ...helm,
      overrides: [{ clusterSelector: { region: "eu" }, helm: { set: { replicaCount: "3" } } }],
    });
    await converge();
    expect(publisher.writes.slice(before).map((w) => `${w.cluster}:${w.set.replicaCount}`)).toEqual(["eu-1:3"]);
    const r = (await rollouts.latest("web", "prod"))?.rollout;
    expect(r?.state).toBe("Succeeded");
    expect(r?.waves[0]?.clusters[0]).toMatchObject({ name: "canary", unchanged: true, generation: 1 });
  });

  it("reads a rollout stored before settings were tracked, and the next pass rolls the current settings", async () => {
    const { store, rollouts, conductor, roll } = setup();
    const v1 = {
      version: 1,
      id: "old",
      app: "web",
      environment: "prod",
      fromRevision: "",
      toRevision: "aaaaaaa1",
      state: "Succeeded",
      progressDeadlineSeconds: 600,
      autoRollback: true,
      offlineClusters: "block",
      waves: [],
      detectedAtMs: 0,
    };
    rollouts.texts.set("old", JSON.stringify(v1));
    rollouts.order.push("old");
    store.desired.set("canary.web", {
      cluster: "canary",
      app: "web",
      generation: 3,
      environment: "prod",
      repo: "web",
      branch: "main",
      revision: "aaaaaaa1",
      path: ".",
      rolloutId: "old",
      fingerprint: "legacy",
      publishedAtMs: 0,
    });
    // fill leaves a desired state recorded without settings alone.
    const app = store.apps[0] as AppRecord;
    expect(await conductor.fill(app, "prod", store.clusters)).toBe(0);
    await roll("aaaaaaa1", 1);
    const r = (await rollouts.latest("web", "prod"))?.rollout;
    expect(r).toMatchObject({
      from: { revision: "aaaaaaa1", settings: "" },
      to: { revision: "aaaaaaa1" },
      changed: ["settings"],
    });
  });

  it("refuses to create or step rollouts without the lease", async () => {
    const { roll } = setup(false);
    await expect(roll("aaaaaaa1", 1)).rejects.toBeInstanceOf(NotLeaderError);
  });

  it("holds a rollout while its environment is frozen, says why, and goes on when the freeze is lifted", async () => {
    const { rollouts, publisher, conductor, roll, freezes, converge } = setup();
    await freezes.put({ scope: "environment", environment: "prod", reason: "incident 7", by: "ops", atMs: 0 });
    await freezes.put({ scope: "environment", environment: "staging", reason: "other", by: "ops", atMs: 0 });
    await roll("aaaaaaa1", 1);
    await conductor.stepAll();
    await conductor.stepAll();
    const held = (await rollouts.latest("web", "prod"))?.rollout;
    expect(publisher.writes).toEqual([]);
    expect(held?.hold).toMatchObject({ kind: "freeze", reason: "environment prod is frozen by ops: incident 7" });
    await freezes.delete("prod");
    await converge();
    expect((await rollouts.latest("web", "prod"))?.rollout.state).toBe("Succeeded");
  });

  it("holds only the clusters a selector freeze takes; the others are written", async () => {
    const { rollouts, publisher, conductor, roll, freezes } = setup();
    await freezes.put({
      scope: "environment",
      environment: "prod",
      selector: { tier: "canary" },
      reason: "canary rack swap",
      by: "ops",
      atMs: 0,
    });
    await roll("aaaaaaa1", 1);
    await conductor.stepAll();
    const r = (await rollouts.latest("web", "prod"))?.rollout;
    expect(r?.hold).toBeUndefined();
    expect(r?.waves[0]?.clusters[0]?.reason).toBe(
      "waiting: held, clusters tier=canary of environment prod are frozen by ops: canary rack swap",
    );
    expect(publisher.writes).toEqual([]);
  });

  it("a cluster whose heartbeat asks for a freeze waits under offlineClusters: block", async () => {
    const { store, rollouts, publisher, conductor, roll, converge } = setup();
    store.statuses.set("canary", {
      state: "Ready",
      changedAtMs: 0,
      freeze: { reason: "etcd defrag", source: "setting", sinceMs: 0 },
    });
    await roll("aaaaaaa1", 1);
    await conductor.stepAll();
    const r = (await rollouts.latest("web", "prod"))?.rollout;
    expect(r?.waves[0]?.clusters[0]?.reason).toBe(
      "waiting: cluster requested a freeze: etcd defrag (offlineClusters: block)",
    );
    expect(publisher.writes).toEqual([]);
    store.statuses.set("canary", { state: "Ready", changedAtMs: 0 });
    await converge();
    expect((await rollouts.latest("web", "prod"))?.rollout.state).toBe("Succeeded");
  });

  it("holds a rollout outside its allow window", async () => {
    const { store, rollouts, publisher, conductor, roll } = setup();
    const env = store.environments[0];
    if (!env) throw new Error("no environment");
    // An allow window that opened and closed long ago, once a year on 1 January 00:00 for a second.
    env.policy.windows = [{ kind: "allow", schedule: "0 0 1 1 *", timeZone: "UTC", durationSeconds: 1 }];
    await roll("aaaaaaa1", 1);
    await conductor.stepAll();
    expect(publisher.writes).toEqual([]);
    const held = (await rollouts.latest("web", "prod"))?.rollout;
    expect(held?.hold?.kind).toBe("window");
    expect(held?.hold?.reason).toMatch(
      /^outside every allow window \("0 0 1 1 \*" UTC for 1s\); the next opens at \d{4}-01-01T00:00:00.000Z$/,
    );
  });

  it("measures a wave's analysis per cluster with its name and labels, and rolls back when it fails", async () => {
    const { store, rollouts, publisher, conductor, roll, healthy, metrics } = setup();
    const env = store.environments[0];
    if (!env) throw new Error("no environment");
    env.policy.waves = [
      {
        name: "canary",
        selector: { tier: "canary" },
        maxConcurrency: 1,
        bakeSeconds: 0,
        analysis: [
          {
            name: "errors",
            query: 'ratio{cluster="{{cluster}}",tier="{{labels.tier}}"}',
            successCondition: { operator: "<", threshold: 0.1 },
            noData: "inconclusive",
            intervalSeconds: 1,
            count: 2,
            failureLimit: 0,
            inconclusiveLimit: 2,
            phase: "bake",
          },
        ],
      },
    ];
    await convergeFirstDeploy();
    metrics.answer = () => 0.5;
    await roll("bbbbbbb2", 2);
    await conductor.stepAll();
    healthy("canary");
    const deadline = Date.now() + 10_000;
    let r = (await rollouts.latest("web", "prod"))?.rollout;
    while (r?.state !== "RolledBack" && Date.now() < deadline) {
      await conductor.stepAll();
      await new Promise((resolve) => setTimeout(resolve, 100));
      r = (await rollouts.latest("web", "prod"))?.rollout;
    }
    expect(r?.state).toBe("RolledBack");
    expect(metrics.asked[0]).toBe('ratio{cluster="canary",tier="canary"}');
    // The environment's own credentials go with each of its queries.
    expect(metrics.credentials[0]).toEqual({ username: "prod-tenant", password: "not-a-real-secret" });
    expect(r?.failure?.reason).toContain("on canary = 0.5, wanted < 0.1");
    expect(publisher.writes.filter((w) => w.cluster === "eu-1").map((w) => w.revision)).toEqual(["aaaaaaa1"]);

    async function convergeFirstDeploy() {
      await roll("aaaaaaa1", 1);
      for (let i = 0; i < 40 && (await rollouts.unsettled()).length > 0; i++) {
        metrics.answer = () => 0;
        await conductor.stepAll();
        for (const c of store.clusters) if (store.desired.has(`${c.name}.web`)) healthy(c.name);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect((await rollouts.latest("web", "prod"))?.rollout.state).toBe("Succeeded");
    }
  });

  it("writes a dependent app on a cluster only once the app it depends on is healthy there", async () => {
    const { store, rollouts, publisher, conductor, app, healthy } = setup();
    const api: AppRecord = { ...app, name: "api", dependsOn: ["web"] };
    store.apps.push(api);
    await conductor.rollOut(app, "prod", {
      revision: "aaaaaaa1",
      settings: settingsOf(app, REPO, "prod"),
      detectedAtMs: 1,
    });
    await conductor.rollOut(api, "prod", {
      revision: "aaaaaaa1",
      settings: settingsOf(api, REPO, "prod"),
      detectedAtMs: 1,
    });
    await conductor.stepAll();
    expect(publisher.writes.map((w) => w.cluster)).toEqual(["canary"]);
    const waiting = (await rollouts.latest("api", "prod"))?.rollout;
    expect(waiting?.waves[0]?.clusters[0]?.reason).toBe(
      `waiting: blocked by app web on cluster canary (its rollout ${(await rollouts.latest("web", "prod"))?.rollout.id} is progressing there)`,
    );
    healthy("canary", "web");
    await conductor.stepAll();
    expect(publisher.writes.map((w) => w.cluster)).toEqual(["canary", "eu-1", "canary"]);
    expect(store.desired.get("canary.api")).toBeDefined();
    expect(store.desired.get("eu-1.api")).toBeUndefined();
  });
});
