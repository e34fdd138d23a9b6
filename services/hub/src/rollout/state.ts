/**
 * The persisted state of one rollout: plain JSON (stored in Redis as is), changed only by the pure
 * functions of this folder. Times are Unix milliseconds of the hub's clock (`now` of the caller).
 * Its shape is the API's rollout schema (`@flotilla/api`), so what the hub stores is what it shows.
 *
 * The rollout snapshots its wave plan and settings when it is created, so editing the
 * environment's policy (or labels) mid-rollout can never reshuffle waves and skip or repeat one.
 */

import {
  type ChangeKind,
  type ClusterProgress,
  COMMIT_MESSAGE_MAX,
  type CommitInfo,
  isTerminalPhase,
  type Policy,
  ROLLOUT_STATE_VERSION,
  type RolloutPhase,
  type RolloutState,
  type RolloutTarget,
  type Selector,
  type WaveProgress,
} from "@flotilla/api";
import { RolloutInputError } from "./errors.js";
import { type PlanCluster, planWaves } from "./policy.js";

export type {
  ChangeKind,
  ClusterProgress,
  ClusterStepState,
  CommitInfo,
  RolloutFailure,
  RolloutPhase,
  RolloutState,
  RolloutTarget,
  WaveProgress,
  WaveStatus,
} from "@flotilla/api";
export { ROLLOUT_STATE_VERSION } from "@flotilla/api";

/** Whether two targets name the same desired state (an unknown digest equals nothing). */
export function sameTarget(a: RolloutTarget | undefined, b: RolloutTarget | undefined): boolean {
  return (
    a !== undefined && b !== undefined && a.revision === b.revision && a.settings === b.settings && a.settings !== ""
  );
}

/** Short form for messages: `abc1234` or `abc1234 + settings 5f3e2d1`. */
export function describeTarget(t: RolloutTarget): string {
  const revision = t.revision.slice(0, 7);
  return t.settings ? `${revision} (settings ${t.settings.slice(0, 7)})` : revision;
}

/** What createRollout needs. */
export interface NewRollout {
  /** Chosen by the caller (the core draws no random numbers). */
  id: string;
  app: string;
  environment: string;
  /** Last good target; absent for a first deploy. */
  from?: RolloutTarget;
  to: RolloutTarget;
  policy: Policy;
  /** The environment's clusters (label env=<environment>) with their labels and registry state. */
  clusters: readonly PlanCluster[];
  /** The app's own cluster selector, if any. */
  appSelector?: Selector;
  commit?: CommitInfo;
  commitUnknown?: string;
  /** Start of the lead time; see {@link RolloutState.commitAtMs}. */
  commitAtMs?: number;
  detectedAtMs: number;
  sourceDigest?: string;
}

/** A new rollout in state Pending, with the waves planned from the policy as it is now. */
export function createRollout(input: NewRollout): RolloutState {
  const id = input.id;
  if (!id) throw new RolloutInputError(id, "give the rollout an id");
  if (!input.app || !input.environment) throw new RolloutInputError(id, "app and environment must be set");
  if (!input.to.revision) throw new RolloutInputError(id, "to.revision must be set");
  if (!input.to.settings) throw new RolloutInputError(id, "to.settings must name a settings snapshot");
  const changed = changesBetween(input.from, input.to);
  if (changed.length === 0)
    throw new RolloutInputError(id, `${describeTarget(input.to)} is already the last good target; nothing to roll out`);
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
    ...(input.from ? { from: { ...input.from } } : {}),
    to: { ...input.to },
    changed,
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
        ...(w.analysis?.length
          ? {
              analyses: w.analysis.map((a) => ({
                ...structuredClone(a),
                status: "pending" as const,
                measurements: [],
              })),
            }
          : {}),
      })),
    detectedAtMs: input.detectedAtMs,
  };
  if (input.commit) rollout.commit = { ...input.commit, message: input.commit.message.slice(0, COMMIT_MESSAGE_MAX) };
  if (input.commitUnknown) rollout.commitUnknown = input.commitUnknown;
  if (input.commitAtMs !== undefined) rollout.commitAtMs = input.commitAtMs;
  if (input.sourceDigest) rollout.sourceDigest = input.sourceDigest;
  if (input.policy.windows.length > 0) rollout.windows = structuredClone(input.policy.windows);
  return rollout;
}

/** What differs from `from` to `to`: both kinds for a first deploy; an unknown digest differs. */
export function changesBetween(from: RolloutTarget | undefined, to: RolloutTarget): ChangeKind[] {
  if (!from) return ["revision", "settings"];
  const changed: ChangeKind[] = [];
  if (from.revision !== to.revision) changed.push("revision");
  if (from.settings !== to.settings || to.settings === "") changed.push("settings");
  return changed;
}

/**
 * A stored rollout of any version as the current shape. Version 1 named bare revisions: its
 * targets get the unknown settings digest "", so the tracker's next pass sees the current
 * settings differ and rolls them out, and a rollback it owes writes its old revision with the
 * settings the hub resolves for an unknown digest (the app's current ones, as version 1 did).
 */
export function readRollout(value: unknown): RolloutState {
  const v = value as { version?: number; id?: string };
  if (v.version === ROLLOUT_STATE_VERSION) return value as RolloutState;
  if (v.version === 1) {
    const {
      fromRevision,
      toRevision,
      version: _v,
      ...rest
    } = value as Omit<RolloutState, "version"> & {
      version: 1;
      fromRevision: string;
      toRevision: string;
    };
    return {
      ...rest,
      version: ROLLOUT_STATE_VERSION,
      ...(fromRevision ? { from: { revision: fromRevision, settings: "" } } : {}),
      to: { revision: toRevision, settings: "" },
      changed: ["revision"],
    };
  }
  throw new RolloutInputError(v.id ?? "", `stored as version ${v.version}, which this hub cannot read; upgrade it`);
}

/** Whether a rollout in this phase is over: no more waves, no more forward writes. */
export function isTerminal(state: RolloutPhase): boolean {
  return isTerminalPhase(state);
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
