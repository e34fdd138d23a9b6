/**
 * How the agent's state for one app becomes a Report: the phase, the per-object statuses with
 * drift and prune outcomes, and errors mapped to their report codes (the one place an
 * AgentError becomes an ErrorInfo).
 */
import {
  type DesiredState,
  Health,
  type ObjectRefInit,
  type ReportInit,
  type ResourceStatusInit,
  ResourceSync,
  SourceType,
  SyncPhase,
} from "@flotilla/proto";
import type { AgentError, ObjectFailure } from "./errors.js";
import type { Inventory, PruneDecision } from "./inventory.js";
import { type Ref, refKey, toProtoRef } from "./objects.js";

/** What an app's controller knows when it reports. */
export interface ReportInputs {
  cluster: string;
  app: string;
  agentVersion: string;
  /** The desired state being worked on or last acted on, if any. */
  desired: DesiredState | undefined;
  /** The inventory, for what to report before any desired state arrived. */
  inventory: Inventory;
  health: Health;
  /** How the last render read the source (detected when the desired state gave no type). */
  sourceType?: SourceType;
  resources: readonly ResourceStatusInit[];
  pruned: readonly ResourceStatusInit[];
  /** Drifted fields by {@link refKey}. */
  drifted: ReadonlyMap<string, string[]>;
  error: ReportInit["error"];
  timings: ReportInit["timings"];
}

/** The report of `phase`; a rejection carries no reconcile error (it carries its own in `extra`). */
export function buildReport(
  phase: SyncPhase,
  inputs: ReportInputs,
  nowMs: number,
  extra: Partial<ReportInit> = {},
): ReportInit {
  const d = inputs.desired;
  return {
    cluster: inputs.cluster,
    app: inputs.app,
    observedGeneration: d ? Number(d.generation) : inputs.inventory.observedGeneration,
    revision: d?.source?.revision ?? inputs.inventory.revision,
    rolloutId: d?.rolloutId ?? inputs.inventory.rolloutId,
    phase,
    health: inputs.health,
    sourceType: inputs.sourceType ?? SourceType.SOURCE_TYPE_UNSPECIFIED,
    resources: [...inputs.resources.map((r) => withDrift(r, inputs.drifted)), ...inputs.pruned],
    error: phase === SyncPhase.SYNC_PHASE_REJECTED ? null : inputs.error,
    timings: inputs.timings,
    reportedAtMs: nowMs,
    agentVersion: inputs.agentVersion,
    ...extra,
  };
}

/** A status marked out of sync with the fields that drifted, when it drifted. */
function withDrift(r: ResourceStatusInit, drifted: ReadonlyMap<string, string[]>): ResourceStatusInit {
  const fields = drifted.get(refKey(r.ref as Ref));
  if (!fields) return r;
  return { ...r, sync: ResourceSync.RESOURCE_SYNC_OUT_OF_SYNC, message: `drifted: ${fields.join(", ")}` };
}

/** The report's error for a failed reconcile. */
export function errorInfoOf(e: AgentError): NonNullable<ReportInit["error"]> {
  return {
    code: e.code,
    message: e.message,
    retryable: e.retryable,
    objects: e.objects.map((o: ObjectFailure) => ({ ref: o.ref as ObjectRefInit, message: o.message })),
  };
}

/** How one prune decision shows in the report. */
export function prunedStatusOf(decision: PruneDecision): ResourceStatusInit {
  return {
    ref: toProtoRef(decision.ref),
    health: Health.HEALTH_UNSPECIFIED,
    sync: decision.action === "skip" ? ResourceSync.RESOURCE_SYNC_FAILED : ResourceSync.RESOURCE_SYNC_PRUNED,
    message: decision.action === "skip" ? decision.reason : decision.action === "gone" ? "already gone" : "pruned",
  };
}
