import { describe, expect, it } from "vitest";
import { assessReadiness, READINESS_MISSED_INTERVALS, type ReadinessSignals } from "./readiness.js";

const NOW = 1_000_000;
const INTERVAL = 10_000;
const LATE = NOW - READINESS_MISSED_INTERVALS * INTERVAL - 1;
const ok: ReadinessSignals = {
  kubeAnsweredAtMs: NOW - 5_000,
  kubeError: "",
  loopAtMs: NOW - 1_000,
  natsConnected: true,
};

describe("assessReadiness", () => {
  it.each<[string, Partial<ReadinessSignals>, boolean, boolean, boolean]>([
    ["API answered recently and the loop runs", {}, true, true, true],
    ["NATS down does not make it unready", { natsConnected: false }, true, true, true],
    ["the last probe failed", { kubeError: "connect ECONNREFUSED" }, false, false, true],
    ["no API answer for too long (a hung probe)", { kubeAnsweredAtMs: LATE }, false, false, true],
    ["the API never answered", { kubeAnsweredAtMs: 0 }, false, false, true],
    ["the loop stopped", { loopAtMs: LATE }, false, true, false],
  ])("%s", (_n, change, ready, kube, loop) => {
    const r = assessReadiness({ ...ok, ...change }, NOW, INTERVAL);
    expect([r.ready, r.checks.kubernetes.ok, r.checks.loop.ok]).toEqual([ready, kube, loop]);
    expect(r.nats.connected).toBe(change.natsConnected ?? true);
  });

  it("says why", () => {
    const r = assessReadiness({ ...ok, kubeError: "connect ECONNREFUSED" }, NOW, INTERVAL);
    expect(r.checks.kubernetes.message).toBe("API server unreachable: connect ECONNREFUSED (last answer 5s ago)");
  });
});
