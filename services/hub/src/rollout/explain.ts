/**
 * Why each cluster of a rollout is where it is, in words, for `GET /v1/rollouts/:id` and
 * `flotilla rollout get`. Derived from the stored state alone (no clock): the state already
 * carries every reason the engine recorded; this only names the waiting ones.
 */

import { currentWaveIndex, describeTarget, isTerminal, type RolloutState } from "./state.js";

/** Why a wave whose turn came has not written yet: its pre-promotion analyses still run. */
function prePromotion(wave: RolloutState["waves"][number]): string | undefined {
  const running = wave.analyses?.filter((a) => a.phase === "prePromotion" && a.status === "running") ?? [];
  if (running.length === 0) return undefined;
  return `waiting: pre-promotion analysis ${running.map((a) => `"${a.name}"`).join(", ")} of wave "${wave.name}" is measuring (${running.map((a) => `${a.measurements.length}/${a.count}`).join(", ")})`;
}

/** One line per cluster name: where it stands in `rollout` and why. */
export function clusterStandings(rollout: RolloutState): Record<string, string> {
  const out: Record<string, string> = {};
  const current = currentWaveIndex(rollout);
  rollout.waves.forEach((wave, index) => {
    const inFlight = wave.clusters.filter((c) => c.state === "writing" || c.state === "progressing").length;
    for (const c of wave.clusters) {
      const gen = c.generation === undefined ? "" : ` at generation ${c.generation}`;
      let why: string;
      switch (c.state) {
        case "pending":
          if (c.reason) why = c.reason;
          else if (isTerminal(rollout.state)) why = `never written: the rollout ended ${rollout.state} first`;
          else if (current === undefined || index > current)
            why = `waiting for wave "${rollout.waves[current ?? 0]?.name ?? ""}" before wave "${wave.name}"`;
          else if (wave.status === "awaiting-approval")
            why = `waiting for promote: wave "${wave.name}" requires approval`;
          else if (rollout.state === "Paused") why = "waiting: the rollout is paused";
          else if (rollout.hold) why = `waiting: held, ${rollout.hold.reason}`;
          else if (wave.status !== "progressing" && wave.status !== "baking" && prePromotion(wave))
            why = prePromotion(wave) ?? "";
          else if (inFlight >= wave.maxConcurrency)
            why = `waiting for a free slot (maxConcurrency ${wave.maxConcurrency} of wave "${wave.name}")`;
          else why = "waiting for its turn";
          break;
        case "writing":
          why = `writing ${describeTarget(rollout.to)}: decided, not yet confirmed`;
          break;
        case "progressing":
          why = `received ${describeTarget(rollout.to)}${gen}; waiting for a healthy report of that generation`;
          break;
        case "healthy":
          why = c.unchanged
            ? `healthy${gen}, unchanged: its desired state already was this target`
            : wave.status === "baking"
              ? `healthy${gen}; wave "${wave.name}" is baking`
              : `healthy${gen}`;
          break;
        case "failed":
        case "skipped":
          why = c.reason ?? c.state;
          break;
        case "rolling-back":
          why = `rolling back to ${rollout.from ? describeTarget(rollout.from) : "the last good target"}${c.rollback?.abandoned ? `: abandoned, ${c.rollback.abandoned.reason}` : ""}`;
          break;
        case "rolled-back":
          why = `rolled back to ${rollout.from ? describeTarget(rollout.from) : "the last good target"} at generation ${c.rollback?.generation ?? "?"}${c.reason ? ` (${c.reason})` : ""}`;
          break;
      }
      out[c.name] = why;
    }
  });
  return out;
}
