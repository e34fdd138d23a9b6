/**
 * The write cycle. A step records the DECISION to write a cluster in the state ("writing", or a
 * rollback request) and derives the write actions from the state, on every step, until
 * recordWrite confirms each write with the generation it got. Hence:
 *
 * - the hub persists the step's state BEFORE executing its actions; a leader that dies after
 *   persisting but before writing leaves the decision behind, and the next leader writes it;
 * - a write is never decided twice: a cluster leaves "pending" once, inside the current wave,
 *   so no cluster of a later wave can get the revision early, whoever recomputes the step;
 * - a write may be executed twice (leader died between writing and recordWrite). That costs one
 *   extra generation of the same revision, and only the recorded (highest) generation passes the
 *   gate. The executor avoids even that by checking the last desired record of (cluster, app)
 *   first: same rolloutId and target → call recordWrite with its generation instead of writing.
 */

import { actionBase, type WriteAction } from "./action.js";
import { copyRollout, own } from "./copy.js";
import { RolloutInputError } from "./errors.js";
import {
  type ClusterProgress,
  describeTarget,
  findCluster,
  isTerminal,
  type RolloutState,
  type RolloutTarget,
  rollbackOwed,
} from "./state.js";

/**
 * The writes the state still owes: a WriteDesired for every cluster in "writing" (only while the
 * rollout is not terminal, so a failed, aborted or superseded revision goes nowhere new), and a
 * RollbackCluster for every rollback not yet confirmed (also after the rollout ended).
 */
export function outstandingWrites(rollout: RolloutState, nowMs: number): WriteAction[] {
  const writes: WriteAction[] = [];
  const terminal = isTerminal(rollout.state);
  for (const wave of rollout.waves)
    for (const c of wave.clusters) {
      if (c.rollback) {
        if (rollbackOwed(c.rollback))
          writes.push({
            kind: "RollbackCluster",
            ...actionBase(rollout, nowMs),
            cluster: c.name,
            // A rollback is decided only when `from` exists (endFailed).
            target: rollout.from ?? rollout.to,
          });
      } else if (c.state === "writing" && !terminal) {
        writes.push({
          kind: "WriteDesired",
          ...actionBase(rollout, nowMs),
          cluster: c.name,
          target: rollout.to,
        });
      }
    }
  return writes;
}

/**
 * Confirms that `write` was executed and the desired state got `generation`; `unchanged` says
 * that generation was already in force before the write (the cluster's desired state already
 * was the target, written by someone else). Call it on the
 * freshly read rollout (retry on a compare-and-set conflict), passing back the action as executed.
 * Late or repeated confirmations are safe: the highest generation wins. A confirmation after the
 * rollout ended is still recorded, because the cluster did receive the revision.
 *
 * Throws RolloutInputError for a write of another rollout, an unknown cluster, a revision the
 * rollout does not write, a rollback never decided, or a generation that is not a positive integer.
 */
export function recordWrite(
  rollout: RolloutState,
  write: WriteAction,
  generation: number,
  nowMs: number,
  unchanged = false,
): RolloutState {
  return recordWrites(rollout, [{ write, generation, unchanged }], nowMs);
}

/** One executed write, as {@link recordWrites} confirms it. */
export interface ExecutedWrite {
  write: WriteAction;
  generation: number;
  /** The generation was already in force before the write (see {@link recordWrite}). */
  unchanged?: boolean;
}

/**
 * Confirms many executed writes of one rollout at once, exactly as {@link recordWrite} would
 * one after another, in time linear in the rollout's size: a wave of thousands of clusters is
 * recorded in one change of the rollout, not one whole copy per cluster. Throws as recordWrite.
 */
export function recordWrites(rollout: RolloutState, executed: readonly ExecutedWrite[], nowMs: number): RolloutState {
  const id = rollout.id;
  // Only the clusters written are copied (copy.ts); the others stay shared with `rollout`.
  const next = copyRollout(rollout);
  const at = new Map(next.waves.flatMap((w) => w.clusters.map((c, i) => [c.name, { w, i }] as const)));
  for (const { write, generation, unchanged = false } of executed) {
    if (write.rolloutId !== id) throw new RolloutInputError(id, `cannot record a write of rollout ${write.rolloutId}`);
    if (!Number.isSafeInteger(generation) || generation < 1)
      throw new RolloutInputError(id, `generation ${generation} is not a positive integer`);
    const place = at.get(write.cluster);
    if (!place) throw new RolloutInputError(id, `cluster ${JSON.stringify(write.cluster)} is not part of this rollout`);
    applyWrite(next, own(next, place.w, place.i), write, generation, nowMs, unchanged);
  }
  return next;
}

function applyWrite(
  next: RolloutState,
  c: ClusterProgress,
  write: WriteAction,
  generation: number,
  nowMs: number,
  unchanged: boolean,
): void {
  const id = next.id;
  if (write.kind === "WriteDesired") {
    if (!sameWrite(write.target, next.to))
      throw new RolloutInputError(
        id,
        `wrote ${describeTarget(write.target)} to ${c.name}, but the rollout writes ${describeTarget(next.to)}`,
      );
    if (c.generation === undefined || generation > c.generation) {
      c.generation = generation;
      c.writtenAtMs = nowMs;
      if (unchanged) c.unchanged = true;
      else delete c.unchanged;
      // A healthy verdict was for an older generation; the newest write must pass the gate again.
      if (c.state === "healthy") {
        c.state = "progressing";
        delete c.healthyAtMs;
      }
    }
    if (c.state === "writing") c.state = "progressing";
    return;
  }
  if (!next.from || !sameWrite(write.target, next.from))
    throw new RolloutInputError(
      id,
      `rolled ${c.name} back to ${describeTarget(write.target)}, but the last good target is ${next.from ? describeTarget(next.from) : "none"}`,
    );
  if (!c.rollback) throw new RolloutInputError(id, `no rollback was decided for cluster ${JSON.stringify(c.name)}`);
  if (c.rollback.generation === undefined || generation > c.rollback.generation) {
    c.rollback.generation = generation;
    c.rollback.writtenAtMs = nowMs;
  }
  c.state = "rolled-back";
}

/**
 * Records that a decided rollback can never be written because its cluster or app no longer
 * exists, so the rollout settles instead of owing the write forever (and holding back every
 * newer rollout of its app and environment). A rollback already written stays as it is.
 */
export function abandonRollback(
  rollout: RolloutState,
  write: WriteAction,
  reason: string,
  nowMs: number,
): RolloutState {
  const id = rollout.id;
  if (write.kind !== "RollbackCluster" || write.rolloutId !== id)
    throw new RolloutInputError(id, `only a rollback of this rollout can be abandoned`);
  const next = structuredClone(rollout);
  const c = findCluster(next, write.cluster)?.progress;
  if (!c?.rollback)
    throw new RolloutInputError(id, `no rollback was decided for cluster ${JSON.stringify(write.cluster)}`);
  if (rollbackOwed(c.rollback)) c.rollback.abandoned = { atMs: nowMs, reason };
  return next;
}

/** Whether a write went to `target` (exact match, an unknown digest included). */
function sameWrite(written: RolloutTarget, target: RolloutTarget): boolean {
  return written.revision === target.revision && written.settings === target.settings;
}
