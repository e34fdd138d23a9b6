/**
 * The persisted state of one rollout: plain JSON (stored in Redis as is), changed only by the pure
 * functions of this folder. Times are Unix milliseconds of the hub's clock (`now` of the caller).
 *
 * The rollout snapshots its wave plan and settings when it is created, so editing the
 * environment's policy (or labels) mid-rollout can never reshuffle waves and skip or repeat one.
 */

import { RolloutInputError } from "./errors.js";
import { type PlanCluster, type Policy, planWaves } from "./policy.js";
import type { Selector } from "./selector.js";

/** Version of this JSON shape; bump it (and migrate) when a stored rollout would no longer read. */
export const ROLLOUT_STATE_VERSION = 1;

/** Lifecycle of a rollout. Succeeded, Failed, RolledBack and Superseded are terminal. */
export type RolloutPhase = "Pending" | "Progressing" | "Paused" | "Succeeded" | "Failed" | "RolledBack" | "Superseded";

/** Lifecycle of a wave. */
export type WaveStatus = "pending" | "awaiting-approval" | "progressing" | "baking" | "succeeded" | "failed";

/**
 * Lifecycle of one cluster in a rollout:
 * pending → writing (write decided, not yet confirmed) → progressing (write confirmed, generation known)
 * → healthy | failed; pending → skipped (offline, policy "skip"); any cluster that received the
 * revision → rolling-back (rollback decided) → rolled-back (rollback write confirmed).
 */
export type ClusterStepState =
  | "pending"
  | "writing"
  | "progressing"
  | "healthy"
  | "failed"
  | "skipped"
  | "rolling-back"
  | "rolled-back";

/** One cluster's progress in the rollout. */
export interface ClusterProgress {
  name: string;
  state: ClusterStepState;
  /** Generation of the desired state this rollout wrote for the cluster; set by recordWrite. */
  generation?: number;
  /** When the write was decided; the progress deadline runs from here. */
  dispatchedAtMs?: number;
  /** When the write was confirmed (recordWrite). */
  writtenAtMs?: number;
  healthyAtMs?: number;
  failedAtMs?: number;
  skippedAtMs?: number;
  /** Why the cluster failed, was skipped, or is waiting. */
  reason?: string;
  /** Present once the cluster is to be rolled back to the rollout's fromRevision. */
  rollback?: {
    requestedAtMs: number;
    generation?: number;
    writtenAtMs?: number;
    /** Set when there is nothing left to roll back: the cluster or the app was deleted. */
    abandoned?: { atMs: number; reason: string };
  };
}

/** One wave: its resolved settings (snapshotted at creation), status and clusters. */
export interface WaveProgress {
  name: string;
  implicit: boolean;
  maxConcurrency: number;
  failureBudget: number;
  bakeSeconds: number;
  requireApproval: boolean;
  status: WaveStatus;
  clusters: ClusterProgress[];
  startedAtMs?: number;
  /** When `promote` approved this wave. */
  approvedAtMs?: number;
  bakeStartedAtMs?: number;
  completedAtMs?: number;
}

/** Why a rollout ended without succeeding. */
export interface RolloutFailure {
  kind: "budget-exceeded" | "aborted" | "rollback-requested";
  /** One line: what failed, where, and the clusters' own reasons. */
  reason: string;
  /** The wave that was current when it failed, if any. */
  wave?: string;
  atMs: number;
}

/** The whole persisted rollout. */
export interface RolloutState {
  version: typeof ROLLOUT_STATE_VERSION;
  id: string;
  app: string;
  environment: string;
  /** The last good revision, rolled back to on failure; empty for a first deploy (no rollback possible). */
  fromRevision: string;
  toRevision: string;
  state: RolloutPhase;
  progressDeadlineSeconds: number;
  autoRollback: boolean;
  offlineClusters: Policy["offlineClusters"];
  waves: WaveProgress[];
  /** Commit time from Git, when known; the start of commit→converged lead time. */
  commitAtMs?: number;
  /** When the hub noticed the new commit and created the rollout. */
  detectedAtMs: number;
  /** First step. */
  startedAtMs?: number;
  /** Set while Paused. */
  pausedAtMs?: number;
  /** When every wave completed (Succeeded only). */
  convergedAtMs?: number;
  /** When the rollout reached a terminal state. */
  finishedAtMs?: number;
  failure?: RolloutFailure;
  /** The rollout that superseded this one. */
  supersededBy?: string;
}

/** What createRollout needs. */
export interface NewRollout {
  /** Chosen by the caller (the core draws no random numbers). */
  id: string;
  app: string;
  environment: string;
  /** Last good revision; "" for a first deploy. */
  fromRevision: string;
  toRevision: string;
  policy: Policy;
  /** The environment's clusters (label env=<environment>) with their labels and registry state. */
  clusters: readonly PlanCluster[];
  /** The app's own cluster selector, if any. */
  appSelector?: Selector;
  commitAtMs?: number;
  detectedAtMs: number;
}

/** A new rollout in state Pending, with the waves planned from the policy as it is now. */
export function createRollout(input: NewRollout): RolloutState {
  const id = input.id;
  if (!id) throw new RolloutInputError(id, "give the rollout an id");
  if (!input.app || !input.environment) throw new RolloutInputError(id, "app and environment must be set");
  if (!input.toRevision) throw new RolloutInputError(id, "toRevision must be set");
  if (input.toRevision === input.fromRevision)
    throw new RolloutInputError(id, `${input.toRevision} is already the last good revision; nothing to roll out`);
  const names = new Set<string>();
  for (const c of input.clusters) {
    if (names.has(c.name)) throw new RolloutInputError(id, `cluster ${JSON.stringify(c.name)} is listed twice`);
    names.add(c.name);
  }
  const rollout: RolloutState = {
    version: ROLLOUT_STATE_VERSION,
    id,
    app: input.app,
    environment: input.environment,
    fromRevision: input.fromRevision,
    toRevision: input.toRevision,
    state: "Pending",
    progressDeadlineSeconds: input.policy.progressDeadlineSeconds,
    autoRollback: input.policy.autoRollback,
    offlineClusters: input.policy.offlineClusters,
    // Waves that select no cluster are left out: they would only start, bake nothing and
    // add zero-length samples to the wave-duration histogram. The plan preview still shows them.
    waves: planWaves(input.policy, input.clusters, input.appSelector)
      .filter((w) => w.clusters.length > 0)
      .map((w) => ({
        name: w.name,
        implicit: w.implicit,
        maxConcurrency: w.maxConcurrency,
        failureBudget: w.failureBudget,
        bakeSeconds: w.bakeSeconds,
        requireApproval: w.requireApproval,
        status: "pending",
        clusters: w.clusters.map((name) => ({ name, state: "pending" })),
      })),
    detectedAtMs: input.detectedAtMs,
  };
  if (input.commitAtMs !== undefined) rollout.commitAtMs = input.commitAtMs;
  return rollout;
}

const TERMINAL: ReadonlySet<RolloutPhase> = new Set(["Succeeded", "Failed", "RolledBack", "Superseded"]);

/** Whether a rollout in this phase is over: no more waves, no more forward writes. */
export function isTerminal(state: RolloutPhase): boolean {
  return TERMINAL.has(state);
}

/** A decided rollback that is neither written nor abandoned: the rollout still owes it. */
export function rollbackOwed(rollback: NonNullable<ClusterProgress["rollback"]>): boolean {
  return rollback.generation === undefined && rollback.abandoned === undefined;
}

/**
 * Whether the engine is done with a rollout: terminal AND every rollback write it decided is
 * confirmed. A RolledBack rollout is terminal at once but must keep being stepped until settled,
 * or a leader dying before the rollback writes would leave clusters on the failed revision.
 */
export function isSettled(rollout: RolloutState): boolean {
  return (
    isTerminal(rollout.state) &&
    rollout.waves.every((w) => w.clusters.every((c) => !c.rollback || !rollbackOwed(c.rollback)))
  );
}

/** Index of the wave being worked on (the first not succeeded), or undefined when all succeeded. */
export function currentWaveIndex(rollout: RolloutState): number | undefined {
  const index = rollout.waves.findIndex((w) => w.status !== "succeeded");
  return index < 0 ? undefined : index;
}

/** The cluster's progress and its wave, or undefined when the cluster is not part of the rollout. */
export function findCluster(
  rollout: RolloutState,
  cluster: string,
): { wave: WaveProgress; progress: ClusterProgress } | undefined {
  for (const wave of rollout.waves) {
    const progress = wave.clusters.find((c) => c.name === cluster);
    if (progress) return { wave, progress };
  }
  return undefined;
}
