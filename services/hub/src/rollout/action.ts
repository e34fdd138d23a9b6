/**
 * What a step asks the hub to do. Writes (WriteDesired, RollbackCluster) are derived from the
 * persisted state on every step until recordWrite confirms them, so they are at-least-once and
 * idempotent per (rollout, cluster, kind). The others are notifications, emitted once, at the
 * transition that produced them; the state keeps the authoritative timestamps.
 */

import type { RolloutState, RolloutTarget } from "./state.js";

interface RolloutRef {
  rolloutId: string;
  app: string;
  environment: string;
  /** Hub time of the step that produced the action. */
  atMs: number;
}

/** Write the signed desired state of `app` on `cluster` at `target`, with a newly allocated generation. */
export interface WriteDesired extends RolloutRef {
  kind: "WriteDesired";
  cluster: string;
  target: RolloutTarget;
}

/** Write the signed desired state of `app` on `cluster` back at the last good `target`, as a new generation. */
export interface RollbackCluster extends RolloutRef {
  kind: "RollbackCluster";
  cluster: string;
  target: RolloutTarget;
}

/** A wave started: its clusters may now receive the revision. */
export interface WaveStarted extends RolloutRef {
  kind: "WaveStarted";
  wave: string;
  index: number;
  clusters: string[];
}

/** A wave completed its bake; `durationSeconds` (start → complete) feeds flotilla_rollout_wave_duration_seconds. */
export interface WaveCompleted extends RolloutRef {
  kind: "WaveCompleted";
  wave: string;
  index: number;
  durationSeconds: number;
}

/** Every wave completed. `commitToConvergedSeconds` feeds flotilla_commit_to_converged_seconds. */
export interface RolloutSucceeded extends RolloutRef {
  kind: "RolloutSucceeded";
  target: RolloutTarget;
  commitToConvergedSeconds?: number;
}

/** The rollout ended Failed or RolledBack. */
export interface RolloutFailed extends RolloutRef {
  kind: "RolloutFailed";
  state: "Failed" | "RolledBack";
  reason: string;
}

/** Kinds of EmitEvent, for the SSE stream and logs. */
export type RolloutEventType =
  | "RolloutStarted"
  | "ClusterHealthy"
  | "ClusterFailed"
  | "ClusterSkipped"
  | "ClusterWaitingOffline"
  | "AwaitingApproval"
  | "Promoted"
  | "BakeStarted"
  | "Paused"
  | "Resumed"
  | "Superseded"
  | "Held"
  | "Released"
  | "Overridden"
  | "ClusterBlocked"
  | "ClusterHeld"
  | "ClusterWaitingFrozen"
  | "PrePromotionAnalysisStarted"
  | "AnalysisMeasured"
  | "AnalysisSucceeded"
  | "AnalysisFailed"
  | "AnalysisInconclusive";

/** Something worth telling users about; no effect on the rollout. */
export interface EmitEvent extends RolloutRef {
  kind: "EmitEvent";
  type: RolloutEventType;
  message: string;
  wave?: string;
  cluster?: string;
}

/** Everything a step, command or supersede can ask for. */
export type Action =
  | WriteDesired
  | RollbackCluster
  | WaveStarted
  | WaveCompleted
  | RolloutSucceeded
  | RolloutFailed
  | EmitEvent;

/** The two actions that write desired state; execute them, then call recordWrite. */
export type WriteAction = WriteDesired | RollbackCluster;

/** What step, command and supersede return: the state to persist FIRST, then the actions to execute. */
export interface StepResult {
  rollout: RolloutState;
  actions: Action[];
}

/** Whether an action writes desired state. */
export function isWriteAction(action: Action): action is WriteAction {
  return action.kind === "WriteDesired" || action.kind === "RollbackCluster";
}

/** The fields every action carries, for `rollout` at `atMs`. */
export function actionBase(rollout: RolloutState, atMs: number): RolloutRef {
  return { rolloutId: rollout.id, app: rollout.app, environment: rollout.environment, atMs };
}

/** An EmitEvent of `rollout`, optionally about one wave or cluster. */
export function eventAction(
  rollout: RolloutState,
  atMs: number,
  type: RolloutEventType,
  message: string,
  about: { wave?: string; cluster?: string } = {},
): EmitEvent {
  return { kind: "EmitEvent", ...actionBase(rollout, atMs), type, message, ...about };
}
