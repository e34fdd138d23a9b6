/**
 * "Why is this waiting?" in words, from a rollout as the hub shows it and the time now. The hub
 * already says why each cluster is where it is (`why`); this adds what only a clock shows (how
 * long a bake has left), what only the fleet shows (a cluster that is offline, or in no wave at
 * all), and one line for the rollout as a whole. Pure: the same rollout and time give the same words.
 */
import type { RolloutClusterView, RolloutView, RolloutWaveView } from "@flotilla/api";
import { duration, shortSha } from "./model.js";

/** Seconds of bake left in a baking wave at `nowMs`, or undefined when it is not baking. */
export function bakeLeftSeconds(wave: RolloutWaveView, nowMs: number): number | undefined {
  if (wave.status !== "baking" || wave.bakeStartedAtMs === undefined) return undefined;
  // The page's clock ticks once a second, so it can lag the bake's start: never show more than the bake.
  const left = Math.ceil((wave.bakeStartedAtMs + wave.bakeSeconds * 1000 - nowMs) / 1000);
  return Math.min(wave.bakeSeconds, Math.max(0, left));
}

/** The wave being worked on: the first that has not succeeded; undefined when all have. */
export function currentWave(r: RolloutView): number | undefined {
  const i = r.waves.findIndex((w) => w.status !== "succeeded");
  return i < 0 ? undefined : i;
}

const TERMINAL = new Set(["Succeeded", "Failed", "RolledBack", "Superseded"]);

/** How many clusters of a wave failed, and how many it may lose before the rollout fails. */
export function budgetOf(wave: RolloutWaveView): { failed: number; budget: number; exceeded: boolean } {
  // A failed cluster that was rolled back since still counted against the budget.
  const failed = wave.clusters.filter((c) => c.state === "failed" || c.failedAtMs !== undefined).length;
  return { failed, budget: wave.failureBudget, exceeded: failed > wave.failureBudget };
}

/**
 * Why one cluster of the rollout is where it is, at `nowMs`: "waiting: wave "canary" baking, 42 s
 * left", "blocked: cluster offline", "waiting for promote: ...", or the hub's own words.
 */
export function clusterReason(
  r: RolloutView,
  waveIndex: number,
  c: RolloutClusterView,
  nowMs: number,
  clusterState?: string,
): string {
  const hub = c.why ?? c.reason ?? c.state;
  if (c.state === "skipped") return `blocked: ${c.reason ?? "skipped"}`;
  if (c.state === "failed") return `failed: ${c.reason ?? "the agent reported a failure"}`;
  if (c.state !== "pending" || TERMINAL.has(r.state)) return hub;
  if (clusterState === "Offline") {
    return `blocked: cluster offline, policy ${r.offlineClusters}; ${hub}`;
  }
  const current = currentWave(r);
  if (current !== undefined && current < waveIndex) {
    const wave = r.waves[current];
    const left = wave ? bakeLeftSeconds(wave, nowMs) : undefined;
    if (wave && left !== undefined) return `waiting: wave "${wave.name}" baking, ${duration(left)} left`;
    if (wave?.status === "awaiting-approval") return `waiting: wave "${wave.name}" awaits promote`;
  }
  if (r.state === "Paused") return "waiting: the rollout is paused";
  return hub;
}

/** Clusters of the rollout's environment that no wave holds, each with its reason. */
export function notInAnyWave(
  r: RolloutView,
  environmentClusters: readonly string[],
): { name: string; reason: string }[] {
  const inWaves = new Set(r.waves.flatMap((w) => w.clusters.map((c) => c.name)));
  return environmentClusters
    .filter((n) => !inWaves.has(n))
    .map((name) => ({
      name,
      reason: "not in any wave: registered after the rollout was planned, or outside the app's team's clusters",
    }));
}

/** The rollout in one line, as of `nowMs`. */
export function headline(r: RolloutView, nowMs: number): string {
  switch (r.state) {
    case "Succeeded":
      return `Succeeded: every wave is healthy at ${shortSha(r.to.revision)}`;
    case "Failed":
      return `Failed: ${r.failure?.reason ?? "no reason recorded"}`;
    case "RolledBack":
      return `Rolled back to ${shortSha(r.from?.revision)}: ${r.failure?.reason ?? "no reason recorded"}`;
    case "Superseded":
      return `Superseded by ${r.supersededBy ?? "a newer rollout"}`;
    case "Paused":
      return "Paused: no wave moves until it is resumed";
    case "Pending":
      return "Pending: the first step has not run yet";
  }
  const i = currentWave(r);
  const wave = i === undefined ? undefined : r.waves[i];
  if (!wave) return "Progressing: every wave is done, settling";
  const left = bakeLeftSeconds(wave, nowMs);
  if (left !== undefined) return `Baking wave "${wave.name}": ${duration(left)} left before the next wave`;
  if (wave.status === "awaiting-approval") return `Waiting for promote: wave "${wave.name}" requires approval`;
  const done = wave.clusters.filter((c) => c.state === "healthy").length;
  return `Rolling out wave "${wave.name}": ${done} of ${wave.clusters.length} clusters healthy`;
}
