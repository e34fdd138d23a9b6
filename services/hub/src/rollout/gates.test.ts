import type { AnalysisInput, Freeze, PolicyInput, Window, WindowInput } from "@flotilla/api";
import { describe, expect, it } from "vitest";
import { type Action, isWriteAction } from "./action.js";
import { dueMeasurements } from "./analysis.js";
import { command } from "./command.js";
import { clusterStandings } from "./explain.js";
import { heldClusters, holdsAt } from "./holds.js";
import type { ClusterReport, Hold, MeasurementObservation, Observations } from "./observation.js";
import { parsePolicy } from "./policy.js";
import { createRollout, findCluster, type RolloutState } from "./state.js";
import { step } from "./step.js";
import { windowVerdict } from "./window.js";
import { recordWrite } from "./write.js";

const OLD = "a".repeat(40);
const NEW = "b".repeat(40);
const SET = "1".repeat(64);
const S = 1000;

const ERRORS: AnalysisInput = {
  name: "errors",
  query: 'error_ratio{cluster="{{cluster}}"}',
  successCondition: { operator: "<", threshold: 0.1 },
  intervalSeconds: 10,
  count: 3,
};

function rolloutOf(policy: PolicyInput, clusters = ["canary-1", "main-1"]): RolloutState {
  return createRollout({
    id: "r1",
    app: "web",
    environment: "prod",
    from: { revision: OLD, settings: SET },
    to: { revision: NEW, settings: SET },
    policy: parsePolicy(policy),
    clusters: clusters.map((name) => ({
      name,
      labels: { tier: name.startsWith("canary") ? "canary" : "main" },
      state: "Ready" as const,
    })),
    detectedAtMs: 0,
  });
}

/** Two waves, canary with the analysis; no bake beyond what the analysis takes. */
function canaryAnalysed(analysis: AnalysisInput = ERRORS, extra: PolicyInput = {}): RolloutState {
  return rolloutOf({
    waves: [
      { name: "canary", selector: { tier: "canary" }, bakeSeconds: 0, analysis: [analysis] },
      { name: "main", selector: { tier: "main" }, bakeSeconds: 0 },
    ],
    ...extra,
  });
}

/**
 * A tiny fleet around the core: every write gets the next generation and the agent reports it
 * healthy at once; `measure` answers every due measurement with `value(cluster, round)`.
 */
class Fleet {
  generation = 1;
  readonly reports: Record<string, ClusterReport> = {};
  readonly written: string[] = [];
  holds: Hold[] = [];
  blockedBy: Record<string, string> = {};
  /** Clusters that ask for a freeze themselves: name → reason. */
  freeze: Record<string, string> = {};
  /** Clusters a selector-limited window or freeze holds: name → reason. */
  held: Record<string, string> = {};
  offline = new Set<string>();
  events: string[] = [];

  observations(r: RolloutState, measurements: MeasurementObservation[] = []): Observations {
    const names = r.waves.flatMap((w) => w.clusters.map((c) => c.name));
    return {
      clusters: Object.fromEntries(
        names.map((n) => [
          n,
          {
            connectivity: this.offline.has(n) ? ("Offline" as const) : ("Ready" as const),
            ...(this.reports[n] ? { report: this.reports[n] } : {}),
            ...(this.blockedBy[n] ? { blockedBy: this.blockedBy[n] } : {}),
            ...(this.freeze[n] !== undefined ? { freeze: this.freeze[n] } : {}),
            ...(this.held[n] ? { held: this.held[n] } : {}),
          },
        ]),
      ),
      holds: this.holds,
      measurements,
    };
  }

  /** One tick: measure what is due, step, execute writes, agents report. */
  tick(
    r: RolloutState,
    now: number,
    value?: (cluster: string | undefined, round: number) => number | undefined | Error,
  ): RolloutState {
    const measurements: MeasurementObservation[] = value
      ? dueMeasurements(r, now).map((d) => ({
          wave: d.wave,
          analysis: d.analysis,
          round: d.round,
          results: d.clusters.map((cluster) => {
            const v = value(cluster, d.round);
            return v instanceof Error
              ? { cluster, error: v.message }
              : v === undefined
                ? { cluster }
                : { cluster, value: v };
          }),
        }))
      : [];
    const result = step(r, this.observations(r, measurements), now);
    this.events.push(...result.actions.flatMap((a) => (a.kind === "EmitEvent" ? [`${a.type}: ${a.message}`] : [])));
    let next = result.rollout;
    for (const a of result.actions.filter(isWriteAction)) {
      this.generation++;
      this.written.push(`${a.kind}:${a.cluster}`);
      next = recordWrite(next, a, this.generation, now);
      this.reports[a.cluster] = {
        observedGeneration: this.generation,
        revision: a.target.revision,
        health: "healthy",
        phase: "synced",
      };
    }
    return next;
  }

  run(
    r: RolloutState,
    from: number,
    until: number,
    value?: (cluster: string | undefined, round: number) => number | undefined | Error,
  ): RolloutState {
    let next = r;
    for (let t = from; t <= until; t += S) next = this.tick(next, t, value);
    return next;
  }
}

function stateOf(r: RolloutState, cluster: string): string {
  return findCluster(r, cluster)?.progress.state ?? "absent";
}

describe("calendar windows (pure: windows and now in, verdict out)", () => {
  const at = (iso: string) => Date.parse(iso);
  const weekdayNights: WindowInput = {
    kind: "allow",
    schedule: "0 2 * * 1-5",
    timeZone: "Europe/Paris",
    durationSeconds: 3 * 3600,
  };
  const fridayDeny: WindowInput = { kind: "deny", schedule: "0 12 * * 5", durationSeconds: 12 * 3600 };
  type Row = [title: string, windows: WindowInput[], now: string, open: boolean, reason?: RegExp];
  const rows: Row[] = [
    ["no windows: always open", [], "2026-11-30T12:00:00Z", true],
    // Monday 30 Nov 2026; Paris is UTC+1 in winter: 02:00 local is 01:00 UTC.
    ["inside a weekday allow window (Paris time)", [weekdayNights], "2026-11-30T01:30:00Z", true],
    ["at its very start", [weekdayNights], "2026-11-30T01:00:00Z", true],
    [
      "just after it closed",
      [weekdayNights],
      "2026-11-30T04:00:00Z",
      false,
      /outside every allow window .*the next opens at 2026-12-01T01:00:00.000Z/,
    ],
    [
      "on a Saturday the next opens on Monday",
      [weekdayNights],
      "2026-12-05T12:00:00Z",
      false,
      /next opens at 2026-12-07T01:00:00.000Z/,
    ],
    // Summer time: 02:00 Paris is 00:00 UTC.
    ["summer: the local time holds across daylight saving", [weekdayNights], "2026-07-01T00:30:00Z", true],
    ["summer: 01:30 UTC is 03:30 Paris, inside", [weekdayNights], "2026-07-01T01:30:00Z", true],
    ["summer: 03:30 UTC is 05:30 Paris, outside", [weekdayNights], "2026-07-01T03:30:00Z", false],
    [
      "a deny window wins over an allow window",
      [{ ...weekdayNights, schedule: "0 0 * * *", durationSeconds: 86_400 }, fridayDeny],
      "2026-12-04T13:00:00Z",
      false,
      /inside deny window "0 12 \* \* 5" UTC for 43200s until 2026-12-05T00:00:00.000Z/,
    ],
    ["outside the deny window", [fridayDeny], "2026-12-04T11:59:59Z", true],
    [
      "a described window names itself",
      [{ ...fridayDeny, description: "weekend freeze" }],
      "2026-12-04T18:00:00Z",
      false,
      /weekend freeze/,
    ],
  ];
  it.each(rows)("%s", (_title, windows, now, open, reason) => {
    const verdict = windowVerdict(parsePolicy({ windows }).windows, at(now));
    expect(verdict.open).toBe(open);
    if (!verdict.open && reason) expect(verdict.reason).toMatch(reason);
  });
});

describe("holds: closed windows and freezes", () => {
  const freeze: Hold = { kind: "freeze", reason: "environment prod is frozen by admin: incident 7" };

  it("a held rollout starts no wave, writes nothing and says why; it starts when released", () => {
    const fleet = new Fleet();
    fleet.holds = [freeze];
    let r = fleet.run(rolloutOf({}), 0, 5 * S);
    expect(fleet.written).toEqual([]);
    expect(r.hold).toMatchObject({ kind: "freeze", reason: freeze.reason, sinceMs: 0 });
    expect(r.waves[0]?.status).toBe("pending");
    expect(clusterStandings(r)["canary-1"]).toBe(`waiting: held, ${freeze.reason}`);
    expect(fleet.events.filter((e) => e.startsWith("Held"))).toHaveLength(1);
    fleet.holds = [];
    r = fleet.run(r, 6 * S, 200 * S);
    expect(r.hold).toBeUndefined();
    expect(r.state).toBe("Succeeded");
    expect(fleet.events.some((e) => e.startsWith("Released"))).toBe(true);
  });

  it("a hold that starts mid-rollout lets in-flight clusters finish but starts no next wave", () => {
    const fleet = new Fleet();
    const policy: PolicyInput = {
      waves: [
        { name: "canary", selector: { tier: "canary" }, bakeSeconds: 0 },
        { name: "main", selector: { tier: "main" }, bakeSeconds: 0 },
      ],
    };
    let r = fleet.tick(rolloutOf(policy), 0);
    expect(fleet.written).toEqual(["WriteDesired:canary-1"]);
    fleet.holds = [{ kind: "window", reason: "outside every allow window" }];
    r = fleet.run(r, S, 10 * S);
    expect(stateOf(r, "canary-1")).toBe("healthy");
    expect(r.waves[0]?.status).toBe("succeeded");
    expect(r.waves[1]?.status).toBe("pending");
    expect(fleet.written).toEqual(["WriteDesired:canary-1"]);
  });

  it("a failing cluster is still rolled back while held", () => {
    const fleet = new Fleet();
    let r = fleet.tick(rolloutOf({ waves: [{ name: "canary", selector: { tier: "canary" } }] }), 0);
    fleet.holds = [freeze];
    const report = fleet.reports["canary-1"];
    if (report) report.health = "degraded";
    r = fleet.run(r, S, 3 * S);
    expect(r.state).toBe("RolledBack");
    expect(fleet.written).toContain("RollbackCluster:canary-1");
  });

  it("override: windows and freezes no longer hold this rollout; it is said once, with who", () => {
    const fleet = new Fleet();
    fleet.holds = [freeze];
    let r = fleet.run(rolloutOf({}), 0, 2 * S);
    const overridden = command(r, "override", 3 * S, "token ops");
    expect(overridden.rollout.holdOverride).toEqual({ atMs: 3 * S, by: "token ops" });
    expect(overridden.actions.map((a) => (a.kind === "EmitEvent" ? a.message : ""))).toEqual([
      `windows and freezes no longer hold this rollout by token ops (held: ${freeze.reason})`,
    ]);
    expect(command(overridden.rollout, "override", 4 * S).actions).toEqual([]);
    r = fleet.run(overridden.rollout, 4 * S, 200 * S);
    expect(r.hold).toBeUndefined();
    expect(r.state).toBe("Succeeded");
  });

  it("a changed reason is recorded (and said) again; the same one is not", () => {
    const fleet = new Fleet();
    fleet.holds = [{ kind: "window", reason: "next opens at 10:00" }];
    let r = fleet.run(rolloutOf({}), 0, 2 * S);
    fleet.holds = [{ kind: "window", reason: "next opens at 11:00" }];
    r = fleet.run(r, 3 * S, 4 * S);
    expect(r.hold).toEqual({ kind: "window", reason: "next opens at 11:00", sinceMs: 0 });
    expect(fleet.events.filter((e) => e.startsWith("Held"))).toHaveLength(2);
  });
});

describe("app dependencies", () => {
  it("a blocked cluster is not written and says which app holds it; the others go ahead; it goes once unblocked", () => {
    const fleet = new Fleet();
    const policy: PolicyInput = { remaining: { maxConcurrency: 2, bakeSeconds: 0 } };
    fleet.blockedBy = { "canary-1": "app db on cluster canary-1 (Progressing)" };
    let r = fleet.run(rolloutOf(policy), 0, 5 * S);
    expect(fleet.written).toEqual(["WriteDesired:main-1"]);
    expect(stateOf(r, "canary-1")).toBe("pending");
    expect(clusterStandings(r)["canary-1"]).toBe("waiting: blocked by app db on cluster canary-1 (Progressing)");
    expect(r.state).toBe("Progressing");
    expect(fleet.events.filter((e) => e.startsWith("ClusterBlocked"))).toHaveLength(1);
    fleet.blockedBy = {};
    r = fleet.run(r, 6 * S, 20 * S);
    expect(fleet.written).toEqual(["WriteDesired:main-1", "WriteDesired:canary-1"]);
    expect(r.state).toBe("Succeeded");
  });

  it("a blocked cluster holds no slot", () => {
    const fleet = new Fleet();
    fleet.blockedBy = { "canary-1": "app db on cluster canary-1 (Degraded)" };
    fleet.run(rolloutOf({ remaining: { maxConcurrency: 1, bakeSeconds: 0 } }), 0, 3 * S);
    expect(fleet.written).toEqual(["WriteDesired:main-1"]);
  });
});

describe("metric analysis", () => {
  it("measures at each interval from the bake's start, and the wave waits for the count", () => {
    const fleet = new Fleet();
    let r = fleet.tick(canaryAnalysed(), 0);
    r = fleet.tick(r, S); // canary healthy: bake and analysis start
    const canary = r.waves[0];
    expect(canary?.status).toBe("baking");
    expect(canary?.analyses?.[0]).toMatchObject({ status: "running", startedAtMs: S, measurements: [] });
    expect(dueMeasurements(r, 10 * S)).toEqual([]);
    expect(dueMeasurements(r, 11 * S)).toEqual([
      { wave: "canary", analysis: "errors", round: 0, query: ERRORS.query, clusters: ["canary-1"] },
    ]);
    r = fleet.run(r, 2 * S, 30 * S, () => 0.01);
    expect(r.waves[0]?.analyses?.[0]?.measurements.map((m) => m.atMs)).toEqual([11 * S, 21 * S]);
    expect(r.waves[0]?.status).toBe("baking");
    expect(fleet.written).toEqual(["WriteDesired:canary-1"]);
    r = fleet.run(r, 31 * S, 60 * S, () => 0.01);
    expect(r.waves[0]?.analyses?.[0]?.status).toBe("succeeded");
    expect(r.state).toBe("Succeeded");
    expect(fleet.events.filter((e) => e.startsWith("AnalysisMeasured"))).toHaveLength(3);
  });

  it("a failing canary metric fails the wave and rolls back; the reason names the query, value and threshold", () => {
    const fleet = new Fleet();
    const r = fleet.run(canaryAnalysed(), 0, 60 * S, () => 0.42);
    expect(r.state).toBe("RolledBack");
    expect(r.failure?.kind).toBe("analysis-failed");
    expect(r.failure?.reason).toBe(
      'wave "canary": analysis "errors" failed 1 measurement(s), over its failure limit of 0: error_ratio{cluster="{{cluster}}"} on canary-1 = 0.42, wanted < 0.1',
    );
    expect(fleet.written).toEqual(["WriteDesired:canary-1", "RollbackCluster:canary-1"]);
    expect(stateOf(r, "main-1")).toBe("pending");
  });

  it("tolerates failures up to failureLimit", () => {
    const fleet = new Fleet();
    const r = fleet.run(canaryAnalysed({ ...ERRORS, failureLimit: 1 }), 0, 80 * S, (_c, round) =>
      round === 0 ? 0.5 : 0.01,
    );
    expect(r.waves[0]?.analyses?.[0]?.measurements.map((m) => m.verdict)).toEqual(["failure", "success", "success"]);
    expect(r.state).toBe("Succeeded");
  });

  type NoDataRow = [noData: "failure" | "success" | "inconclusive", state: string, status: string];
  it.each<NoDataRow>([
    ["failure", "RolledBack", "failed"],
    ["success", "Succeeded", "succeeded"],
    ["inconclusive", "Paused", "inconclusive"],
  ])("a query with no data, noData %s: the rollout ends %s", (noData, state, status) => {
    const fleet = new Fleet();
    const r = fleet.run(canaryAnalysed({ ...ERRORS, noData, inconclusiveLimit: 0 }), 0, 80 * S, () => undefined);
    expect(r.state).toBe(state);
    expect(r.waves[0]?.analyses?.[0]?.status).toBe(status);
    expect(r.waves[0]?.analyses?.[0]?.measurements[0]?.message).toContain(`returned no data (noData: ${noData})`);
  });

  it("a query error is inconclusive; over the limit it pauses; resume measures again", () => {
    const fleet = new Fleet();
    let r = fleet.run(canaryAnalysed({ ...ERRORS, inconclusiveLimit: 1 }), 0, 40 * S, () => new Error("timeout"));
    expect(r.state).toBe("Paused");
    const run = r.waves[0]?.analyses?.[0];
    expect(run?.status).toBe("inconclusive");
    expect(run?.reason).toMatch(/inconclusive 2 time\(s\), over its limit of 1: .* could not be measured: timeout/);
    expect(fleet.written).toEqual(["WriteDesired:canary-1"]);
    // Paused: no more measurements are due.
    expect(dueMeasurements(r, 100 * S)).toEqual([]);
    const resumed = command(r, "resume", 41 * S).rollout;
    expect(resumed.waves[0]?.analyses?.[0]).toMatchObject({ status: "running", measurements: [] });
    r = fleet.run(resumed, 42 * S, 120 * S, () => 0);
    expect(r.state).toBe("Succeeded");
  });

  it("records a measurement once: the same observation fed again changes nothing", () => {
    const fleet = new Fleet();
    const r = fleet.run(canaryAnalysed(), 0, 10 * S);
    const [due] = dueMeasurements(r, 11 * S);
    if (!due) throw new Error("nothing due");
    const m: MeasurementObservation = { ...due, results: [{ cluster: "canary-1", value: 0 }] };
    const once = step(r, fleet.observations(r, [m]), 11 * S).rollout;
    const twice = step(once, fleet.observations(once, [m]), 11 * S);
    expect(twice.rollout).toEqual(once);
    expect(twice.actions.filter((a: Action) => a.kind === "EmitEvent")).toEqual([]);
    expect(once.waves[0]?.analyses?.[0]?.measurements).toHaveLength(1);
  });

  it("a query naming {{cluster}} is measured on every changed cluster; the worst one decides the round", () => {
    const fleet = new Fleet();
    const perCluster = rolloutOf({
      remaining: { maxConcurrency: 2, bakeSeconds: 0, analysis: [ERRORS] },
    });
    const r = fleet.run(perCluster, 0, 30 * S, (c) => (c === "main-1" ? 0.3 : 0));
    expect(r.state).toBe("RolledBack");
    expect(r.failure?.reason).toContain("on main-1 = 0.3");
    expect(r.failure?.reason).not.toContain("canary-1");
  });

  it("a wave whose desired states did not change skips its analyses", () => {
    const fleet = new Fleet();
    let next = fleet.tick(canaryAnalysed(), 0);
    // The write changed nothing: the cluster's desired state already was the target.
    const c = findCluster(next, "canary-1")?.progress;
    if (c) c.unchanged = true;
    next = fleet.run(next, S, 5 * S);
    expect(next.waves[0]?.analyses?.[0]).toMatchObject({ status: "skipped" });
    expect(next.state).toBe("Succeeded");
  });
});

describe("a cluster that asks for a freeze (heartbeat), under offlineClusters", () => {
  const REASON = "etcd defrag";
  const policy = (offlineClusters: "block" | "skip"): PolicyInput => ({
    offlineClusters,
    remaining: { maxConcurrency: 2, bakeSeconds: 0 },
  });
  type Row = [
    title: string,
    offlineClusters: "block" | "skip",
    frozen: Record<string, string>,
    offline: string[],
    wantWritten: string[],
    wantState: string,
    wantCanary: { state: string; why: string },
  ];
  const rows: Row[] = [
    [
      "block: the frozen cluster waits with the reason, the others go ahead, the wave waits",
      "block",
      { "canary-1": REASON },
      [],
      ["WriteDesired:main-1"],
      "Progressing",
      { state: "pending", why: `waiting: cluster requested a freeze: ${REASON} (offlineClusters: block)` },
    ],
    [
      "skip: the frozen cluster is left behind and reported; the rollout succeeds without it",
      "skip",
      { "canary-1": REASON },
      [],
      ["WriteDesired:main-1"],
      "Succeeded",
      {
        state: "skipped",
        why: `skipped: cluster requested a freeze: ${REASON} when its turn came (offlineClusters: skip)`,
      },
    ],
    [
      "no freeze asked: both written",
      "block",
      {},
      [],
      ["WriteDesired:canary-1", "WriteDesired:main-1"],
      "Succeeded",
      { state: "healthy", why: "healthy at generation 2" },
    ],
    [
      "an offline cluster that asked for a freeze says it is offline",
      "block",
      { "canary-1": REASON },
      ["canary-1"],
      ["WriteDesired:main-1"],
      "Progressing",
      { state: "pending", why: "waiting: cluster is Offline (offlineClusters: block)" },
    ],
  ];
  it.each(rows)("%s", (_t, offlineClusters, frozen, offline, wantWritten, wantState, wantCanary) => {
    const fleet = new Fleet();
    fleet.freeze = frozen;
    fleet.offline = new Set(offline);
    const r = fleet.run(rolloutOf(policy(offlineClusters)), 0, 10 * S);
    expect([...fleet.written].sort()).toEqual(wantWritten);
    expect(r.state).toBe(wantState);
    expect(stateOf(r, "canary-1")).toBe(wantCanary.state);
    expect(clusterStandings(r)["canary-1"]).toBe(wantCanary.why);
  });

  it("block: once the cluster lifts its freeze it is written and the rollout completes; said once", () => {
    const fleet = new Fleet();
    fleet.freeze = { "canary-1": REASON };
    let r = fleet.run(rolloutOf(policy("block")), 0, 5 * S);
    expect(fleet.events.filter((e) => e.startsWith("ClusterWaitingFrozen"))).toHaveLength(1);
    fleet.freeze = {};
    r = fleet.run(r, 6 * S, 20 * S);
    expect(fleet.written).toEqual(["WriteDesired:main-1", "WriteDesired:canary-1"]);
    expect(r.state).toBe("Succeeded");
  });

  it("block: a frozen cluster holds no slot", () => {
    const fleet = new Fleet();
    fleet.freeze = { "canary-1": REASON };
    fleet.run(rolloutOf({ remaining: { maxConcurrency: 1, bakeSeconds: 0 } }), 0, 3 * S);
    expect(fleet.written).toEqual(["WriteDesired:main-1"]);
  });

  it("a cluster already written that asks for a freeze is still judged and completes", () => {
    const fleet = new Fleet();
    let r = fleet.tick(rolloutOf(policy("block")), 0);
    expect(fleet.written).toEqual(["WriteDesired:canary-1", "WriteDesired:main-1"]);
    fleet.freeze = { "canary-1": REASON };
    r = fleet.run(r, S, 5 * S);
    expect(r.state).toBe("Succeeded");
  });
});

describe("windows and freezes limited to a cluster selector", () => {
  it("only the held cluster waits (no slot, with the reason); the others go ahead; it goes once released", () => {
    const fleet = new Fleet();
    const reason = "clusters tier=canary of environment prod are frozen by admin: canary hardware swap";
    fleet.held = { "canary-1": reason };
    let r = fleet.run(rolloutOf({ remaining: { maxConcurrency: 1, bakeSeconds: 0 } }), 0, 5 * S);
    expect(fleet.written).toEqual(["WriteDesired:main-1"]);
    expect(r.hold).toBeUndefined();
    expect(clusterStandings(r)["canary-1"]).toBe(`waiting: held, ${reason}`);
    expect(r.state).toBe("Progressing");
    expect(fleet.events.filter((e) => e.startsWith("ClusterHeld"))).toHaveLength(1);
    fleet.held = {};
    r = fleet.run(r, 6 * S, 20 * S);
    expect(fleet.written).toEqual(["WriteDesired:main-1", "WriteDesired:canary-1"]);
    expect(r.state).toBe("Succeeded");
  });

  it("an override lifts a selector's hold for its rollout, not a cluster's own freeze", () => {
    const fleet = new Fleet();
    fleet.held = { "canary-1": "clusters tier=canary: inside deny window" };
    fleet.freeze = { "main-1": "etcd defrag" };
    const r = fleet.run(command(rolloutOf({}), "override", 0, "ops").rollout, 0, 5 * S);
    expect(fleet.written).toEqual(["WriteDesired:canary-1"]);
    expect(clusterStandings(r)["main-1"]).toBe(
      "waiting: cluster requested a freeze: etcd defrag (offlineClusters: block)",
    );
  });

  const at = Date.UTC(2026, 10, 30, 12, 0, 0); // a Monday, 12:00 UTC
  const window = (w: Partial<Window>): Window => ({
    kind: "deny",
    schedule: "0 11 * * *",
    timeZone: "UTC",
    durationSeconds: 7200,
    ...w,
  });
  const freeze = (f: Partial<Freeze>): Freeze => ({
    scope: "environment",
    environment: "prod",
    reason: "incident 7",
    by: "admin",
    atMs: 0,
    ...f,
  });
  const clusters = [
    { name: "canary-1", labels: { tier: "canary", region: "eu" } },
    { name: "eu-1", labels: { tier: "main", region: "eu" } },
    { name: "us-1", labels: { tier: "main", region: "us" } },
  ];
  type Row = [title: string, windows: Window[], freezes: Freeze[], whole: string[], held: Record<string, string>];
  const rows: Row[] = [
    ["nothing", [], [], [], {}],
    [
      "an open deny window of one selector holds only its clusters",
      [window({ selector: { region: "eu" } })],
      [],
      [],
      {
        "canary-1": 'clusters region=eu: inside deny window "0 11 * * *" UTC for 7200s until 2026-11-30T13:00:00.000Z',
        "eu-1": 'clusters region=eu: inside deny window "0 11 * * *" UTC for 7200s until 2026-11-30T13:00:00.000Z',
      },
    ],
    [
      "a closed deny window of a selector holds nothing",
      [window({ selector: "region=us", schedule: "0 3 * * *" })],
      [],
      [],
      {},
    ],
    [
      "a selector's allow window that is closed holds its clusters only",
      [window({ kind: "allow", selector: "tier=canary", schedule: "0 2 * * *", durationSeconds: 3600 })],
      [],
      [],
      {
        "canary-1":
          'clusters tier=canary: outside every allow window ("0 2 * * *" UTC for 3600s); the next opens at 2026-12-01T02:00:00.000Z',
      },
    ],
    [
      "a whole-environment window holds the rollout",
      [window({})],
      [],
      ['window: inside deny window "0 11 * * *" UTC for 7200s until 2026-11-30T13:00:00.000Z'],
      {},
    ],
    [
      "an environment freeze with a selector holds its clusters only",
      [],
      [freeze({ selector: "region in (us)" })],
      [],
      { "us-1": "clusters region in (us) of environment prod are frozen by admin: incident 7" },
    ],
    [
      "a freeze of another environment holds nothing; the fleet's holds all",
      [],
      [freeze({ environment: "staging" }), freeze({ scope: "fleet", environment: undefined, reason: "year end" })],
      ["freeze: the fleet is frozen by admin: year end"],
      {},
    ],
    [
      "with a selector freeze and a selector window on one cluster, the first (the window) names it",
      [window({ selector: { tier: "canary" } })],
      [freeze({ selector: { tier: "canary" } })],
      [],
      {
        "canary-1":
          'clusters tier=canary: inside deny window "0 11 * * *" UTC for 7200s until 2026-11-30T13:00:00.000Z',
      },
    ],
  ];
  it.each(rows)("holdsAt: %s", (_t, windows, freezes, whole, held) => {
    const { holds, limited } = holdsAt(windows, freezes, "prod", at);
    expect(holds.map((h) => `${h.kind}: ${h.reason}`)).toEqual(whole);
    expect(Object.fromEntries(heldClusters(limited, clusters))).toEqual(held);
  });
});

describe("pre-promotion analysis", () => {
  const SAFE: AnalysisInput = {
    name: "safe",
    query: 'incidents{cluster="{{cluster}}"}',
    successCondition: { operator: "<", threshold: 1 },
    intervalSeconds: 2,
    count: 2,
    phase: "prePromotion",
  };
  const policy = (analysis: AnalysisInput = SAFE, first = false): PolicyInput => ({
    waves: [
      { name: "canary", selector: { tier: "canary" }, bakeSeconds: 0, ...(first ? { analysis: [analysis] } : {}) },
      { name: "main", selector: { tier: "main" }, bakeSeconds: 0, ...(first ? {} : { analysis: [analysis] }) },
    ],
  });

  it("measures the clusters the wave is about to write, before it writes any; passes, then writes", () => {
    const fleet = new Fleet();
    const measured: string[] = [];
    let r = fleet.run(rolloutOf(policy()), 0, 2 * S, (cluster) => {
      measured.push(cluster ?? "");
      return 0;
    });
    // Canary done at 1 s; main's pre-promotion started then, first measurement 2 s later.
    expect(fleet.written).toEqual(["WriteDesired:canary-1"]);
    expect(r.waves[1]?.status).toBe("pending");
    expect(r.waves[1]?.analyses?.[0]).toMatchObject({ status: "running", startedAtMs: S });
    expect(clusterStandings(r)["main-1"]).toBe(
      'waiting: pre-promotion analysis "safe" of wave "main" is measuring (0/2)',
    );
    r = fleet.run(r, 3 * S, 10 * S, (cluster) => {
      measured.push(cluster ?? "");
      return 0;
    });
    expect(measured).toEqual(["main-1", "main-1"]);
    expect(r.waves[1]?.analyses?.[0]?.status).toBe("succeeded");
    expect(fleet.written).toEqual(["WriteDesired:canary-1", "WriteDesired:main-1"]);
    expect(r.state).toBe("Succeeded");
    expect(r.waves[1]?.startedAtMs).toBeGreaterThanOrEqual(5 * S);
    expect(fleet.events.filter((e) => e.startsWith("PrePromotionAnalysisStarted"))).toHaveLength(1);
  });

  it("a failing pre-promotion check fails the rollout before the wave writes; the canary is rolled back", () => {
    const fleet = new Fleet();
    const r = fleet.run(rolloutOf(policy()), 0, 10 * S, () => 3);
    expect(r.state).toBe("RolledBack");
    expect(r.failure?.kind).toBe("analysis-failed");
    expect(r.failure?.reason).toBe(
      'wave "main": pre-promotion analysis "safe" failed 1 measurement(s), over its failure limit of 0: incidents{cluster="{{cluster}}"} on main-1 = 3, wanted < 1',
    );
    expect(fleet.written).toEqual(["WriteDesired:canary-1", "RollbackCluster:canary-1"]);
  });

  it("on the first wave: nothing is written until it passes", () => {
    const fleet = new Fleet();
    let r = fleet.run(rolloutOf(policy(SAFE, true)), 0, 3 * S, () => 0);
    expect(fleet.written).toEqual([]);
    r = fleet.run(r, 4 * S, 10 * S, () => 0);
    expect(fleet.written[0]).toBe("WriteDesired:canary-1");
    expect(r.state).toBe("Succeeded");
  });

  it("is not measured while the rollout is held, and not before promote when the wave needs approval", () => {
    const fleet = new Fleet();
    fleet.holds = [{ kind: "freeze", reason: "frozen" }];
    let r = fleet.run(rolloutOf(policy(SAFE, true)), 0, 5 * S);
    expect(dueMeasurements(r, 100 * S)).toEqual([]);
    expect(r.waves[0]?.analyses?.[0]?.status).toBe("pending");
    fleet.holds = [];
    const gated = rolloutOf({
      waves: [{ name: "canary", selector: { tier: "canary" }, requireApproval: true, analysis: [SAFE] }],
    });
    r = fleet.run(gated, 0, 5 * S);
    expect(r.waves[0]?.status).toBe("awaiting-approval");
    expect(dueMeasurements(r, 100 * S)).toEqual([]);
  });
});
