import { describe, expect, it } from "vitest";
import type { ClusterStatus } from "../store.js";
import { type LivenessInput, nextClusterStatus } from "./liveness.js";

const policy = { heartbeatIntervalMs: 1000, offlineAfterMissed: 3 };
const beat = (atMs: number): LivenessInput => ({
  kind: "heartbeat",
  atMs,
  agentVersion: "0.1.0",
  kubernetesVersion: "v1.31.0",
  capabilities: [],
});
const sweep = (nowMs: number, listeningSinceMs?: number): LivenessInput => ({
  kind: "sweep",
  nowMs,
  ...(listeningSinceMs === undefined ? {} : { listeningSinceMs }),
});
const pending: ClusterStatus = { state: "Pending", changedAtMs: 0 };
const ready: ClusterStatus = { state: "Ready", lastHeartbeatMs: 10_000, changedAtMs: 5_000 };
const offline: ClusterStatus = { state: "Offline", lastHeartbeatMs: 10_000, changedAtMs: 13_500 };

describe("nextClusterStatus", () => {
  it.each([
    ["Pending + heartbeat", pending, beat(100), "Ready", 100],
    ["Pending + long silence", pending, sweep(1_000_000), "Pending", 0],
    ["Ready + heartbeat", ready, beat(11_000), "Ready", 5_000],
    ["Ready + silence of exactly N beats", ready, sweep(13_000), "Ready", 5_000],
    ["Ready + silence past N beats", ready, sweep(13_001), "Offline", 13_001],
    ["Ready + silence past N beats, listening all along", ready, sweep(13_001, 0), "Offline", 13_001],
    // The hub (re)subscribed at 12 000: beats before that may have been lost on the way.
    ["Ready + silence, listening only since", ready, sweep(13_001, 12_000), "Ready", 5_000],
    ["Ready + silence past N beats of listening", ready, sweep(15_001, 12_000), "Offline", 15_001],
    ["Ready + a sweep as of before listening began", ready, sweep(13_001, 20_000), "Ready", 5_000],
    ["Offline + heartbeat", offline, beat(20_000), "Ready", 20_000],
    ["Offline + silence", offline, sweep(99_000), "Offline", 13_500],
    ["unknown + heartbeat", undefined, beat(7), "Ready", 7],
  ] as const)("%s → %s", (_what, current, input, state, changedAtMs) => {
    const next = nextClusterStatus(current, input, policy);
    expect(next.state).toBe(state);
    expect(next.changedAtMs).toBe(changedAtMs);
  });

  it("records what the heartbeat says about the agent", () => {
    const next = nextClusterStatus(pending, beat(42), policy);
    expect(next).toMatchObject({ lastHeartbeatMs: 42, agentVersion: "0.1.0", kubernetesVersion: "v1.31.0" });
  });

  const asked = { reason: "etcd defrag", source: "configmap flotilla-system/maintenance" };
  const frozen: ClusterStatus = { ...ready, freeze: { ...asked, sinceMs: 9_000 } };
  it.each([
    ["no freeze asked, none before", ready, beat(11_000), undefined],
    [
      "asked for the first time: since this beat",
      ready,
      { ...beat(11_000), freeze: asked },
      { ...asked, sinceMs: 11_000 },
    ],
    [
      "asked again, same words: since the first beat",
      frozen,
      { ...beat(11_000), freeze: asked },
      { ...asked, sinceMs: 9_000 },
    ],
    [
      "asked with another reason: since this beat",
      frozen,
      { ...beat(11_000), freeze: { ...asked, reason: "node upgrade" } },
      { ...asked, reason: "node upgrade", sinceMs: 11_000 },
    ],
    ["a beat without a freeze lifts it", frozen, beat(11_000), undefined],
    ["a sweep keeps it", frozen, sweep(11_000), { ...asked, sinceMs: 9_000 }],
  ] as const)("freeze: %s", (_what, current, input, freeze) => {
    expect(nextClusterStatus(current, input, policy).freeze).toEqual(freeze);
  });
});
