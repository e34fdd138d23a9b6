import type { PlannedWave, RolloutSummary, RolloutView } from "@flotilla/api";
import { describe, expect, it } from "vitest";
import { currentWave, planText, rolloutChanges, rolloutRow, rolloutText, stateLine } from "./rolloutview.js";

const FROM = "1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const TO = "2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const SETTINGS = "5f3e2d1".padEnd(64, "0");
const NEW_SETTINGS = "9a8b7c6".padEnd(64, "0");

function rollout(over: Partial<RolloutView> = {}): RolloutView {
  return {
    version: 2,
    id: "r-1",
    app: "web",
    environment: "prod",
    from: { revision: FROM, settings: SETTINGS },
    to: { revision: TO, settings: SETTINGS },
    changed: ["revision"],
    state: "Progressing",
    progressDeadlineSeconds: 600,
    autoRollback: true,
    offlineClusters: "block",
    detectedAtMs: 0,
    startedAtMs: 1_000,
    waves: [
      {
        name: "canary",
        implicit: false,
        maxConcurrency: 1,
        failureBudget: 0,
        bakeSeconds: 60,
        requireApproval: false,
        status: "baking",
        bakeStartedAtMs: 10_000,
        clusters: [{ name: "prod-eu-1", state: "healthy", generation: 4, healthyAtMs: 10_000 }],
      },
      {
        name: "remaining",
        implicit: true,
        maxConcurrency: 1,
        failureBudget: 0,
        bakeSeconds: 60,
        requireApproval: true,
        status: "pending",
        clusters: [
          { name: "prod-us-1", state: "pending" },
          { name: "prod-ap-1", state: "pending" },
        ],
      },
    ],
    settled: false,
    leadTime: { waves: [], startsAt: "commit" },
    ...over,
  };
}

describe("rollout views", () => {
  it("the list row, from the list's summary: short SHAs, current wave, cluster count", () => {
    const summary: RolloutSummary = {
      id: "r-1",
      app: "web",
      environment: "prod",
      from: { revision: FROM, settings: SETTINGS },
      to: { revision: TO, settings: SETTINGS },
      changed: ["revision"],
      state: "Progressing",
      detectedAtMs: 0,
      waves: [
        { name: "canary", status: "succeeded", clusters: 1 },
        { name: "remaining", status: "progressing", clusters: 2 },
      ],
    };
    expect(rolloutRow(summary, 130_000)).toEqual([
      "r-1",
      "web",
      "prod",
      "revision",
      "1111111 → 2222222",
      "Progressing",
      "remaining (2/2)",
      "3",
      "2m",
    ]);
    const { from: _from, ...first } = summary;
    expect(rolloutRow({ ...first, changed: ["revision", "settings"], state: "Failed" }, 0)).toEqual([
      "r-1",
      "web",
      "prod",
      "revision+settings",
      "(first) → 2222222",
      "Failed",
      "-",
      "3",
      "0s",
    ]);
  });

  it("the state line says what the current wave is doing, or how it ended", () => {
    expect(stateLine(rollout(), 22_000)).toBe("Progressing — wave 1/2 canary: baking 12s of 60s");
    const waiting = rollout();
    waiting.waves[0]!.status = "succeeded";
    waiting.waves[1]!.status = "awaiting-approval";
    expect(currentWave(waiting)?.wave.name).toBe("remaining");
    expect(stateLine(waiting, 0)).toBe(
      "Progressing — wave 2/2 remaining: awaiting approval: flotilla rollout promote r-1",
    );
    expect(stateLine(rollout({ state: "Succeeded", convergedAtMs: 181_000 }), 0)).toBe("Succeeded in 3m");
    expect(
      stateLine(
        rollout({ state: "RolledBack", failure: { kind: "budget-exceeded", reason: "prod-eu-1 degraded", atMs: 1 } }),
        0,
      ),
    ).toBe("RolledBack: prod-eu-1 degraded");
    expect(stateLine(rollout({ state: "Superseded", supersededBy: "r-2" }), 0)).toBe("Superseded by r-2");
  });

  it("shows a hold and a wave's analyses, in the state line and the detail page", () => {
    const held = rollout({
      hold: { kind: "freeze", reason: "environment prod is frozen by ops: incident 7", sinceMs: 2_000 },
    });
    held.waves[0]!.analyses = [
      {
        name: "errors",
        query: "ratio",
        successCondition: { operator: "<", threshold: 0.1 },
        noData: "inconclusive",
        intervalSeconds: 10,
        count: 3,
        failureLimit: 0,
        inconclusiveLimit: 2,
        phase: "bake",
        status: "running",
        startedAtMs: 10_000,
        measurements: [{ atMs: 20_000, verdict: "success", message: "ratio on prod-eu-1 = 0.01, wanted < 0.1" }],
      },
    ];
    expect(stateLine(held, 22_000)).toBe(
      "Progressing — wave 1/2 canary: baking 12s of 60s, analysis errors 1/3 (held: environment prod is frozen by ops: incident 7)",
    );
    const text = rolloutText(held, 22_000);
    expect(text).toMatch(
      /^Held: +20s ago by a freeze: environment prod is frozen by ops: incident 7 \(an admin may: flotilla rollout override r-1\)$/m,
    );
    expect(text).toMatch(
      /^Analyses:\n.*\ncanary +errors +running +1 ok, 0 failed, 0 inconclusive of 3 \(limits 0\/2\) +success: ratio on prod-eu-1 = 0.01, wanted < 0.1$/m,
    );
  });

  it("the detail page lists waves, then every cluster with its wave", () => {
    const text = rolloutText(rollout(), 22_000);
    expect(text).toMatch(/^Change: +revision$/m);
    expect(text).toMatch(/^Target: +1111111 → 2222222$/m);
    expect(text).toMatch(/^canary +baking +1 +1 +0 +1 +60s +0 +no$/m);
    expect(text).toMatch(/^remaining +pending +2 +0 +0 +1 +60s +0 +required$/m);
    expect(text).toMatch(/^prod-eu-1 +canary +healthy +4 +12s ago +-$/m);
    const settingsOnly = rolloutText(
      rollout({
        to: { revision: FROM, settings: NEW_SETTINGS },
        changed: ["settings"],
        commit: { message: "Bump chart\n\nlong body", author: "Dev <dev@example.com>", committedAtMs: 0 },
        settingsDiff: [
          { path: "helm.set.db.password", from: "(masked)", to: "(masked)" },
          { path: "helm.set.replicaCount", from: '"1"', to: '"3"' },
        ],
        waves: [
          {
            ...rollout().waves[0]!,
            clusters: [
              {
                name: "prod-eu-1",
                state: "healthy",
                generation: 4,
                healthyAtMs: 10_000,
                why: "healthy at generation 4, unchanged",
              },
            ],
          },
        ],
      }),
      22_000,
    );
    expect(settingsOnly).toMatch(/^Change: +settings$/m);
    expect(settingsOnly).toMatch(/^Target: +1111111, settings 5f3e2d1 → 9a8b7c6$/m);
    expect(settingsOnly).toMatch(/^Commit: +Bump chart \(Dev <dev@example.com>\)$/m);
    expect(settingsOnly).toMatch(/^ {2}helm\.set\.replicaCount: "1" → "3"$/m);
    expect(settingsOnly).toMatch(/^ {2}helm\.set\.db\.password: \(masked\) → \(masked\)$/m);
    expect(settingsOnly).toMatch(/^prod-eu-1 +canary +healthy +4 +12s ago +healthy at generation 4, unchanged$/m);
    expect(text).toMatch(/^prod-ap-1 +remaining +pending +- +- +-$/m);
    const { from: _from, ...firstDeploy } = rollout();
    expect(rolloutText(firstDeploy, 0)).toMatch(/^Target: +\(first deploy\) → 2222222$/m);
    const done = rolloutText(
      rollout({
        state: "Succeeded",
        leadTime: {
          waves: [{ wave: "canary", index: 0, durationSeconds: 75 }],
          commitToConvergedSeconds: 200,
          startsAt: "commit",
        },
      }),
      0,
    );
    expect(done).toMatch(/^Lead time: +commit → converged 3m, wave canary 75s$/m);
    expect(rolloutText(rollout({ state: "RolledBack", settled: false }), 0)).toMatch(/^Settled: +not yet/m);
  });

  it("changes: an introduction first, then one line per cluster, wave and rollout move", () => {
    const first = rollout();
    expect(rolloutChanges(undefined, first)).toEqual([
      "rollout r-1: app web in prod, revision changed: 1111111 → 2222222, waves canary(1) → remaining(2)",
      "cluster prod-eu-1 healthy (wave canary)",
      "wave canary baking",
      "rollout r-1 Progressing",
    ]);
    const next = structuredClone(first);
    next.waves[0]!.status = "succeeded";
    next.waves[1]!.status = "progressing";
    next.waves[1]!.clusters[0] = { name: "prod-us-1", state: "failed", reason: "image pull backoff" };
    next.state = "RolledBack";
    next.failure = { kind: "budget-exceeded", reason: "1 failed of budget 0", atMs: 5 };
    expect(rolloutChanges(first, next)).toEqual([
      "wave canary succeeded",
      "cluster prod-us-1 failed (wave remaining): image pull backoff",
      "wave remaining progressing",
      "rollout r-1 RolledBack: 1 failed of budget 0",
    ]);
    expect(rolloutChanges(next, next)).toEqual([]);
  });

  it("the plan preview names each wave's clusters and resolved settings", () => {
    const waves: PlannedWave[] = [
      {
        name: "canary",
        implicit: false,
        clusters: ["a"],
        offline: [],
        maxConcurrency: 1,
        failureBudget: 0,
        bakeSeconds: 60,
        requireApproval: false,
      },
      {
        name: "empty",
        implicit: false,
        clusters: [],
        offline: [],
        maxConcurrency: 1,
        failureBudget: 0,
        bakeSeconds: 60,
        requireApproval: true,
      },
      {
        name: "remaining",
        implicit: true,
        clusters: ["b", "c"],
        offline: ["c"],
        maxConcurrency: 1,
        failureBudget: 0,
        bakeSeconds: 60,
        requireApproval: false,
      },
    ];
    expect(planText(waves).split("\n")).toEqual([
      "WAVE                  CLUSTERS  NOT READY  MAX CONCURRENCY  BAKE  BUDGET  APPROVAL",
      "canary                a         -          1                60s   0       no",
      "empty                 (none)    -          1                60s   0       required",
      "remaining (implicit)  b,c       c          1                60s   0       no",
    ]);
    expect(planText([])).toMatch(/^no waves/);
  });
});
