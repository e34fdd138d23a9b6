import { Health, SyncPhase } from "@flotilla/proto";
import { describe, expect, it } from "vitest";
import { type AgentBehaviour, DEFAULT_BEHAVIOUR, failsRevision, reportPlan } from "./behaviour.js";

const behaviour = (change: Partial<AgentBehaviour>): AgentBehaviour => ({ ...DEFAULT_BEHAVIOUR, ...change });
const { FETCHING, RENDERING, VALIDATING, APPLYING, SYNCED, FAILED } = {
  FETCHING: SyncPhase.SYNC_PHASE_FETCHING,
  RENDERING: SyncPhase.SYNC_PHASE_RENDERING,
  VALIDATING: SyncPhase.SYNC_PHASE_VALIDATING,
  APPLYING: SyncPhase.SYNC_PHASE_APPLYING,
  SYNCED: SyncPhase.SYNC_PHASE_SYNCED,
  FAILED: SyncPhase.SYNC_PHASE_FAILED,
};

describe("reportPlan", () => {
  it.each([
    { name: "one report: the verdict alone", reports: 1, delay: 0, phases: [SYNCED], times: [0] },
    { name: "two: applying, then the verdict", reports: 2, delay: 100, phases: [APPLYING, SYNCED], times: [0, 100] },
    {
      name: "five: every phase a real agent reports, spread over the delay",
      reports: 5,
      delay: 1000,
      phases: [FETCHING, RENDERING, VALIDATING, APPLYING, SYNCED],
      times: [0, 200, 400, 600, 1000],
    },
    {
      name: "more than five is five",
      reports: 9,
      delay: 0,
      phases: [FETCHING, RENDERING, VALIDATING, APPLYING, SYNCED],
    },
    { name: "fewer than one is one", reports: 0, delay: 0, phases: [SYNCED] },
  ])("$name", ({ reports, delay, phases, times }) => {
    const plan = reportPlan(
      behaviour({ reportsPerRevision: reports, reportDelayMs: delay }),
      false,
      Health.HEALTH_UNKNOWN,
    );
    expect(plan.map((p) => p.phase)).toEqual(phases);
    if (times) expect(plan.map((p) => p.afterMs)).toEqual(times);
  });

  it("work phases carry the health from before; only the verdict is healthy", () => {
    const plan = reportPlan(behaviour({ reportsPerRevision: 3 }), false, Health.HEALTH_PROGRESSING);
    expect(plan.map((p) => p.health)).toEqual([
      Health.HEALTH_PROGRESSING,
      Health.HEALTH_PROGRESSING,
      Health.HEALTH_HEALTHY,
    ]);
    expect(plan.every((p) => p.error === undefined)).toBe(true);
  });

  it("a failing revision ends failed and degraded, with an apply error", () => {
    const verdict = reportPlan(behaviour({}), true, Health.HEALTH_HEALTHY).at(-1);
    expect(verdict).toMatchObject({ phase: FAILED, health: Health.HEALTH_DEGRADED, error: { retryable: false } });
  });
});

describe("failsRevision", () => {
  const clusters = Array.from({ length: 2000 }, (_, i) => `c-${i}`);

  it.each([
    { ratio: 0, share: 0 },
    { ratio: 1, share: 1 },
  ])("ratio $ratio fails a share of $share", ({ ratio, share }) => {
    expect(clusters.filter((c) => failsRevision(c, "abc", ratio)).length).toBe(clusters.length * share);
  });

  it("a ratio of 0.1 fails about a tenth, the same ones every time", () => {
    const failing = clusters.filter((c) => failsRevision(c, "abc", 0.1));
    expect(failing.length).toBeGreaterThan(150);
    expect(failing.length).toBeLessThan(250);
    expect(clusters.filter((c) => failsRevision(c, "abc", 0.1))).toEqual(failing);
    expect(clusters.filter((c) => failsRevision(c, "def", 0.1))).not.toEqual(failing);
  });
});
