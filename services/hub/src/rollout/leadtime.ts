/**
 * Lead-time figures of a rollout, for the histograms `flotilla_rollout_wave_duration_seconds`
 * and `flotilla_commit_to_converged_seconds` and for the rollout resource. Registering and
 * observing the metrics is the hub's job; this only computes.
 */

import type { LeadTime, RolloutState, WaveProgress } from "@flotilla/api";

export type { LeadTime, WaveDuration } from "@flotilla/api";

/** The lead-time figures of a rollout. Negative spans (clock skew between Git and hub) count as 0. */
export function leadTime(rollout: RolloutState): LeadTime {
  const fromCommit = rollout.commit !== undefined && rollout.commitAtMs === rollout.commit.committedAtMs;
  const result: LeadTime = { waves: [], startsAt: fromCommit ? "commit" : "detection" };
  if (rollout.commitAtMs !== undefined)
    result.commitToDetectedSeconds = seconds(rollout.commitAtMs, rollout.detectedAtMs);
  rollout.waves.forEach((wave, index) => {
    const durationSeconds = waveDurationSeconds(wave);
    if (durationSeconds !== undefined) result.waves.push({ wave: wave.name, index, durationSeconds });
  });
  const converged = rollout.convergedAtMs;
  if (converged === undefined) return result;
  result.detectedToConvergedSeconds = seconds(rollout.detectedAtMs, converged);
  if (rollout.commitAtMs !== undefined) result.commitToConvergedSeconds = seconds(rollout.commitAtMs, converged);
  return result;
}

/** Start → complete of a wave, or undefined until it completed. */
export function waveDurationSeconds(wave: WaveProgress): number | undefined {
  if (wave.startedAtMs === undefined || wave.completedAtMs === undefined) return undefined;
  return seconds(wave.startedAtMs, wave.completedAtMs);
}

function seconds(fromMs: number, toMs: number): number {
  return Math.max(0, toMs - fromMs) / 1000;
}
