/**
 * What the engine sees of the fleet at one step: per cluster, its registry connectivity and the
 * latest verified report of the rollout's app. The hub builds this from its status store; the
 * step function never reads anything else.
 */

import type { ClusterConnectivity } from "./policy.js";

/**
 * The latest report of one (cluster, app), as the hub stored it. Structurally a subset of the
 * store's report record, so that record can be passed as is.
 */
export interface ClusterReport {
  /** Generation of the desired state the report describes. */
  observedGeneration: number;
  /** Commit SHA the report describes. */
  revision: string;
  /** Lowercase health name (`healthName` of @flotilla/proto): healthy, progressing, degraded, unknown, ... */
  health: string;
  /** Lowercase sync phase (`syncPhaseName`): synced, applying, failed, rejected, ... */
  phase: string;
  /** `retryable`: the agent applies again with backoff (its API server unreachable, a 5xx, throttling). */
  error?: { message: string; retryable?: boolean };
  /**
   * Each object's health and why, as the agent judged it; the gate names the worst in a
   * failure, so that a crash loop or a paused Deployment says itself what held the wave.
   */
  resources?: readonly ResourceReport[];
  /** With phase `rejected`: the generation the agent refused. Without it a refusal waits for the deadline. */
  rejectedGeneration?: number;
  reportedAtMs?: number;
}

/** One object of a report. */
export interface ResourceReport {
  kind: string;
  name: string;
  /** Lowercase health name, as the report's. */
  health: string;
  message: string;
}

/** One cluster as observed now. */
export interface ClusterObservation {
  /** Registry state; Pending (never connected) is treated as Offline. */
  connectivity: ClusterConnectivity;
  /** Absent when the agent has not reported this app yet. */
  report?: ClusterReport;
  /**
   * Set while an app this one depends on is not yet Healthy at its newest desired state on this
   * cluster, in words (`app db on cluster c1 is Progressing`): the cluster is not written meanwhile.
   */
  blockedBy?: string;
  /**
   * Set while the cluster asks for a freeze itself (its heartbeat's reason): it is held as if
   * Offline, under the rollout's `offlineClusters` policy (block: waits; skip: left behind).
   */
  freeze?: string;
  /**
   * Set while a window or freeze limited to a cluster selector holds this cluster, in words
   * (`inside deny window …`, `clusters tier=canary of environment prod are frozen by …`): the
   * cluster is not written and holds no slot; the rest of its wave goes ahead.
   */
  held?: string;
}

/** Something that keeps a rollout from starting waves and writing clusters: a closed window, a freeze. */
export interface Hold {
  kind: "window" | "freeze";
  reason: string;
}

/**
 * One measurement the conductor took because {@link dueMeasurements} asked for it: the query's
 * value per cluster (or once, for a query that names no cluster). `value` absent and `error`
 * absent: the query returned no sample.
 */
export interface MeasurementObservation {
  wave: string;
  analysis: string;
  /** Index of the measurement it answers (the number already recorded); a stale one is ignored. */
  round: number;
  results: readonly { cluster?: string; value?: number; error?: string }[];
}

/** Everything one step sees. A cluster missing here is treated as Offline with no report. */
export interface Observations {
  clusters: Readonly<Record<string, ClusterObservation | undefined>>;
  /** What holds the rollout now (windows evaluated at `now`, freezes in force); absent or empty: nothing. */
  holds?: readonly Hold[];
  /** Measurements taken for this step; each is recorded once (by its round). */
  measurements?: readonly MeasurementObservation[];
}

/** Health and phase names the gate compares against. */
export const HEALTHY = "healthy";
export const DEGRADED = "degraded";
export const SYNCED = "synced";
export const APPLY_FAILED = "failed";
export const REJECTED = "rejected";
