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
  natsDownSinceMs: 0,
};

describe("assessReadiness", () => {
  it.each<[string, Partial<ReadinessSignals>, boolean, boolean, boolean, boolean]>([
    ["API answered recently, the loop runs, NATS connected", {}, true, true, true, true],
    [
      "NATS cut off for less than a heartbeat interval",
      { natsConnected: false, natsDownSinceMs: NOW - INTERVAL },
      true,
      true,
      true,
      true,
    ],
    [
      "NATS cut off for longer than a heartbeat interval",
      { natsConnected: false, natsDownSinceMs: NOW - INTERVAL - 1 },
      false,
      true,
      true,
      false,
    ],
    ["the last probe failed", { kubeError: "connect ECONNREFUSED" }, false, false, true, true],
    ["no API answer for too long (a hung probe)", { kubeAnsweredAtMs: LATE }, false, false, true, true],
    ["the API never answered", { kubeAnsweredAtMs: 0 }, false, false, true, true],
    ["the loop stopped", { loopAtMs: LATE }, false, true, false, true],
  ])("%s", (_n, change, ready, kube, loop, nats) => {
    const r = assessReadiness({ ...ok, ...change }, NOW, INTERVAL);
    expect([r.ready, r.checks.kubernetes.ok, r.checks.loop.ok, r.checks.nats.ok]).toEqual([ready, kube, loop, nats]);
  });

  it("says why", () => {
    const r = assessReadiness({ ...ok, kubeError: "connect ECONNREFUSED" }, NOW, INTERVAL);
    expect(r.checks.kubernetes.message).toBe("API server unreachable: connect ECONNREFUSED (last answer 5s ago)");
  });
});
