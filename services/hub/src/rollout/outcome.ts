/**
 * How a rollout ends. Shared by the step function (success, budget exceeded) and the commands
 * (abort, rollback) so every path ends the same way.
 */

import { type Action, actionBase } from "./action.js";
import { own } from "./copy.js";
import { leadTime } from "./leadtime.js";
import type { RolloutFailure, RolloutState } from "./state.js";

/**
 * Ends `rollout` Failed, or RolledBack when `rollback` is asked and there is a last good target
 * to go back to. Rolling back marks every cluster that may have received the new target (a write
 * was decided for it, confirmed or not) for a RollbackCluster; clusters never written are left alone.
 * Mutates `rollout` (its clusters through {@link own}, so a copy-on-write copy stays one); appends to `out`.
 */
export function endFailed(
  rollout: RolloutState,
  failure: RolloutFailure,
  rollback: boolean,
  nowMs: number,
  out: Action[],
): void {
  const canRollBack = rollback && rollout.from !== undefined;
  if (rollback && !canRollBack)
    failure.reason += "; not rolled back: there is nothing earlier to go back to (first deploy)";
  rollout.failure = failure;
  rollout.finishedAtMs = nowMs;
  delete rollout.pausedAtMs;
  rollout.state = canRollBack ? "RolledBack" : "Failed";
  if (canRollBack) {
    for (const wave of rollout.waves)
      wave.clusters.forEach((c, i) => {
        if (c.dispatchedAtMs === undefined || c.rollback) return;
        const m = own(rollout, wave, i);
        m.rollback = { requestedAtMs: nowMs };
        m.state = "rolling-back";
      });
  }
  out.push({ kind: "RolloutFailed", ...actionBase(rollout, nowMs), state: rollout.state, reason: failure.reason });
}

/** Ends `rollout` Succeeded: every wave completed. Mutates `rollout`; appends to `out`. */
export function endSucceeded(rollout: RolloutState, nowMs: number, out: Action[]): void {
  rollout.state = "Succeeded";
  rollout.convergedAtMs = nowMs;
  rollout.finishedAtMs = nowMs;
  delete rollout.pausedAtMs;
  const { commitToConvergedSeconds } = leadTime(rollout);
  out.push({
    kind: "RolloutSucceeded",
    ...actionBase(rollout, nowMs),
    target: rollout.to,
    ...(commitToConvergedSeconds === undefined ? {} : { commitToConvergedSeconds }),
  });
}
