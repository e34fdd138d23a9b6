import type { RolloutView, RolloutWaveView } from "@flotilla/api";
import { describe, expect, it } from "vitest";
import { bakeLeftSeconds, budgetOf, clusterReason, headline, notInAnyWave } from "./explain.js";

const T0 = 1_700_000_000_000;
const wave = (w: Partial<RolloutWaveView> & { name: string }): RolloutWaveView => ({
  implicit: false,
  maxConcurrency: 1,
  failureBudget: 0,
  bakeSeconds: 60,
  requireApproval: false,
  status: "pending",
  clusters: [],
  ...w,
});
const rollout = (r: Partial<RolloutView>): RolloutView => ({
  version: 2,
  id: "r1",
  app: "web",
  environment: "prod",
  from: { revision: "aaaaaaa1", settings: "" },
  to: { revision: "bbbbbbb2", settings: "" },
  changed: ["revision"],
  state: "Progressing",
  progressDeadlineSeconds: 600,
  autoRollback: true,
  offlineClusters: "block",
  waves: [],
  detectedAtMs: T0,
  settled: false,
  leadTime: { startsAt: "commit", waves: [] },
  ...r,
});

const baking = rollout({
  waves: [
    wave({
      name: "canary",
      status: "baking",
      bakeStartedAtMs: T0,
      clusters: [{ name: "canary-1", state: "healthy", why: 'healthy at generation 4; wave "canary" is baking' }],
    }),
    wave({
      name: "rest",
      clusters: [{ name: "prod-1", state: "pending", why: 'waiting for wave "canary" before wave "rest"' }],
    }),
  ],
});

describe("clusterReason", () => {
  it("counts a later wave's wait down with the bake", () => {
    const c = baking.waves[1]!.clusters[0]!;
    expect(clusterReason(baking, 1, c, T0 + 18_000)).toBe('waiting: wave "canary" baking, 42 s left');
    expect(clusterReason(baking, 1, c, T0 + 59_500)).toBe('waiting: wave "canary" baking, 1 s left');
  });
  it("says an offline cluster is blocked", () => {
    const c = baking.waves[1]!.clusters[0]!;
    expect(clusterReason(baking, 1, c, T0, "Offline")).toMatch(
      /^blocked: cluster offline, policy block; waiting for wave "canary"/,
    );
  });
  it("says a skipped cluster is blocked, with the engine's reason", () => {
    const r = rollout({
      waves: [
        wave({ name: "all", clusters: [{ name: "c", state: "skipped", reason: "offline at planning (policy skip)" }] }),
      ],
    });
    expect(clusterReason(r, 0, r.waves[0]!.clusters[0]!, T0)).toBe("blocked: offline at planning (policy skip)");
  });
  it("names a wave that waits for promote", () => {
    const r = rollout({
      waves: [
        wave({
          name: "canary",
          status: "awaiting-approval",
          requireApproval: true,
          clusters: [{ name: "a", state: "pending", why: 'waiting for promote: wave "canary" requires approval' }],
        }),
        wave({ name: "rest", clusters: [{ name: "b", state: "pending" }] }),
      ],
    });
    expect(clusterReason(r, 0, r.waves[0]!.clusters[0]!, T0)).toBe(
      'waiting for promote: wave "canary" requires approval',
    );
    expect(clusterReason(r, 1, r.waves[1]!.clusters[0]!, T0)).toBe('waiting: wave "canary" awaits promote');
    expect(headline(r, T0)).toBe('Waiting for promote: wave "canary" requires approval');
  });
  it("keeps the hub's words once the rollout ended", () => {
    const r = rollout({
      ...baking,
      state: "Failed",
      failure: { kind: "budget-exceeded", reason: "canary-1 failed", atMs: T0 },
    });
    expect(clusterReason(r, 1, r.waves[1]!.clusters[0]!, T0)).toBe('waiting for wave "canary" before wave "rest"');
  });
});

describe("waves", () => {
  it("bake time left never goes below zero, nor above the bake when the page's clock lags its start", () => {
    expect(bakeLeftSeconds(baking.waves[0]!, T0 + 120_000)).toBe(0);
    expect(bakeLeftSeconds(baking.waves[0]!, T0 - 900)).toBe(60);
    expect(bakeLeftSeconds(baking.waves[0]!, T0 + 1_500)).toBe(59);
    expect(bakeLeftSeconds(baking.waves[1]!, T0)).toBeUndefined();
  });
  it("the failure budget is exceeded past its count", () => {
    const w = wave({
      name: "w",
      failureBudget: 1,
      clusters: [
        { name: "a", state: "failed" },
        { name: "b", state: "rolled-back", failedAtMs: T0 },
      ],
    });
    expect(budgetOf(w)).toEqual({ failed: 2, budget: 1, exceeded: true });
  });
  it("lists the environment's clusters no wave holds", () => {
    expect(notInAnyWave(baking, ["canary-1", "prod-1", "prod-2"]).map((c) => c.name)).toEqual(["prod-2"]);
  });
  it("says what the rollout as a whole waits for", () => {
    expect(headline(baking, T0 + 18_000)).toBe('Baking wave "canary": 42 s left before the next wave');
    expect(
      headline(
        rollout({ state: "RolledBack", failure: { kind: "budget-exceeded", reason: "x failed", atMs: T0 } }),
        T0,
      ),
    ).toBe("Rolled back to aaaaaaa: x failed");
  });
});
