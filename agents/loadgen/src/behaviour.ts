/**
 * How a simulated agent answers a desired state: which reports it sends, when, and whether the
 * revision fails. Pure, so the sequence is tested with a table; the fleet schedules and signs.
 */
import { createHash } from "node:crypto";
import { ErrorCode, type ErrorInfoInit, Health, SyncPhase } from "@flotilla/proto";

/** The phases a real agent reports while it works on a revision, before the verdict. */
export const WORK_PHASES: readonly SyncPhase[] = [
  SyncPhase.SYNC_PHASE_FETCHING,
  SyncPhase.SYNC_PHASE_RENDERING,
  SyncPhase.SYNC_PHASE_VALIDATING,
  SyncPhase.SYNC_PHASE_APPLYING,
];

/** Most reports per revision: every work phase, then the verdict. */
export const MAX_REPORTS_PER_REVISION = WORK_PHASES.length + 1;

/** How every simulated agent of a fleet behaves. */
export interface AgentBehaviour {
  /**
   * Time from accepting a desired state to its verdict (the last report); the work phases are
   * spread evenly before it. @default 0
   */
  reportDelayMs: number;
  /**
   * Reports per revision, 1 to {@link MAX_REPORTS_PER_REVISION}: 1 sends the verdict alone; 5
   * sends fetching, rendering, validating, applying and then the verdict, as a real agent does.
   * @default 1
   */
  reportsPerRevision: number;
  /**
   * Share of (cluster, revision) pairs that fail, 0 to 1: the verdict is phase failed, health
   * degraded, with an apply error. Chosen by a hash of the pair, so a run repeats. @default 0
   */
  failureRatio: number;
  /** Resources listed in each report, so reports weigh what a small app's do. @default 3 */
  resourcesPerReport: number;
  /**
   * Whether the work-phase reports before a verdict wait for the stream's acknowledgement, as a
   * real agent's do. The stream stores them and the hub reads them the same either way; without
   * the wait the simulated agents skip a JetStream request each (~120 µs of their CPU), which
   * on one machine with thousands of agents otherwise sets the pace of a five-report rollout.
   * Verdicts are always acknowledged (and sent again with the next heartbeat when not).
   * @default true
   */
  ackWorkReports: boolean;
}

export const DEFAULT_BEHAVIOUR: AgentBehaviour = {
  reportDelayMs: 0,
  reportsPerRevision: 1,
  failureRatio: 0,
  resourcesPerReport: 3,
  ackWorkReports: true,
};

/** One report a simulated agent sends for a revision. */
export interface PlannedReport {
  /** After accepting the desired state. */
  afterMs: number;
  phase: SyncPhase;
  health: Health;
  error?: ErrorInfoInit;
}

/** Whether `cluster` fails `revision` at this ratio: a stable hash of the pair against the ratio. */
export function failsRevision(cluster: string, revision: string, ratio: number): boolean {
  if (ratio <= 0) return false;
  if (ratio >= 1) return true;
  const h = createHash("sha256").update(`${cluster}\0${revision}`).digest();
  return h.readUInt32BE(0) / 0x1_0000_0000 < ratio;
}

/**
 * The reports for one revision, in order: the last `reportsPerRevision - 1` work phases, then
 * the verdict at `reportDelayMs`. Work-phase reports carry the health the agent had before
 * (`previous`), as a real agent's do, so they never pass a rollout's health gate.
 */
export function reportPlan(behaviour: AgentBehaviour, fails: boolean, previous: Health): PlannedReport[] {
  const count = Math.min(Math.max(1, Math.floor(behaviour.reportsPerRevision)), MAX_REPORTS_PER_REVISION);
  const work = WORK_PHASES.slice(WORK_PHASES.length - (count - 1));
  const at = (i: number) => Math.round((behaviour.reportDelayMs * i) / count);
  const plan: PlannedReport[] = work.map((phase, i) => ({ afterMs: at(i), phase, health: previous }));
  plan.push(
    fails
      ? {
          afterMs: behaviour.reportDelayMs,
          phase: SyncPhase.SYNC_PHASE_FAILED,
          health: Health.HEALTH_DEGRADED,
          error: { code: ErrorCode.ERROR_CODE_APPLY_FAILED, message: "simulated apply failure", retryable: false },
        }
      : { afterMs: behaviour.reportDelayMs, phase: SyncPhase.SYNC_PHASE_SYNCED, health: Health.HEALTH_HEALTHY },
  );
  return plan;
}
