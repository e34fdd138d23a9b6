/**
 * Opening what agents sign: a report or heartbeat is verified with its cluster's own agent key,
 * must name the cluster (and app) its key or subject names, and is turned into the plain record
 * the hub stores. Pure apart from the key cache, so it runs the same on the main thread and in
 * a verification thread (see verifier.ts), and its results cross threads as plain data.
 */
import { createHash } from "node:crypto";
import {
  errorCodeName,
  HEARTBEAT,
  Health,
  healthName,
  open,
  ProtocolError,
  REPORT,
  type Report,
  ResourceSync,
  SourceType,
  syncPhaseName,
} from "@flotilla/proto";
import type { AgentKeys } from "../registry/agent-keys.js";
import { type ReportRecord, type SerializedReport, serializeReport } from "../store.js";

/** A signed message and the key it must verify with. */
export interface SignedItem {
  /** The cluster its key or subject names. */
  cluster: string;
  /** SPKI PEM of that cluster's agent key. */
  pem: string;
  bytes: Uint8Array;
}

/** A signed report, read at the key `<cluster>.<app>` of the status bucket. */
export interface SignedReport extends SignedItem {
  app: string;
}

/** What a verified heartbeat tells. */
export interface HeartbeatFacts {
  agentVersion: string;
  kubernetesVersion: string;
  capabilities: string[];
  /** Version of the hub key set the agent holds. */
  hubKeySetVersion: number;
  /** Set when the cluster asks for a freeze (a non-empty reason in the heartbeat). */
  freeze?: { reason: string; source: string };
}

/** Longest freeze reason or source kept from a heartbeat; the rest is cut, so a beat cannot bloat a status. */
const FREEZE_TEXT_MAX = 500;

/** An opened message, or why it was refused (a metric label) and a line for the log. */
export type Verdict<T> = { ok: true; value: T } | { ok: false; reason: string; detail: string };

function refused(err: unknown): { ok: false; reason: string; detail: string } {
  return {
    ok: false,
    reason: err instanceof ProtocolError ? err.code : "error",
    detail: err instanceof Error ? err.message : String(err),
  };
}

/** The source types a report may name, as the API spells them; unspecified (no render yet) is left out. */
const SOURCE_TYPE_NAMES: Partial<Record<SourceType, "manifests" | "kustomize" | "helm">> = {
  [SourceType.SOURCE_TYPE_MANIFESTS]: "manifests",
  [SourceType.SOURCE_TYPE_KUSTOMIZE]: "kustomize",
  [SourceType.SOURCE_TYPE_HELM]: "helm",
};

function sourceTypeOf(report: Report): Pick<ReportRecord, "sourceType"> {
  const name = SOURCE_TYPE_NAMES[report.sourceType ?? SourceType.SOURCE_TYPE_UNSPECIFIED];
  return name ? { sourceType: name } : {};
}

function reportRecord(report: Report, digest: string, receivedAtMs: number): ReportRecord {
  return {
    cluster: report.cluster,
    app: report.app,
    observedGeneration: Number(report.observedGeneration),
    revision: report.revision,
    rolloutId: report.rolloutId,
    phase: syncPhaseName(report.phase),
    health: healthName(report.health),
    ...(report.error?.code
      ? {
          error: {
            code: errorCodeName(report.error.code),
            message: report.error.message ?? "",
            retryable: Boolean(report.error.retryable),
          },
        }
      : {}),
    ...(Number(report.rejectedGeneration) > 0 ? { rejectedGeneration: Number(report.rejectedGeneration) } : {}),
    ...sourceTypeOf(report),
    resources: report.resources.map((r) => ({
      kind: r.ref?.kind ?? "",
      namespace: r.ref?.namespace ?? "",
      name: r.ref?.name ?? "",
      health: healthName(r.health ?? Health.HEALTH_UNKNOWN),
      sync: (ResourceSync[r.sync ?? 0] ?? "RESOURCE_SYNC_UNSPECIFIED").slice("RESOURCE_SYNC_".length).toLowerCase(),
      message: r.message ?? "",
    })),
    reportedAtMs: Number(report.reportedAtMs),
    receivedAtMs,
    agentVersion: report.agentVersion,
    digest,
  };
}

/** Verifies one report and turns it into the record stored; its digest lets a re-delivery be skipped. */
export function openReport(keys: AgentKeys, item: SignedReport, receivedAtMs: number): Verdict<ReportRecord> {
  let report: Report;
  try {
    report = open(REPORT, item.bytes, keys.ring(item.pem)).message;
  } catch (err) {
    return refused(err);
  }
  if (report.cluster !== item.cluster || report.app !== item.app) {
    return {
      ok: false,
      reason: "cluster_mismatch",
      detail: `report stored under ${item.cluster}.${item.app} claims ${report.cluster}.${report.app}`,
    };
  }
  const digest = createHash("sha256").update(item.bytes).digest("hex");
  return { ok: true, value: reportRecord(report, digest, receivedAtMs) };
}

/** Verifies one heartbeat, which must name the cluster of its subject. */
export function openHeartbeat(keys: AgentKeys, item: SignedItem): Verdict<HeartbeatFacts> {
  try {
    const beat = open(HEARTBEAT, item.bytes, keys.ring(item.pem)).message;
    if (beat.cluster !== item.cluster) {
      return {
        ok: false,
        reason: "cluster_mismatch",
        detail: `heartbeat on ${item.cluster}'s subject claims ${beat.cluster}`,
      };
    }
    return {
      ok: true,
      value: {
        agentVersion: beat.agentVersion,
        kubernetesVersion: beat.kubernetesVersion,
        capabilities: [...beat.capabilities],
        hubKeySetVersion: Number(beat.hubKeySetVersion ?? 0),
        ...(beat.freezeReason
          ? {
              freeze: {
                reason: beat.freezeReason.slice(0, FREEZE_TEXT_MAX),
                source: (beat.freezeSource || "agent").slice(0, FREEZE_TEXT_MAX),
              },
            }
          : {}),
      },
    };
  } catch (err) {
    return refused(err);
  }
}

/** {@link openReport}, serialized for storing (what the verification threads hand back). */
export function openReportSerialized(
  keys: AgentKeys,
  item: SignedReport,
  receivedAtMs: number,
): Verdict<SerializedReport> {
  const verdict = openReport(keys, item, receivedAtMs);
  return verdict.ok ? { ok: true, value: serializeReport(verdict.value) } : verdict;
}
