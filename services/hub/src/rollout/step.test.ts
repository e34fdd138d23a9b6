import type { PolicyInput } from "@flotilla/api";
import { describe, expect, it } from "vitest";
import { type Action, isWriteAction, type StepResult, type WriteAction } from "./action.js";
import { command, supersede } from "./command.js";
import { RolloutCommandError, RolloutInputError } from "./errors.js";
import { clusterStandings } from "./explain.js";
import { leadTime } from "./leadtime.js";
import type { ClusterReport, Observations } from "./observation.js";
import { type ClusterConnectivity, type PlanCluster, parsePolicy } from "./policy.js";
import {
  type ClusterProgress,
  type ClusterStepState,
  changesBetween,
  createRollout,
  findCluster,
  isSettled,
  isTerminal,
  ROLLOUT_STATE_VERSION,
  type RolloutState,
  type RolloutTarget,
  readRollout,
} from "./state.js";
import { step } from "./step.js";
import { abandonRollback, outstandingWrites, recordWrite, recordWrites } from "./write.js";

const OLD = "a".repeat(40);
const NEW = "b".repeat(40);
/** Settings digests: the app's settings before and after a settings change. */
const SET1 = "1".repeat(64);
const SET2 = "2".repeat(64);
const OLD_T: RolloutTarget = { revision: OLD, settings: SET1 };
const NEW_T: RolloutTarget = { revision: NEW, settings: SET1 };
const S = 1000;

/** Canary wave of one cluster, second wave of two; 30 s bake, 60 s deadline. */
const TWO_WAVES: PolicyInput = {
  waves: [
    { name: "canary", selector: { tier: "canary" }, bakeSeconds: 30 },
    { name: "second", selector: { tier: "main" }, maxConcurrency: 1, bakeSeconds: 30 },
  ],
  progressDeadlineSeconds: 60,
};
const TWO_WAVE_CLUSTERS: PlanCluster[] = [
  { name: "canary-1", labels: { tier: "canary" }, state: "Ready" },
  { name: "main-1", labels: { tier: "main" }, state: "Ready" },
  { name: "main-2", labels: { tier: "main" }, state: "Ready" },
];

function rolloutOf(
  policy: PolicyInput,
  clusters: PlanCluster[] | string[],
  over: { from?: RolloutTarget | null; to?: RolloutTarget; commitAtMs?: number; id?: string } = {},
): RolloutState {
  const from = over.from === undefined ? OLD_T : over.from;
  return createRollout({
    id: over.id ?? "r1",
    app: "web",
    environment: "prod",
    ...(from ? { from } : {}),
    to: over.to ?? NEW_T,
    policy: parsePolicy(policy),
    clusters: clusters.map((c) => (typeof c === "string" ? { name: c, labels: {}, state: "Ready" as const } : c)),
    detectedAtMs: 0,
    ...(over.commitAtMs === undefined ? {} : { commitAtMs: over.commitAtMs }),
  });
}

type Behaviour = (revision: string, settings: string) => Pick<ClusterReport, "health" | "phase"> | undefined;
const healthy: Behaviour = () => ({ health: "healthy", phase: "synced" });
const badNew: Behaviour = (rev) =>
  rev === NEW ? { health: "degraded", phase: "synced" } : { health: "healthy", phase: "synced" };
const silent: Behaviour = () => undefined;

interface Write {
  kind: WriteAction["kind"];
  cluster: string;
  revision: string;
  settings: string;
  generation: number;
  atMs: number;
}

/**
 * A fake of the hub around the pure core: the desired-state store (generations per cluster), the
 * agents (each reports on its newest desired state as its behaviour says) and the registry. Every
 * cluster starts on OLD_T at generation 1, reporting Healthy: the stale health the gate must ignore.
 * With `effective` set, a write whose effective desired state equals the cluster's current one
 * allocates no generation, as the publisher does (per cluster: an override may leave one as it was).
 */
class FakeHub {
  readonly writes: Write[] = [];
  readonly connectivity: Record<string, ClusterConnectivity> = {};
  readonly reports: Record<string, ClusterReport> = {};
  readonly behaviour: Record<string, Behaviour> = {};
  private readonly generation: Record<string, number> = {};
  private readonly current: Record<string, string> = {};

  /** `effective`: what a cluster's desired state at a target holds; unset, every write is new. */
  constructor(
    clusters: string[],
    behaviour: Behaviour = healthy,
    private readonly effective?: (cluster: string, target: RolloutTarget) => string,
  ) {
    for (const c of clusters) {
      this.connectivity[c] = "Ready";
      this.generation[c] = 1;
      this.current[c] = effective?.(c, OLD_T) ?? "";
      this.reports[c] = { observedGeneration: 1, revision: OLD, health: "healthy", phase: "synced" };
      this.behaviour[c] = behaviour;
    }
  }

  observations(): Observations {
    const clusters: Observations["clusters"] = Object.fromEntries(
      Object.keys(this.connectivity).map((c) => [
        c,
        { connectivity: this.connectivity[c] ?? "Offline", report: this.reports[c] },
      ]),
    );
    return { clusters };
  }

  /** Executes write actions as the hub would, confirming each with recordWrite. */
  execute(rollout: RolloutState, actions: Action[], nowMs: number): RolloutState {
    let r = rollout;
    for (const a of actions.filter(isWriteAction)) {
      const effective = this.effective?.(a.cluster, a.target);
      if (effective !== undefined && effective === this.current[a.cluster]) {
        r = recordWrite(r, a, this.generation[a.cluster] ?? 0, nowMs, true);
        continue;
      }
      const generation = (this.generation[a.cluster] ?? 0) + 1;
      this.generation[a.cluster] = generation;
      this.current[a.cluster] = effective ?? "";
      this.writes.push({ kind: a.kind, cluster: a.cluster, ...a.target, generation, atMs: nowMs });
      r = recordWrite(r, a, generation, nowMs);
    }
    return r;
  }

  /** Online agents report on their newest desired state. */
  agentsReport(): void {
    for (const [cluster, generation] of Object.entries(this.generation)) {
      if (this.connectivity[cluster] !== "Ready") continue;
      const last = this.writes.filter((w) => w.cluster === cluster).at(-1);
      if (!last) continue;
      const verdict = this.behaviour[cluster]?.(last.revision, last.settings);
      if (verdict) this.reports[cluster] = { observedGeneration: generation, revision: last.revision, ...verdict };
    }
  }

  /** One leader tick: step, persist, execute, then the agents answer. */
  tick(rollout: RolloutState, nowMs: number): StepResult {
    const result = step(rollout, this.observations(), nowMs);
    const next = this.execute(result.rollout, result.actions, nowMs);
    this.agentsReport();
    return { rollout: next, actions: result.actions };
  }

  /** Ticks every `everyMs` from `fromMs` until the rollout is settled or `untilMs`; returns the last state and all actions. */
  run(
    rollout: RolloutState,
    fromMs: number,
    untilMs: number,
    everyMs = S,
  ): { rollout: RolloutState; actions: Action[]; atMs: number } {
    let r = rollout;
    const all: Action[] = [];
    let t = fromMs;
    for (; t <= untilMs; t += everyMs) {
      const res = this.tick(r, t);
      r = res.rollout;
      all.push(...res.actions);
      if (isSettled(r)) break;
    }
    return { rollout: r, actions: all, atMs: t };
  }

  writesOf(revision: string): Write[] {
    return this.writes.filter((w) => w.revision === revision);
  }
}

function cluster(r: RolloutState, name: string): ClusterProgress {
  const c = findCluster(r, name)?.progress;
  if (!c) throw new Error(`no cluster ${name}`);
  return c;
}

function kinds(actions: Action[]): string[] {
  return actions.map((a) => (a.kind === "EmitEvent" ? `${a.type}` : a.kind));
}

function writeTargets(actions: Action[]): string[] {
  return actions.filter(isWriteAction).map((a) => `${a.kind}:${a.cluster}`);
}

describe("cluster transitions (one cluster, generation 5 written for NEW, budget large enough to keep going)", () => {
  type Row = [
    title: string,
    from: ClusterStepState,
    report: Partial<ClusterReport> | undefined,
    elapsedS: number,
    to: ClusterStepState,
    reason?: RegExp,
  ];
  const rows: Row[] = [
    ["no report yet", "progressing", undefined, 10, "progressing"],
    [
      "stale: old revision, old generation, Healthy (argo-cd #29410)",
      "progressing",
      { observedGeneration: 4, revision: OLD },
      10,
      "progressing",
    ],
    [
      "stale: right revision, older generation",
      "progressing",
      { observedGeneration: 4, revision: NEW },
      10,
      "progressing",
    ],
    [
      "inconsistent: our generation, other revision",
      "progressing",
      { observedGeneration: 5, revision: OLD },
      10,
      "progressing",
    ],
    ["our generation, still progressing", "progressing", { health: "progressing", phase: "synced" }, 10, "progressing"],
    ["our generation, healthy but still applying", "progressing", { phase: "applying" }, 10, "progressing"],
    ["our generation, health unknown", "progressing", { health: "unknown" }, 10, "progressing"],
    ["our generation, healthy and synced", "progressing", {}, 10, "healthy"],
    [
      "our generation, degraded",
      "progressing",
      { health: "degraded", error: { message: "CrashLoopBackOff" } },
      10,
      "failed",
      /^degraded: CrashLoopBackOff/,
    ],
    [
      "our generation, degraded: the worst object says why",
      "progressing",
      {
        health: "degraded",
        resources: [
          { kind: "Service", name: "web", health: "healthy", message: "" },
          { kind: "Deployment", name: "api", health: "progressing", message: "1 of 2 updated" },
          {
            kind: "Deployment",
            name: "web",
            health: "degraded",
            message: "pod web-1: container app is crash-looping (5 restarts)",
          },
        ],
      },
      10,
      "failed",
      /^degraded: Deployment\/web degraded: pod web-1: container app is crash-looping \(5 restarts\)$/,
    ],
    [
      "our generation, past the deadline, suspended: the report says why",
      "progressing",
      {
        health: "suspended",
        resources: [{ kind: "Deployment", name: "web", health: "suspended", message: "rollout is paused" }],
      },
      700,
      "failed",
      /not healthy within the progress deadline .*health suspended, phase synced; Deployment\/web suspended: rollout is paused\)$/,
    ],
    [
      "our generation, apply failed",
      "progressing",
      { phase: "failed", health: "healthy", error: { message: "admission denied" } },
      10,
      "failed",
      /^apply failed: admission denied/,
    ],
    [
      "our generation, apply failed but the agent retries it: no verdict yet",
      "progressing",
      {
        phase: "failed",
        health: "unknown",
        error: { message: "connect ECONNREFUSED 127.0.0.1:6443", retryable: true },
      },
      10,
      "progressing",
    ],
    [
      "our generation, a retried apply failure past the deadline",
      "progressing",
      { phase: "failed", health: "unknown", error: { message: "connect ECONNREFUSED", retryable: true } },
      60,
      "failed",
      /progress deadline/,
    ],
    [
      "agent rejected our generation",
      "progressing",
      { observedGeneration: 4, revision: OLD, phase: "rejected", rejectedGeneration: 5 },
      10,
      "failed",
      /rejected generation 5/,
    ],
    [
      "agent rejected some other generation",
      "progressing",
      { observedGeneration: 4, revision: OLD, phase: "rejected", rejectedGeneration: 3 },
      10,
      "progressing",
    ],
    [
      "a newer generation written by someone else",
      "progressing",
      { observedGeneration: 6 },
      10,
      "failed",
      /rewritten outside this rollout/,
    ],
    [
      "deadline passed without a verdict",
      "progressing",
      { health: "progressing" },
      60,
      "failed",
      /progress deadline of 60s .*wrote generation 5; last report: generation 5/,
    ],
    [
      "deadline passed with only stale health",
      "progressing",
      { observedGeneration: 4, revision: OLD },
      60,
      "failed",
      /progress deadline/,
    ],
    ["just before the deadline", "progressing", { health: "progressing" }, 59.999, "progressing"],
    ["write not confirmed yet, report is not ours", "writing", {}, 10, "writing"],
    ["write never confirmed, deadline passed", "writing", undefined, 60, "failed", /write not confirmed; no report/],
    ["healthy stays healthy", "healthy", {}, 10, "healthy"],
    [
      "healthy regresses to progressing",
      "healthy",
      { health: "progressing" },
      10,
      "failed",
      /regressed after turning healthy: health is progressing/,
    ],
    ["healthy regresses to degraded", "healthy", { health: "degraded" }, 10, "failed", /regressed .*degraded/],
    [
      "healthy, apply of the same generation failed",
      "healthy",
      { phase: "failed" },
      10,
      "failed",
      /regressed .*apply failed/,
    ],
    [
      "healthy, the agent retries an apply its API server failed",
      "healthy",
      { phase: "failed", health: "unknown", error: { message: "connect ECONNREFUSED", retryable: true } },
      10,
      "healthy",
    ],
    ["healthy, report drifts out of sync but stays healthy", "healthy", { phase: "out_of_sync" }, 10, "healthy"],
    ["healthy, deadline does not apply any more", "healthy", {}, 600, "healthy"],
    ["healthy, rewritten by someone else", "healthy", { observedGeneration: 7 }, 10, "failed", /rewritten/],
    ["failed stays failed", "failed", {}, 10, "failed"],
  ];

  it.each(rows)("%s: %s → %s", (_title, from, report, elapsedS, to, reason) => {
    const base = rolloutOf(
      { waves: [{ name: "w", failureBudget: 5, maxConcurrency: 1, bakeSeconds: 1000 }], progressDeadlineSeconds: 60 },
      ["c1", "c2"],
    );
    // c1 is mid-wave in state `from`; c2 waits, so the wave cannot complete or change around c1.
    const r = step(base, { clusters: {} }, 0).rollout;
    const c = cluster(r, "c1");
    c.state = from;
    c.dispatchedAtMs = 0;
    if (from !== "writing") c.generation = 5;
    if (from === "healthy") c.healthyAtMs = 0;
    if (from === "failed") c.reason = "earlier";
    const observations: Observations = {
      clusters: {
        c1: {
          connectivity: "Ready",
          report:
            report &&
            ({
              observedGeneration: 5,
              revision: NEW,
              health: "healthy",
              phase: "synced",
              ...report,
            } satisfies ClusterReport),
        },
      },
    };
    const next = step(r, observations, elapsedS * S).rollout;
    expect(cluster(next, "c1").state).toBe(to);
    if (reason) expect(cluster(next, "c1").reason).toMatch(reason);
  });
});

describe("waves", () => {
  it("goes canary → bake → second wave, one cluster at a time, and succeeds", () => {
    const hub = new FakeHub(TWO_WAVE_CLUSTERS.map((c) => c.name));
    const { rollout, actions } = hub.run(rolloutOf(TWO_WAVES, TWO_WAVE_CLUSTERS), 0, 600 * S);
    expect(rollout.state).toBe("Succeeded");
    const written = hub.writesOf(NEW);
    expect(written.map((w) => w.cluster)).toEqual(["canary-1", "main-1", "main-2"]);
    const canary = cluster(rollout, "canary-1");
    const second = rollout.waves[1];
    // No second-wave cluster got the revision before the canary was healthy and the bake had passed.
    expect(canary.healthyAtMs).toBeDefined();
    for (const w of written.slice(1)) expect(w.atMs).toBeGreaterThanOrEqual((canary.healthyAtMs ?? 0) + 30 * S);
    expect(rollout.waves[0]?.completedAtMs).toBeLessThanOrEqual(second?.startedAtMs ?? -1);
    // maxConcurrency 1 in the second wave: main-2 is written only after main-1 is healthy.
    expect(written[2]?.atMs).toBeGreaterThanOrEqual(cluster(rollout, "main-1").healthyAtMs ?? Number.POSITIVE_INFINITY);
    expect(kinds(actions).filter((k) => k.startsWith("Wave") || k.startsWith("Rollout"))).toEqual([
      "RolloutStarted",
      "WaveStarted",
      "WaveCompleted",
      "WaveStarted",
      "WaveCompleted",
      "RolloutSucceeded",
    ]);
    expect(rollout.convergedAtMs).toBe(rollout.finishedAtMs);
    expect(hub.writesOf(OLD)).toEqual([]);
  });

  it("never has more than maxConcurrency clusters in flight, and refills a slot as soon as one turns healthy", () => {
    const names = Array.from({ length: 7 }, (_, i) => `c${i}`);
    const hub = new FakeHub(names, silent);
    let r = rolloutOf({ waves: [{ name: "all", maxConcurrency: "30%", bakeSeconds: 0 }] }, names); // ceil(2.1) = 3
    let maxInFlight = 0;
    for (let t = 0; t < 100 && !isTerminal(r.state); t++) {
      r = hub.tick(r, t * S).rollout;
      const inFlight = r.waves[0]?.clusters.filter((c) => c.state === "writing" || c.state === "progressing") ?? [];
      maxInFlight = Math.max(maxInFlight, inFlight.length);
      // Agents answer one at a time: the first in-flight cluster turns healthy each tick.
      const first = inFlight[0];
      if (first) {
        const gen = first.generation ?? 0;
        hub.reports[first.name] = { observedGeneration: gen, revision: NEW, health: "healthy", phase: "synced" };
      }
    }
    expect(r.state).toBe("Succeeded");
    expect(maxInFlight).toBe(3);
    expect(hub.writesOf(NEW).map((w) => w.atMs / S)).toEqual([0, 0, 0, 1, 2, 3, 4]);
  });

  it("does not let a cluster still Healthy at the old revision complete a wave (argo-cd #29410)", () => {
    const hub = new FakeHub(
      TWO_WAVE_CLUSTERS.map((c) => c.name),
      silent,
    );
    // The canary never applies the new generation: its last report stays Healthy at OLD, generation 1.
    const { rollout } = hub.run(rolloutOf(TWO_WAVES, TWO_WAVE_CLUSTERS), 0, 600 * S);
    expect(hub.reports["canary-1"]).toMatchObject({ observedGeneration: 1, revision: OLD, health: "healthy" });
    expect(cluster(rollout, "canary-1").healthyAtMs).toBeUndefined();
    expect(rollout.waves[0]?.status).toBe("failed");
    expect(rollout.failure?.reason).toMatch(/canary-1: not healthy within the progress deadline/);
    expect(hub.writesOf(NEW).map((w) => w.cluster)).toEqual(["canary-1"]);
  });

  it("fails a cluster that regresses during the bake, rolls back only the clusters that received the revision", () => {
    const hub = new FakeHub(TWO_WAVE_CLUSTERS.map((c) => c.name));
    let r = rolloutOf(TWO_WAVES, TWO_WAVE_CLUSTERS);
    r = hub.run(r, 0, 5 * S).rollout;
    expect(r.waves[0]?.status).toBe("baking");
    const gen = cluster(r, "canary-1").generation ?? 0;
    hub.reports["canary-1"] = {
      observedGeneration: gen,
      revision: NEW,
      health: "degraded",
      phase: "synced",
      error: { message: "OOMKilled" },
    };
    const res = hub.tick(r, 10 * S);
    r = res.rollout;
    expect(r.state).toBe("RolledBack");
    expect(r.failure).toMatchObject({ kind: "budget-exceeded", wave: "canary" });
    expect(r.failure?.reason).toMatch(
      /wave "canary": 1 cluster\(s\) failed, over its failure budget of 0 \(canary-1: regressed .*OOMKilled\)/,
    );
    expect(writeTargets(res.actions)).toEqual(["RollbackCluster:canary-1"]);
    expect(res.actions.find((a) => a.kind === "RolloutFailed")).toMatchObject({ state: "RolledBack" });
    expect(cluster(r, "canary-1")).toMatchObject({ state: "rolled-back", failedAtMs: 10 * S });
    expect(cluster(r, "main-1").state).toBe("pending");
    expect(isSettled(r)).toBe(true);
    // Later waves never receive the failed revision; the canary got the old one back as a newer generation.
    expect(hub.writes.map((w) => `${w.cluster}@${w.revision === NEW ? "new" : "old"}#${w.generation}`)).toEqual([
      "canary-1@new#2",
      "canary-1@old#3",
    ]);
    expect(hub.run(r, 11 * S, 200 * S).actions).toEqual([]);
  });

  it("fails a bad commit in the canary wave and rolls it back there; the second wave never sees it", () => {
    const hub = new FakeHub(
      TWO_WAVE_CLUSTERS.map((c) => c.name),
      badNew,
    );
    const { rollout } = hub.run(rolloutOf(TWO_WAVES, TWO_WAVE_CLUSTERS), 0, 600 * S);
    expect(rollout.state).toBe("RolledBack");
    expect(rollout.failure?.reason).toMatch(/canary-1: degraded/);
    expect(hub.writesOf(NEW).map((w) => w.cluster)).toEqual(["canary-1"]);
    expect(hub.writesOf(OLD).map((w) => w.cluster)).toEqual(["canary-1"]);
  });

  it("fails without rolling back when autoRollback is off", () => {
    const hub = new FakeHub(["c1"], badNew);
    const { rollout } = hub.run(rolloutOf({ autoRollback: false }, ["c1"]), 0, 100 * S);
    expect(rollout.state).toBe("Failed");
    expect(cluster(rollout, "c1").state).toBe("failed");
    expect(hub.writesOf(OLD)).toEqual([]);
  });

  it("rolls back every cluster that received the revision, confirmed or not, across waves", () => {
    const clusters = ["a1", "b1", "b2", "b3"].map((name) => ({
      name,
      labels: { w: name[0] ?? "" },
      state: "Ready" as const,
    }));
    const policy: PolicyInput = {
      waves: [
        { name: "a", selector: { w: "a" }, bakeSeconds: 0 },
        { name: "b", selector: { w: "b" }, maxConcurrency: 2, bakeSeconds: 0 },
      ],
    };
    const hub = new FakeHub(
      clusters.map((c) => c.name),
      silent,
    );
    hub.behaviour.a1 = healthy;
    hub.behaviour.b1 = badNew;
    let r = hub.tick(rolloutOf(policy, clusters), 0).rollout; // a1 written; its agent reports healthy
    // Wave a completes, b1 and b2 are decided; the leader dies before writing them (the decision is
    // persisted, the writes never run).
    const decided = step(r, hub.observations(), 1 * S);
    expect(writeTargets(decided.actions)).toEqual(["WriteDesired:b1", "WriteDesired:b2"]);
    r = decided.rollout;
    // The next leader writes them; b1 turns degraded, b2 says nothing.
    r = hub.tick(r, 3 * S).rollout;
    const res = hub.tick(r, 4 * S);
    expect(res.rollout.state).toBe("RolledBack");
    expect(writeTargets(res.actions).sort()).toEqual([
      "RollbackCluster:a1",
      "RollbackCluster:b1",
      "RollbackCluster:b2",
    ]);
    expect(cluster(res.rollout, "b3")).toMatchObject({ state: "pending" });
    expect(cluster(res.rollout, "b3").rollback).toBeUndefined();
  });

  it("puts clusters no wave selects in an implicit last wave, which runs last", () => {
    const clusters: PlanCluster[] = [
      { name: "stray", labels: {}, state: "Ready" },
      { name: "canary-1", labels: { tier: "canary" }, state: "Ready" },
    ];
    const hub = new FakeHub(["stray", "canary-1"]);
    const start = rolloutOf(
      { waves: [{ name: "canary", selector: { tier: "canary" }, bakeSeconds: 0 }], remaining: { bakeSeconds: 0 } },
      clusters,
    );
    expect(start.waves.map((w) => [w.name, w.implicit, w.clusters.map((c) => c.name)])).toEqual([
      ["canary", false, ["canary-1"]],
      ["remaining", true, ["stray"]],
    ]);
    const { rollout } = hub.run(start, 0, 60 * S);
    expect(rollout.state).toBe("Succeeded");
    expect(hub.writesOf(NEW).map((w) => w.cluster)).toEqual(["canary-1", "stray"]);
  });

  it("leaves waves that select no cluster out of the rollout, and succeeds at once with no cluster at all", () => {
    const r = rolloutOf({ waves: [{ name: "canary", selector: { tier: "canary" } }] }, ["c1"]);
    expect(r.waves.map((w) => w.name)).toEqual(["remaining"]);
    const empty = step(rolloutOf({}, []), { clusters: {} }, 0);
    expect(empty.rollout.state).toBe("Succeeded");
    expect(kinds(empty.actions)).toEqual(["RolloutStarted", "RolloutSucceeded"]);
  });

  it("does not bake a wave with no healthy cluster to watch", () => {
    const hub = new FakeHub(["c1"]);
    hub.connectivity.c1 = "Offline";
    const { rollout } = hub.run(rolloutOf({ offlineClusters: "skip", remaining: { bakeSeconds: 300 } }, ["c1"]), 0, 0);
    expect(rollout.state).toBe("Succeeded");
    expect(kinds(step(rollout, hub.observations(), 1).actions)).toEqual([]);
  });
});

describe("failure budgets", () => {
  function runWithBad(policy: PolicyInput, total: number, bad: number) {
    const names = Array.from({ length: total }, (_, i) => `c${String(i).padStart(2, "0")}`);
    const hub = new FakeHub(names);
    for (const n of names.slice(0, bad)) hub.behaviour[n] = badNew;
    return hub.run(rolloutOf(policy, names), 0, 1000 * S).rollout;
  }

  it.each([
    // budget as a count
    [1, 10, 1, "Succeeded"],
    [1, 10, 2, "RolledBack"],
    [0, 10, 1, "RolledBack"],
    // budget as a percentage, floored against the wave's size
    ["20%", 10, 2, "Succeeded"],
    ["20%", 10, 3, "RolledBack"],
    ["20%", 4, 1, "RolledBack"], // floor(0.8) = 0
    ["50%", 3, 1, "Succeeded"], // floor(1.5) = 1
    ["50%", 3, 2, "RolledBack"],
    ["100%", 2, 2, "Succeeded"],
  ] as const)("budget %s with %i clusters and %i bad → %s", (budget, total, bad, expected) => {
    const r = runWithBad({ remaining: { failureBudget: budget, maxConcurrency: "100%", bakeSeconds: 0 } }, total, bad);
    expect(r.state).toBe(expected);
    expect(r.waves[0]?.clusters.filter((c) => c.failedAtMs !== undefined)).toHaveLength(bad);
  });

  it("keeps going past a failure within budget and counts a deadline as a failure", () => {
    const hub = new FakeHub(["c1", "c2", "c3"]);
    hub.behaviour.c1 = silent;
    const { rollout } = hub.run(
      rolloutOf({ remaining: { failureBudget: 1, maxConcurrency: 1, bakeSeconds: 0 }, progressDeadlineSeconds: 30 }, [
        "c1",
        "c2",
        "c3",
      ]),
      0,
      600 * S,
    );
    expect(rollout.state).toBe("Succeeded");
    expect(cluster(rollout, "c1")).toMatchObject({ state: "failed", failedAtMs: 30 * S });
    expect(cluster(rollout, "c2").dispatchedAtMs).toBe(30 * S);
  });
});

describe("offline clusters", () => {
  it("block: the offline cluster is not written and holds its wave; the others go ahead; it is written once back", () => {
    const hub = new FakeHub(["c1", "c2", "c3"]);
    hub.connectivity.c1 = "Offline";
    hub.connectivity.c2 = "Pending";
    const policy: PolicyInput = { remaining: { maxConcurrency: 1, bakeSeconds: 0 }, progressDeadlineSeconds: 30 };
    let { rollout: r, actions } = hub.run(rolloutOf(policy, ["c1", "c2", "c3"]), 0, 300 * S);
    expect(r.state).toBe("Progressing");
    expect(hub.writesOf(NEW).map((w) => w.cluster)).toEqual(["c3"]);
    expect(cluster(r, "c1")).toMatchObject({
      state: "pending",
      reason: "waiting: cluster is Offline (offlineClusters: block)",
    });
    expect(cluster(r, "c2").reason).toMatch(/Pending/);
    expect(kinds(actions).filter((k) => k === "ClusterWaitingOffline")).toHaveLength(2);
    // The deadline runs from the write, not while waiting offline.
    hub.connectivity.c1 = "Ready";
    hub.connectivity.c2 = "Ready";
    ({ rollout: r } = hub.run(r, 301 * S, 400 * S));
    expect(r.state).toBe("Succeeded");
    expect(hub.writesOf(NEW).map((w) => w.cluster)).toEqual(["c3", "c1", "c2"]);
    expect(cluster(r, "c1").reason).toBeUndefined();
  });

  it("skip: the offline cluster is skipped when its turn comes, reported, never written, and the wave completes", () => {
    const hub = new FakeHub(["c1", "c2"]);
    hub.connectivity.c2 = "Offline";
    const { rollout, actions } = hub.run(
      rolloutOf({ offlineClusters: "skip", remaining: { maxConcurrency: 1, bakeSeconds: 0 } }, ["c1", "c2"]),
      0,
      300 * S,
    );
    expect(rollout.state).toBe("Succeeded");
    expect(cluster(rollout, "c2")).toMatchObject({ state: "skipped", skippedAtMs: 1 * S });
    expect(cluster(rollout, "c2").reason).toMatch(/Offline when its turn came/);
    expect(hub.writesOf(NEW).map((w) => w.cluster)).toEqual(["c1"]);
    expect(actions.find((a) => a.kind === "EmitEvent" && a.type === "ClusterSkipped")).toMatchObject({ cluster: "c2" });
  });

  it("skip: a cluster that was offline but is back by its turn is written, not skipped", () => {
    const hub = new FakeHub(["c1", "c2"]);
    hub.connectivity.c2 = "Offline";
    const policy: PolicyInput = { offlineClusters: "skip", remaining: { maxConcurrency: 1, bakeSeconds: 0 } };
    let r = hub.tick(rolloutOf(policy, ["c1", "c2"]), 0).rollout;
    hub.connectivity.c2 = "Ready";
    r = hub.run(r, 1 * S, 100 * S).rollout;
    expect(r.state).toBe("Succeeded");
    expect(cluster(r, "c2").state).toBe("healthy");
  });

  it.each(["block", "skip"] as const)(
    "%s: a cluster that goes offline after its write is judged by the deadline",
    (offline) => {
      const hub = new FakeHub(["c1"], silent);
      let r = hub.tick(rolloutOf({ offlineClusters: offline, progressDeadlineSeconds: 60 }, ["c1"]), 0).rollout;
      hub.connectivity.c1 = "Offline";
      r = hub.run(r, 1 * S, 300 * S).rollout;
      expect(r.state).toBe("RolledBack");
      expect(cluster(r, "c1")).toMatchObject({ failedAtMs: 60 * S, state: "rolled-back" });
    },
  );
});

describe("commands", () => {
  const GATED: PolicyInput = {
    waves: [
      { name: "canary", selector: { tier: "canary" }, bakeSeconds: 0 },
      { name: "second", selector: { tier: "main" }, maxConcurrency: 2, bakeSeconds: 0, requireApproval: true },
    ],
  };

  it("holds a wave that requires approval until promote, then starts it", () => {
    const hub = new FakeHub(TWO_WAVE_CLUSTERS.map((c) => c.name));
    let { rollout: r, actions } = hub.run(rolloutOf(GATED, TWO_WAVE_CLUSTERS), 0, 3600 * S, 60 * S);
    expect(r.state).toBe("Progressing");
    expect(r.waves[1]?.status).toBe("awaiting-approval");
    expect(hub.writesOf(NEW).map((w) => w.cluster)).toEqual(["canary-1"]);
    expect(kinds(actions).filter((k) => k === "AwaitingApproval")).toHaveLength(1);
    const promoted = command(r, "promote", 3601 * S, "ops");
    expect(kinds(promoted.actions)).toEqual(["Promoted"]);
    expect(writeTargets(promoted.actions)).toEqual([]);
    r = promoted.rollout;
    expect(r.waves[1]?.approvedAtMs).toBe(3601 * S);
    const started = hub.tick(r, 3602 * S);
    expect(writeTargets(started.actions)).toEqual(["WriteDesired:main-1", "WriteDesired:main-2"]);
    expect(hub.run(started.rollout, 3603 * S, 3700 * S).rollout.state).toBe("Succeeded");
  });

  it("refuses promote when no wave awaits approval", () => {
    const r = rolloutOf(GATED, TWO_WAVE_CLUSTERS);
    expect(() => command(r, "promote", 0)).toThrow(RolloutCommandError);
    expect(() => command(step(r, new FakeHub([]).observations(), 0).rollout, "promote", 0)).toThrow(
      /no wave awaits approval \(wave "canary" is progressing\)/,
    );
  });

  it("pause stops new writes and wave starts but keeps judging in-flight clusters; resume continues", () => {
    const names = ["c1", "c2", "c3"];
    const hub = new FakeHub(names, silent);
    let r = hub.tick(rolloutOf({ remaining: { maxConcurrency: 2, bakeSeconds: 0 } }, names), 0).rollout;
    expect(hub.writesOf(NEW).map((w) => w.cluster)).toEqual(["c1", "c2"]);
    const paused = command(r, "pause", 1 * S);
    expect(paused.rollout.state).toBe("Paused");
    expect(kinds(paused.actions)).toEqual(["Paused"]);
    expect(command(paused.rollout, "pause", 2 * S).actions).toEqual([]);
    r = paused.rollout;
    // c1 turns healthy while paused: it is judged, but its free slot is not refilled.
    hub.reports.c1 = {
      observedGeneration: cluster(r, "c1").generation ?? 0,
      revision: NEW,
      health: "healthy",
      phase: "synced",
    };
    r = hub.run(r, 2 * S, 30 * S).rollout;
    expect(cluster(r, "c1").state).toBe("healthy");
    expect(cluster(r, "c3").state).toBe("pending");
    expect(hub.writesOf(NEW)).toHaveLength(2);
    // A failure while paused still fails (and rolls back) the rollout.
    const degraded: ClusterReport = {
      observedGeneration: cluster(r, "c2").generation ?? 0,
      revision: NEW,
      health: "degraded",
      phase: "synced",
    };
    const failing: Observations = {
      clusters: { ...hub.observations().clusters, c2: { connectivity: "Ready", report: degraded } },
    };
    expect(step(r, failing, 31 * S).rollout.state).toBe("RolledBack");
    // Resume: c3 gets c1's slot.
    r = command(r, "resume", 31 * S).rollout;
    expect(r.state).toBe("Progressing");
    expect(r.pausedAtMs).toBeUndefined();
    expect(writeTargets(hub.tick(r, 32 * S).actions)).toEqual(["WriteDesired:c3"]);
    expect(command(r, "resume", 33 * S).actions).toEqual([]);
  });

  it("pause before the first step holds everything; resume returns it to Pending", () => {
    const hub = new FakeHub(["c1"]);
    const paused = command(rolloutOf({}, ["c1"]), "pause", 0).rollout;
    const r = hub.run(paused, 0, 10 * S).rollout;
    expect(r.state).toBe("Paused");
    expect(r.waves[0]?.status).toBe("pending");
    expect(hub.writes).toEqual([]);
    expect(command(r, "resume", 11 * S).rollout.state).toBe("Progressing");
    expect(command(paused, "resume", 11 * S).rollout.state).toBe("Pending");
  });

  it("abort ends Failed without rollback, and nothing more is written, not even decided writes", () => {
    const hub = new FakeHub(["c1", "c2"], silent);
    const decided = step(rolloutOf({ remaining: { maxConcurrency: 2 } }, ["c1", "c2"]), hub.observations(), 0);
    const r1 = hub.execute(decided.rollout, decided.actions.slice(0, -1), 0); // c1 written, c2 only decided
    expect(cluster(r1, "c2").state).toBe("writing");
    const aborted = command(r1, "abort", 1 * S, "ops");
    expect(aborted.rollout).toMatchObject({
      state: "Failed",
      failure: { kind: "aborted", reason: "aborted by ops", wave: "remaining" },
    });
    expect(kinds(aborted.actions)).toEqual(["RolloutFailed"]);
    expect(hub.run(aborted.rollout, 2 * S, 100 * S).actions).toEqual([]);
    expect(hub.writes.map((w) => w.cluster)).toEqual(["c1"]);
    expect(isSettled(aborted.rollout)).toBe(true);
  });

  it("rollback rolls back the touched clusters of any non-terminal rollout", () => {
    const hub = new FakeHub(TWO_WAVE_CLUSTERS.map((c) => c.name));
    let r = hub.run(rolloutOf(TWO_WAVES, TWO_WAVE_CLUSTERS), 0, 5 * S).rollout;
    const res = command(r, "rollback", 6 * S, "ops");
    r = res.rollout;
    expect(r).toMatchObject({
      state: "RolledBack",
      failure: { kind: "rollback-requested", reason: "rollback requested by ops" },
    });
    expect(writeTargets(res.actions)).toEqual([]);
    expect(isSettled(r)).toBe(false);
    // The writes come from the leader's next step, and keep coming until confirmed.
    const owed = step(r, hub.observations(), 7 * S);
    expect(writeTargets(owed.actions)).toEqual(["RollbackCluster:canary-1"]);
    expect(writeTargets(step(owed.rollout, hub.observations(), 8 * S).actions)).toEqual(["RollbackCluster:canary-1"]);
    r = hub.execute(owed.rollout, owed.actions, 8 * S);
    expect(isSettled(r)).toBe(true);
    expect(cluster(r, "canary-1").rollback).toMatchObject({ requestedAtMs: 6 * S, generation: 3, writtenAtMs: 8 * S });
    expect(step(r, hub.observations(), 9 * S).actions).toEqual([]);
  });

  it("an abandoned rollback (cluster or app deleted) settles the rollout and is owed no more", () => {
    const hub = new FakeHub(TWO_WAVE_CLUSTERS.map((c) => c.name));
    let r = hub.run(rolloutOf(TWO_WAVES, TWO_WAVE_CLUSTERS), 0, 5 * S).rollout;
    r = command(r, "rollback", 6 * S, "ops").rollout;
    const owed = step(r, hub.observations(), 7 * S);
    const [write] = owed.actions.filter(isWriteAction);
    if (!write) throw new Error("no rollback write owed");
    r = abandonRollback(owed.rollout, write, "nothing to roll back: cluster gone", 8 * S);
    expect(cluster(r, "canary-1").rollback).toMatchObject({
      abandoned: { atMs: 8 * S, reason: "nothing to roll back: cluster gone" },
    });
    expect(cluster(r, "canary-1").rollback?.generation).toBeUndefined();
    expect(isSettled(r)).toBe(true);
    expect(outstandingWrites(r, 9 * S)).toEqual([]);
    expect(step(r, hub.observations(), 9 * S).actions).toEqual([]);
    // A rollback already written stays written; only rollbacks of this rollout can be abandoned.
    const written = hub.execute(owed.rollout, owed.actions, 8 * S);
    expect(abandonRollback(written, write, "late", 9 * S)).toEqual(written);
    expect(() => abandonRollback(r, { ...write, kind: "WriteDesired" }, "x", 9 * S)).toThrow(RolloutInputError);
    expect(() => abandonRollback(r, { ...write, cluster: "main-2" }, "x", 9 * S)).toThrow(/no rollback was decided/);
  });

  it("rollback on a first deploy is refused; a failing first deploy ends Failed and says why", () => {
    const hub = new FakeHub(["c1"], badNew);
    const first = rolloutOf({}, ["c1"], { from: null });
    expect(() => command(first, "rollback", 0)).toThrow(/first deploy.*abort it instead/);
    const { rollout } = hub.run(first, 0, 100 * S);
    expect(rollout.state).toBe("Failed");
    expect(rollout.failure?.reason).toMatch(
      /not rolled back: there is nothing earlier to go back to \(first deploy\)$/,
    );
    expect(hub.writes.map((w) => w.revision)).toEqual([NEW]);
  });

  it("a first deploy with no previous revision succeeds like any other", () => {
    const hub = new FakeHub(["c1", "c2"]);
    const { rollout } = hub.run(rolloutOf({ remaining: { bakeSeconds: 0 } }, ["c1", "c2"], { from: null }), 0, 100 * S);
    expect(rollout.state).toBe("Succeeded");
  });

  it.each(["pause", "resume", "promote", "abort", "rollback"] as const)("refuses %s on a terminal rollout", (cmd) => {
    const done = command(rolloutOf({}, ["c1"]), "abort", 0).rollout;
    expect(() => command(done, cmd, 1)).toThrow(/already ended Failed/);
  });
});

describe("supersede", () => {
  it("ends the rollout Superseded: no more writes, nothing rolled back; the newer rollout starts from the first wave", () => {
    const hub = new FakeHub(TWO_WAVE_CLUSTERS.map((c) => c.name));
    let old = hub.run(rolloutOf(TWO_WAVES, TWO_WAVE_CLUSTERS), 0, 31 * S).rollout;
    expect(old.waves[1]?.status).toBe("progressing");
    // main-2 is decided but not yet written; that write must not go out after superseding.
    old = step(old, hub.observations(), 32 * S).rollout;
    expect(cluster(old, "main-2").state).toBe("writing");
    const res = supersede(old, 42 * S, "r2");
    expect(res.rollout).toMatchObject({ state: "Superseded", supersededBy: "r2", finishedAtMs: 42 * S });
    expect(kinds(res.actions)).toEqual(["Superseded"]);
    expect(outstandingWrites(res.rollout, 43 * S)).toEqual([]);
    expect(step(res.rollout, hub.observations(), 43 * S).actions).toEqual([]);
    expect(supersede(res.rollout, 44 * S, "r3").rollout).toBe(res.rollout);

    const newer = createRolloutFrom(res.rollout);
    const started = hub.tick(newer, 45 * S);
    expect(started.rollout.waves[0]?.status).toBe("progressing");
    expect(writeTargets(started.actions)).toEqual(["WriteDesired:canary-1"]);
  });

  function createRolloutFrom(old: RolloutState): RolloutState {
    return rolloutOf(TWO_WAVES, TWO_WAVE_CLUSTERS, { id: "r2", from: old.from ?? null });
  }
});

describe("idempotence and crash recovery", () => {
  it("re-running step on its own output with the same observations decides nothing new", () => {
    const hub = new FakeHub(TWO_WAVE_CLUSTERS.map((c) => c.name));
    let r = rolloutOf(TWO_WAVES, TWO_WAVE_CLUSTERS);
    for (let t = 0; t <= 120; t += 5) {
      const once = step(r, hub.observations(), t * S);
      const twice = step(once.rollout, hub.observations(), t * S);
      expect(twice.rollout).toEqual(once.rollout);
      // Only writes still owed come again: the same ones, never one for another cluster.
      expect(twice.actions.filter((a) => !isWriteAction(a))).toEqual([]);
      expect(writeTargets(twice.actions)).toEqual(writeTargets(outstandingWrites(once.rollout, t * S)));
      for (const a of twice.actions.filter(isWriteAction))
        expect(cluster(once.rollout, a.cluster).state).toBe("writing");
      r = hub.execute(once.rollout, once.actions, t * S);
      // Once confirmed, no WriteDesired at all.
      expect(writeTargets(step(r, hub.observations(), t * S).actions)).toEqual([]);
      hub.agentsReport();
    }
    expect(r.state).toBe("Succeeded");
  });

  it("a leader dying after persisting a step, before writing, is replaced without skipping or repeating a wave", () => {
    const hub = new FakeHub(TWO_WAVE_CLUSTERS.map((c) => c.name));
    const r = hub.run(rolloutOf(TWO_WAVES, TWO_WAVE_CLUSTERS), 0, 30 * S).rollout;
    expect(r.waves[0]?.status).toBe("baking");
    // Leader A: completes the canary wave, starts the second, decides main-1, persists, dies.
    const a = step(r, hub.observations(), 31 * S);
    expect(kinds(a.actions).filter((k) => k.startsWith("Wave"))).toEqual(["WaveCompleted", "WaveStarted"]);
    expect(writeTargets(a.actions)).toEqual(["WriteDesired:main-1"]);
    const persisted: RolloutState = JSON.parse(JSON.stringify(a.rollout));
    // Leader B recomputes from the persisted state, later: the same write, no wave repeated or skipped.
    const b = step(persisted, hub.observations(), 50 * S);
    expect(writeTargets(b.actions)).toEqual(["WriteDesired:main-1"]);
    expect(kinds(b.actions).filter((k) => k.startsWith("Wave"))).toEqual([]);
    const { rollout } = hub.run(hub.execute(b.rollout, b.actions, 50 * S), 51 * S, 300 * S);
    expect(rollout.state).toBe("Succeeded");
    expect(hub.writesOf(NEW).map((w) => w.cluster)).toEqual(["canary-1", "main-1", "main-2"]);
  });

  it("a leader dying after writing, before recordWrite: the rewrite's generation is the one gated on", () => {
    const hub = new FakeHub(["c1"]);
    const a = step(rolloutOf({ remaining: { bakeSeconds: 0 } }, ["c1"]), hub.observations(), 0);
    hub.execute(a.rollout, a.actions, 0); // written as generation 2, confirmation lost with the leader
    hub.agentsReport();
    const b = step(a.rollout, hub.observations(), 5 * S);
    expect(writeTargets(b.actions)).toEqual(["WriteDesired:c1"]);
    let r = hub.execute(b.rollout, b.actions, 5 * S); // generation 3
    expect(cluster(r, "c1").generation).toBe(3);
    // The report for generation 2 (same revision, healthy) does not pass; generation 3's does.
    expect(cluster(step(r, hub.observations(), 6 * S).rollout, "c1").state).toBe("progressing");
    hub.agentsReport();
    r = step(r, hub.observations(), 7 * S).rollout;
    expect(r.state).toBe("Succeeded");
  });

  it("a later or repeated confirmation keeps the highest generation, and a newer one must pass the gate again", () => {
    const hub = new FakeHub(["c1", "c2"]);
    let r = hub.tick(rolloutOf({ remaining: { bakeSeconds: 100, maxConcurrency: 2 } }, ["c1", "c2"]), 0).rollout;
    r = hub.tick(r, 1 * S).rollout;
    expect(r.waves[0]?.status).toBe("baking");
    const write: WriteAction = {
      kind: "WriteDesired",
      rolloutId: "r1",
      app: "web",
      environment: "prod",
      atMs: 0,
      cluster: "c1",
      target: NEW_T,
    };
    expect(recordWrite(r, write, 1, 2 * S)).toEqual(r);
    r = recordWrite(r, write, 9, 2 * S);
    expect(cluster(r, "c1")).toMatchObject({ state: "progressing", generation: 9 });
    const next = step(r, hub.observations(), 3 * S).rollout;
    expect(next.waves[0]?.status).toBe("progressing");
    expect(next.waves[0]?.bakeStartedAtMs).toBeUndefined();
  });

  it("recordWrite refuses writes it cannot place", () => {
    const r = step(rolloutOf({}, ["c1"]), new FakeHub(["c1"]).observations(), 0).rollout;
    const write: WriteAction = {
      kind: "WriteDesired",
      rolloutId: "r1",
      app: "web",
      environment: "prod",
      atMs: 0,
      cluster: "c1",
      target: NEW_T,
    };
    expect(() => recordWrite(r, { ...write, rolloutId: "other" }, 2, 0)).toThrow(RolloutInputError);
    expect(() => recordWrite(r, { ...write, cluster: "nope" }, 2, 0)).toThrow(/not part of this rollout/);
    expect(() => recordWrite(r, { ...write, target: OLD_T }, 2, 0)).toThrow(/the rollout writes/);
    expect(() => recordWrite(r, { ...write, target: { revision: NEW, settings: SET2 } }, 2, 0)).toThrow(
      /the rollout writes/,
    );
    expect(() => recordWrite(r, write, 0, 0)).toThrow(/positive integer/);
    expect(() => recordWrite(r, { ...write, kind: "RollbackCluster", target: OLD_T }, 2, 0)).toThrow(
      /no rollback was decided/,
    );
  });

  it("is pure: it never mutates its input, and a JSON round trip of the state changes nothing", () => {
    const hub = new FakeHub(TWO_WAVE_CLUSTERS.map((c) => c.name));
    let r = rolloutOf(TWO_WAVES, TWO_WAVE_CLUSTERS);
    for (let t = 0; t <= 100; t += 5) {
      const frozen = deepFreeze(structuredClone(r));
      const direct = step(frozen, hub.observations(), t * S);
      const viaJson = step(JSON.parse(JSON.stringify(r)), hub.observations(), t * S);
      expect(viaJson).toEqual(direct);
      expect(frozen).toEqual(r);
      r = hub.execute(direct.rollout, direct.actions, t * S);
      hub.agentsReport();
    }
    expect(r.state).toBe("Succeeded");
  });
});

describe("createRollout and lead time", () => {
  it("refuses a rollout that cannot be one", () => {
    const base = {
      id: "r1",
      app: "web",
      environment: "prod",
      from: OLD_T,
      to: NEW_T,
      policy: parsePolicy({}),
      clusters: [],
      detectedAtMs: 0,
    };
    expect(() => createRollout({ ...base, id: "" })).toThrow(RolloutInputError);
    expect(() => createRollout({ ...base, to: { revision: "", settings: SET1 } })).toThrow(/to.revision/);
    expect(() => createRollout({ ...base, to: { revision: NEW, settings: "" } })).toThrow(/settings snapshot/);
    expect(() => createRollout({ ...base, to: OLD_T })).toThrow(/nothing to roll out/);
    const dup: PlanCluster = { name: "c1", labels: {}, state: "Ready" };
    expect(() => createRollout({ ...base, clusters: [dup, dup] })).toThrow(/listed twice/);
  });

  it("computes each wave's duration and commit→converged for the histograms", () => {
    const hub = new FakeHub(TWO_WAVE_CLUSTERS.map((c) => c.name));
    const { rollout, actions } = hub.run(rolloutOf(TWO_WAVES, TWO_WAVE_CLUSTERS, { commitAtMs: -20 * S }), 0, 600 * S);
    const lt = leadTime(rollout);
    // canary: written at 0, healthy at 1, baked 30 s → completes at 31; second: 31 → main-1 healthy 32,
    // main-2 written 32, healthy 33, bake to 63.
    expect(lt.waves).toEqual([
      { wave: "canary", index: 0, durationSeconds: 31 },
      { wave: "second", index: 1, durationSeconds: 32 },
    ]);
    expect(lt.detectedToConvergedSeconds).toBe(63);
    expect(lt.commitToConvergedSeconds).toBe(83);
    expect(actions.filter((a) => a.kind === "WaveCompleted").map((a) => a.durationSeconds)).toEqual([31, 32]);
    expect(actions.find((a) => a.kind === "RolloutSucceeded")).toMatchObject({
      commitToConvergedSeconds: 83,
      target: NEW_T,
    });
    expect(leadTime(rolloutOf(TWO_WAVES, TWO_WAVE_CLUSTERS))).toEqual({ waves: [], startsAt: "detection" });
    // A commit read from Git: the figure starts at its committer time, and the poll delay shows.
    const fromCommit = createRollout({
      id: "r3",
      app: "web",
      environment: "prod",
      from: OLD_T,
      to: NEW_T,
      policy: parsePolicy({}),
      clusters: [],
      commit: { message: "m", author: "a", committedAtMs: -7 * S },
      commitAtMs: -7 * S,
      detectedAtMs: 0,
    });
    expect(leadTime(fromCommit)).toEqual({ waves: [], startsAt: "commit", commitToDetectedSeconds: 7 });
  });
});

describe("targets: settings-only, mixed and reverted changes", () => {
  const SETTINGS_ONLY: RolloutTarget = { revision: OLD, settings: SET2 };
  const MIXED: RolloutTarget = { revision: NEW, settings: SET2 };

  it.each<[title: string, from: RolloutTarget | null, to: RolloutTarget, changed: string[]]>([
    ["a new commit, same settings", OLD_T, NEW_T, ["revision"]],
    ["new settings, same commit", OLD_T, SETTINGS_ONLY, ["settings"]],
    ["both at once", OLD_T, MIXED, ["revision", "settings"]],
    ["settings reverted to an earlier snapshot", SETTINGS_ONLY, OLD_T, ["settings"]],
    ["a commit reverted, settings kept", { revision: NEW, settings: SET2 }, SETTINGS_ONLY, ["revision"]],
    ["first deploy", null, NEW_T, ["revision", "settings"]],
    ["from a rollout stored before settings were tracked", { revision: OLD, settings: "" }, OLD_T, ["settings"]],
    ["the same target", OLD_T, OLD_T, []],
  ])("%s: changed %j", (_title, from, to, changed) => {
    expect(changesBetween(from ?? undefined, to)).toEqual(changed);
    if (changed.length === 0) expect(() => rolloutOf({}, ["c1"], { from, to })).toThrow(/nothing to roll out/);
    else expect(rolloutOf({}, ["c1"], { from, to }).changed).toEqual(changed);
  });

  it.each<[title: string, to: RolloutTarget]>([
    ["settings-only", SETTINGS_ONLY],
    ["mixed", MIXED],
  ])("a %s change goes canary first; the stale healthy report at the same revision passes nothing", (_title, to) => {
    const hub = new FakeHub(TWO_WAVE_CLUSTERS.map((c) => c.name));
    let r = rolloutOf(TWO_WAVES, TWO_WAVE_CLUSTERS, { to });
    // Before any agent answers: generation 1 at OLD is healthy, but it is not what the rollout wrote.
    const first = step(r, hub.observations(), 0);
    r = hub.execute(first.rollout, first.actions, 0);
    expect(writeTargets(first.actions)).toEqual(["WriteDesired:canary-1"]);
    expect(step(r, hub.observations(), 1 * S).rollout.waves[0]?.clusters[0]?.state).toBe("progressing");
    hub.agentsReport();
    const done = hub.run(r, 1 * S, 600 * S).rollout;
    expect(done.state).toBe("Succeeded");
    const canaryHealthy = cluster(done, "canary-1").healthyAtMs ?? Number.POSITIVE_INFINITY;
    const canaryBaked = done.waves[0]?.completedAtMs ?? Number.POSITIVE_INFINITY;
    expect(canaryBaked - canaryHealthy).toBeGreaterThanOrEqual(30 * S);
    for (const w of hub.writes.filter((x) => x.cluster !== "canary-1"))
      expect(w.atMs).toBeGreaterThanOrEqual(canaryBaked);
    expect(
      hub.writes.map(
        (w) => `${w.cluster}@${w.revision === to.revision ? "to" : "?"}/${w.settings === SET2 ? "s2" : "s1"}`,
      ),
    ).toEqual(["canary-1@to/s2", "main-1@to/s2", "main-2@to/s2"]);
  });

  it("a settings change the canary refuses rolls the canary back to the previous settings; the rest never get it", () => {
    const refusesSet2: Behaviour = (_rev, settings) =>
      settings === SET2 ? { health: "unknown", phase: "failed" } : { health: "healthy", phase: "synced" };
    const hub = new FakeHub(
      TWO_WAVE_CLUSTERS.map((c) => c.name),
      refusesSet2,
    );
    const { rollout } = hub.run(rolloutOf(TWO_WAVES, TWO_WAVE_CLUSTERS, { to: SETTINGS_ONLY }), 0, 600 * S);
    expect(rollout.state).toBe("RolledBack");
    expect(rollout.failure?.reason).toMatch(/canary-1: apply failed/);
    expect(hub.writes.map((w) => `${w.kind}:${w.cluster}:${w.settings === SET2 ? "s2" : "s1"}`)).toEqual([
      "WriteDesired:canary-1:s2",
      "RollbackCluster:canary-1:s1",
    ]);
    expect(isSettled(rollout)).toBe(true);
  });

  it("clusters whose desired state would not change pass at once on their report, and their wave needs no bake", () => {
    // An override for main-2 only: the canary and main-1 resolve to the same desired state as before.
    const onlyMain2 = (c: string, t: RolloutTarget) => (c === "main-2" ? `${t.revision}|${t.settings}` : t.revision);
    const hub = new FakeHub(
      TWO_WAVE_CLUSTERS.map((c) => c.name),
      healthy,
      onlyMain2,
    );
    const { rollout } = hub.run(rolloutOf(TWO_WAVES, TWO_WAVE_CLUSTERS, { to: SETTINGS_ONLY }), 0, 600 * S);
    expect(rollout.state).toBe("Succeeded");
    expect(hub.writes.map((w) => w.cluster)).toEqual(["main-2"]);
    expect(cluster(rollout, "canary-1")).toMatchObject({ state: "healthy", generation: 1, unchanged: true });
    expect(cluster(rollout, "main-1")).toMatchObject({ state: "healthy", generation: 1, unchanged: true });
    expect(cluster(rollout, "main-2")).toMatchObject({ state: "healthy", generation: 2 });
    expect(cluster(rollout, "main-2").unchanged).toBeUndefined();
    // The canary wave had nothing new to watch; the second wave baked main-2.
    const [canary, second] = rollout.waves;
    expect((canary?.completedAtMs ?? 0) - (canary?.startedAtMs ?? 0)).toBeLessThan(30 * S);
    expect((second?.completedAtMs ?? 0) - (cluster(rollout, "main-2").healthyAtMs ?? 0)).toBeGreaterThanOrEqual(30 * S);
    expect(clusterStandings(rollout)["main-1"]).toMatch(/unchanged/);
  });

  it("supersede, pause and rollback behave the same for a settings-only rollout", () => {
    const hub = new FakeHub(TWO_WAVE_CLUSTERS.map((c) => c.name));
    let r = hub.run(rolloutOf(TWO_WAVES, TWO_WAVE_CLUSTERS, { to: SETTINGS_ONLY }), 0, 5 * S).rollout;
    r = command(r, "pause", 6 * S).rollout;
    expect(r.state).toBe("Paused");
    r = command(r, "rollback", 7 * S).rollout;
    const rolledBack = hub.run(r, 8 * S, 20 * S).rollout;
    expect(rolledBack.state).toBe("RolledBack");
    expect(
      hub.writes.filter((w) => w.kind === "RollbackCluster").map((w) => [w.cluster, w.revision, w.settings]),
    ).toEqual([["canary-1", OLD, SET1]]);
    const other = supersede(rolloutOf(TWO_WAVES, TWO_WAVE_CLUSTERS, { to: SETTINGS_ONLY }), 0, "r2").rollout;
    expect(other).toMatchObject({ state: "Superseded", supersededBy: "r2" });
    expect(outstandingWrites(other, 0)).toEqual([]);
  });

  it("says in words why each cluster is where it is", () => {
    const hub = new FakeHub(TWO_WAVE_CLUSTERS.map((c) => c.name));
    const r = hub.run(rolloutOf(TWO_WAVES, TWO_WAVE_CLUSTERS, { to: SETTINGS_ONLY }), 0, 3 * S).rollout;
    expect(clusterStandings(r)).toEqual({
      "canary-1": expect.stringMatching(/^healthy at generation 2; wave "canary" is baking$/),
      "main-1": 'waiting for wave "canary" before wave "second"',
      "main-2": 'waiting for wave "canary" before wave "second"',
    });
  });
});

describe("reading stored rollouts", () => {
  it("reads a version 1 rollout as a revision change with unknown settings on both ends", () => {
    const v2 = rolloutOf(TWO_WAVES, TWO_WAVE_CLUSTERS);
    const { from: _f, to: _t, changed: _c, version: _v, ...rest } = v2;
    const v1 = { ...rest, version: 1, fromRevision: OLD, toRevision: NEW };
    const read = readRollout(JSON.parse(JSON.stringify(v1)));
    expect(read).toEqual({
      ...v2,
      version: ROLLOUT_STATE_VERSION,
      from: { revision: OLD, settings: "" },
      to: { revision: NEW, settings: "" },
      changed: ["revision"],
    });
    const first = readRollout({ ...v1, fromRevision: "" });
    expect(first.from).toBeUndefined();
    expect(readRollout(JSON.parse(JSON.stringify(v2)))).toEqual(v2);
    expect(() => readRollout({ ...v2, version: 99 })).toThrow(/version 99/);
  });
});

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

describe("recordWrites", () => {
  it("confirms a whole wave exactly as recordWrite would, one write after another", () => {
    const names = Array.from({ length: 40 }, (_, i) => `c-${String(i).padStart(2, "0")}`);
    const policy: PolicyInput = { waves: [{ name: "all", selector: {}, maxConcurrency: "100%", bakeSeconds: 0 }] };
    const ready: Observations = {
      clusters: Object.fromEntries(names.map((n) => [n, { connectivity: "Ready" as const }])),
    };
    const started = step(rolloutOf(policy, names), ready, 10 * S);
    const writes = started.actions.filter(isWriteAction);
    expect(writes).toHaveLength(names.length);
    const executed = writes.map((write, i) => ({ write, generation: 100 + i, unchanged: i % 3 === 0 }));
    const oneByOne = executed.reduce(
      (r, e) => recordWrite(r, e.write, e.generation, 11 * S, e.unchanged),
      deepFreeze(started.rollout),
    );
    expect(recordWrites(started.rollout, executed, 11 * S)).toEqual(oneByOne);
    expect(() => recordWrites(started.rollout, [{ ...executed[0]!, generation: 0 }], 11 * S)).toThrow(
      RolloutInputError,
    );
  });
});

describe("copy-on-write: a step copies only the clusters it changes", () => {
  const names = Array.from({ length: 6 }, (_, i) => `c-${i}`);
  const policy: PolicyInput = {
    waves: [{ name: "all", selector: {}, maxConcurrency: "100%", bakeSeconds: 0 }],
    progressDeadlineSeconds: 60,
  };
  /** Every cluster written at generation 2 and progressing, reporting the old revision still. */
  function inFlight(): { rollout: RolloutState; observations: Observations } {
    const stale: ClusterReport = { observedGeneration: 1, revision: OLD, health: "healthy", phase: "synced" };
    const observations: Observations = {
      clusters: Object.fromEntries(names.map((n) => [n, { connectivity: "Ready" as const, report: stale }])),
    };
    const started = step(rolloutOf(policy, names), observations, 0);
    const executed = started.actions.filter(isWriteAction).map((write) => ({ write, generation: 2 }));
    return { rollout: deepFreeze(recordWrites(started.rollout, executed, S)), observations };
  }
  const at2 = (health: string): ClusterReport => ({
    observedGeneration: 2,
    revision: NEW,
    health,
    phase: "synced",
  });

  it.each<[title: string, reports: Record<string, ClusterReport>, nowMs: number, copied: string[]]>([
    ["no report moved anything", {}, 2 * S, []],
    ["one cluster turned healthy", { "c-2": at2("healthy") }, 2 * S, ["c-2"]],
    ["two clusters turned healthy", { "c-1": at2("healthy"), "c-4": at2("healthy") }, 2 * S, ["c-1", "c-4"]],
    [
      "one cluster degraded past the budget: every written cluster is rolled back",
      { "c-3": at2("degraded") },
      2 * S,
      names,
    ],
    ["the deadline passed: every in-flight cluster failed", {}, 61 * S, names],
  ])("%s", (_title, reports, nowMs, copied) => {
    const { rollout, observations: stale } = inFlight();
    const moved = Object.entries(reports).map(([n, report]) => [n, { connectivity: "Ready" as const, report }]);
    const observations: Observations = { clusters: { ...stale.clusters, ...Object.fromEntries(moved) } };
    const result = step(rollout, observations, nowMs);
    const before = new Map(rollout.waves.flatMap((w) => w.clusters.map((c) => [c.name, c] as const)));
    const changed = result.rollout.waves.flatMap((w) => w.clusters.filter((c) => before.get(c.name) !== c));
    expect(changed.map((c) => c.name)).toEqual(copied);
    // The shared clusters are the input's own, unchanged; the step's output reads as a full copy would.
    expect(result.rollout).toEqual(step(structuredClone(rollout), observations, nowMs).rollout);
  });
});
