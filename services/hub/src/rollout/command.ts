/**
 * Operator commands and superseding, as pure functions beside the step rather than inside its
 * observations. Observations are level-triggered (the same snapshot may be fed to step any number
 * of times, and must then change nothing more); a command is an edge that must take effect exactly
 * once. Kept apart, an API replica applies a command with one compare-and-set on the stored rollout
 * and answers at once (or with a 409 saying why not), and no step can apply the same command twice.
 *
 * Commands never return write actions: they only change the state, and the leader's next step
 * derives the writes (e.g. the RollbackClusters after `rollback`), so only the leader writes
 * desired states. Trigger a step right after a command to keep the latency low.
 */

import type { RolloutCommand } from "@flotilla/api";
import { type Action, eventAction, type StepResult } from "./action.js";
import { retryInconclusive } from "./analysis.js";
import { RolloutCommandError } from "./errors.js";
import { endFailed } from "./outcome.js";
import { currentWaveIndex, isTerminal, type RolloutState } from "./state.js";

export type { RolloutCommand } from "@flotilla/api";

/**
 * Applies one command at `nowMs`; `by` (a token or user name) goes into events and reasons.
 * - pause: no new writes or waves until resume; in-flight clusters are still judged. Repeating it is a no-op.
 * - resume: undoes pause (an operator's, or an inconclusive analysis's, whose inconclusive
 *   rounds are dropped so it measures again). A no-op on a rollout that is not paused.
 * - promote: approves the wave awaiting approval; it starts on the next step (after resume if paused).
 * - abort: ends Failed ("aborted"), nothing rolled back, nothing more written.
 * - rollback: ends RolledBack; every cluster that received the target is rolled back to `from`.
 * - override: calendar windows and freezes no longer hold this rollout (an audited exception
 *   for one rollout; the hold is released on the next step). Repeating it is a no-op.
 * Throws RolloutCommandError when the rollout is terminal, nothing awaits approval (promote), or
 * there is no previous target to go back to (rollback on a first deploy: abort instead).
 */
export function command(rollout: RolloutState, cmd: RolloutCommand, nowMs: number, by = ""): StepResult {
  if (isTerminal(rollout.state))
    throw new RolloutCommandError(rollout.id, cmd, `it already ended ${rollout.state}; start a new rollout instead`);
  const r = structuredClone(rollout);
  const actions: Action[] = [];
  const who = by ? ` by ${by}` : "";
  switch (cmd) {
    case "pause":
      if (r.state !== "Paused") {
        r.state = "Paused";
        r.pausedAtMs = nowMs;
        actions.push(eventAction(r, nowMs, "Paused", `paused${who}: no new clusters are written until resume`));
      }
      break;
    case "resume":
      if (r.state === "Paused") {
        r.state = r.startedAtMs === undefined ? "Pending" : "Progressing";
        delete r.pausedAtMs;
        const wave = r.waves[currentWaveIndex(r) ?? -1];
        const retried = wave ? retryInconclusive(wave).map((a) => `"${a.name}"`) : [];
        const again = retried.length > 0 ? `; measuring analysis ${retried.join(", ")} again` : "";
        actions.push(eventAction(r, nowMs, "Resumed", `resumed${who}${again}`));
      }
      break;
    case "override":
      if (!r.holdOverride) {
        r.holdOverride = { atMs: nowMs, by: by || "unknown" };
        const was = r.hold ? ` (held: ${r.hold.reason})` : "";
        actions.push(
          eventAction(r, nowMs, "Overridden", `windows and freezes no longer hold this rollout${who}${was}`),
        );
      }
      break;
    case "promote": {
      const wave = r.waves[currentWaveIndex(r) ?? -1];
      if (wave?.status !== "awaiting-approval")
        throw new RolloutCommandError(
          r.id,
          cmd,
          wave ? `no wave awaits approval (wave "${wave.name}" is ${wave.status})` : "no wave awaits approval",
        );
      wave.approvedAtMs = nowMs;
      actions.push(eventAction(r, nowMs, "Promoted", `wave "${wave.name}" approved${who}`, { wave: wave.name }));
      break;
    }
    case "abort":
      endFailed(r, { kind: "aborted", reason: `aborted${who}`, ...currentWave(r), atMs: nowMs }, false, nowMs, actions);
      break;
    case "rollback":
      if (!r.from)
        throw new RolloutCommandError(
          r.id,
          cmd,
          "this is a first deploy, there is nothing earlier to roll back to; abort it instead",
        );
      endFailed(
        r,
        { kind: "rollback-requested", reason: `rollback requested${who}`, ...currentWave(r), atMs: nowMs },
        true,
        nowMs,
        actions,
      );
      break;
  }
  return { rollout: r, actions };
}

/**
 * Ends a rollout Superseded because `byRolloutId` (a newer target of the same app and
 * environment: a commit, a settings change, or both) replaces it: nothing more is written for it, and nothing is rolled back; the new
 * rollout starts from the first wave. A no-op on a terminal rollout, so the tracker may call it
 * for whatever rollout it finds in flight. Create the new rollout only after persisting this.
 */
export function supersede(rollout: RolloutState, nowMs: number, byRolloutId = ""): StepResult {
  if (isTerminal(rollout.state)) return { rollout, actions: [] };
  const r = structuredClone(rollout);
  r.state = "Superseded";
  r.finishedAtMs = nowMs;
  delete r.pausedAtMs;
  if (byRolloutId) r.supersededBy = byRolloutId;
  const by = byRolloutId ? ` by rollout ${byRolloutId}` : "";
  return {
    rollout: r,
    actions: [eventAction(r, nowMs, "Superseded", `superseded${by}; no more clusters are written`)],
  };
}

function currentWave(r: RolloutState): { wave?: string } {
  const wave = r.waves[currentWaveIndex(r) ?? -1];
  return wave ? { wave: wave.name } : {};
}
