import type { ClusterStatus } from "../store.js";

/** Heartbeat timing the hub expects from agents. */
export interface LivenessPolicy {
  heartbeatIntervalMs: number;
  /** Missed beats after which a Ready cluster is Offline. */
  offlineAfterMissed: number;
}

/** What happened: a verified heartbeat arrived, or time passed (the sweeper). */
export type LivenessInput =
  | { kind: "heartbeat"; atMs: number; agentVersion: string; kubernetesVersion: string; capabilities: string[] }
  | { kind: "sweep"; nowMs: number };

/**
 * The next status of a cluster: any verified heartbeat makes it Ready (from Pending or
 * Offline); a Ready cluster silent for more than `offlineAfterMissed` intervals turns Offline.
 * A Pending cluster stays Pending until it first beats. Pure, so the transitions are tested
 * with a table; the caller writes the result and announces changes.
 */
export function nextClusterStatus(
  current: ClusterStatus | undefined,
  input: LivenessInput,
  policy: LivenessPolicy,
): ClusterStatus {
  const base: ClusterStatus = current ?? {
    state: "Pending",
    changedAtMs: input.kind === "heartbeat" ? input.atMs : input.nowMs,
  };
  if (input.kind === "heartbeat") {
    return {
      ...base,
      state: "Ready",
      lastHeartbeatMs: input.atMs,
      agentVersion: input.agentVersion,
      kubernetesVersion: input.kubernetesVersion,
      capabilities: input.capabilities,
      changedAtMs: base.state === "Ready" ? base.changedAtMs : input.atMs,
    };
  }
  if (base.state !== "Ready") return base;
  const silentFor = input.nowMs - (base.lastHeartbeatMs ?? base.changedAtMs);
  if (silentFor > policy.heartbeatIntervalMs * policy.offlineAfterMissed) {
    return { ...base, state: "Offline", changedAtMs: input.nowMs };
  }
  return base;
}
