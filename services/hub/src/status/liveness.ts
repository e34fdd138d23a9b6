import type { ClusterStatus } from "../store.js";

/** Heartbeat timing the hub expects from agents. */
export interface LivenessPolicy {
  heartbeatIntervalMs: number;
  /** Missed beats after which a Ready cluster is Offline. */
  offlineAfterMissed: number;
}

/**
 * What happened: a verified heartbeat arrived, or time passed (the sweeper). A sweep judges
 * silence as of `nowMs` — the time up to which every beat that reached NATS has been stored,
 * not the clock when the sweep happens to run — and only over time the hub was listening:
 * beats published before `listeningSinceMs` (before this leader subscribed, or while its NATS
 * connection was cut) may have been lost on the way, so their absence proves nothing.
 */
export type LivenessInput =
  | {
      kind: "heartbeat";
      atMs: number;
      agentVersion: string;
      kubernetesVersion: string;
      capabilities: string[];
      /** Version of the hub key set the agent holds; absent from inputs made before key sets. */
      hubKeySetVersion?: number;
      /** Set while the cluster asks for a freeze itself; absent: it does not (any more). */
      freeze?: { reason: string; source: string };
    }
  | { kind: "sweep"; nowMs: number; listeningSinceMs?: number };

/**
 * The next status of a cluster: any verified heartbeat makes it Ready (from Pending or
 * Offline) and says whether the cluster asks for a freeze; a Ready cluster silent for more than `offlineAfterMissed` intervals of the time the
 * hub was listening turns Offline.
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
    const { freeze: _was, ...rest } = base;
    const asked = input.freeze;
    const same = asked && base.freeze?.reason === asked.reason && base.freeze.source === asked.source;
    return {
      ...rest,
      state: "Ready",
      lastHeartbeatMs: input.atMs,
      agentVersion: input.agentVersion,
      kubernetesVersion: input.kubernetesVersion,
      capabilities: input.capabilities,
      ...(input.hubKeySetVersion !== undefined ? { hubKeySetVersion: input.hubKeySetVersion } : {}),
      changedAtMs: base.state === "Ready" ? base.changedAtMs : input.atMs,
      // Each beat says the whole truth: a beat without a freeze lifts the one before.
      ...(asked ? { freeze: { ...asked, sinceMs: same ? (base.freeze?.sinceMs ?? input.atMs) : input.atMs } } : {}),
    };
  }
  if (base.state !== "Ready") return base;
  const heardAtMs = Math.max(base.lastHeartbeatMs ?? base.changedAtMs, input.listeningSinceMs ?? 0);
  const silentFor = input.nowMs - heardAtMs;
  if (silentFor > policy.heartbeatIntervalMs * policy.offlineAfterMissed) {
    return { ...base, state: "Offline", changedAtMs: input.nowMs };
  }
  return base;
}
