/**
 * Metric analysis of a wave, the pure half: which measurements are due, what a measured value
 * means, and what an analysis comes to. The conductor runs the queries `dueMeasurements` names
 * and hands the values to the next step as observations; time and values come in, nothing goes
 * out but decisions.
 *
 * Rules:
 * - Bake analyses (`phase: bake`, the default) start when their wave starts baking, and only if
 *   the bake has something new to watch (a healthy cluster whose desired state changed);
 *   otherwise they are skipped. Their per-cluster queries are about the changed healthy clusters.
 * - Pre-promotion analyses (`phase: prePromotion`) start when their wave's turn comes (the
 *   previous wave succeeded, promote given if required, nothing holds the rollout) and must all
 *   succeed before the wave writes its first cluster. Their per-cluster queries are about every
 *   cluster of the wave, none of which has the target yet.
 * - A measurement is due `intervalSeconds` after the start, then after each recorded one.
 * - A measurement is recorded once: an observation answers one round (the number already
 *   recorded), so feeding the same observations again changes nothing.
 * - A round fails if any cluster's value fails the condition (or has no data, with
 *   `noData: failure`); else it is inconclusive if any value is missing (`noData: inconclusive`)
 *   or a query failed; else it succeeds.
 * - More failures than `failureLimit`: the analysis fails, and so does the wave (like a cluster
 *   over the failure budget: rolled back with autoRollback). More inconclusive rounds than
 *   `inconclusiveLimit`: the analysis is inconclusive and pauses the rollout; `resume` drops the
 *   inconclusive rounds and measures again. `count` conclusive rounds within the limits: succeeded.
 * - A wave completes only when its bake is over AND none of its analyses is still running.
 */

import type { AnalysisRun, Measurement, MeasurementVerdict } from "@flotilla/api";
import type { MeasurementObservation } from "./observation.js";
import { currentWaveIndex, isTerminal, type RolloutState, type WaveProgress } from "./state.js";

/** A measurement the conductor should take now. */
export interface DueMeasurement {
  wave: string;
  analysis: string;
  /** Pass back in {@link MeasurementObservation.round}. */
  round: number;
  /** The query as written: substitute `{{cluster}}` and `{{labels.*}}` per cluster when present. */
  query: string;
  /** The wave's healthy clusters whose desired state changed: whose metrics the query is about. */
  clusters: string[];
}

/** Whether an analysis runs before its wave's promotion rather than during its bake. */
export function isPrePromotion(a: Pick<AnalysisRun, "phase">): boolean {
  return a.phase === "prePromotion";
}

/**
 * The measurements due at `nowMs`: of the current wave's running analyses, while it bakes (bake
 * analyses) or while it waits to be promoted and nothing holds or pauses the rollout (pre-promotion ones).
 */
export function dueMeasurements(rollout: RolloutState, nowMs: number): DueMeasurement[] {
  if (isTerminal(rollout.state)) return [];
  const wave = rollout.waves[currentWaveIndex(rollout) ?? -1];
  if (!wave) return [];
  const baking = wave.status === "baking";
  const promoting =
    (wave.status === "pending" || wave.status === "awaiting-approval") &&
    rollout.state !== "Paused" &&
    rollout.hold === undefined;
  if (!baking && !promoting) return [];
  const clusters = baking
    ? wave.clusters.filter((c) => c.state === "healthy" && !c.unchanged).map((c) => c.name)
    : wave.clusters.map((c) => c.name);
  const due: DueMeasurement[] = [];
  for (const a of wave.analyses ?? []) {
    if (a.status !== "running" || isPrePromotion(a) === baking) continue;
    const last = a.measurements.at(-1)?.atMs ?? a.startedAtMs ?? nowMs;
    if (nowMs - last >= a.intervalSeconds * 1000)
      due.push({ wave: wave.name, analysis: a.name, round: a.measurements.length, query: a.query, clusters });
  }
  return due;
}

/**
 * Starts the pre-promotion analyses of a wave whose turn came; returns whether all of them
 * succeeded (true too when it has none), i.e. whether the wave may write.
 */
export function startPrePromotion(wave: WaveProgress, nowMs: number): { ready: boolean; started: AnalysisRun[] } {
  const pre = (wave.analyses ?? []).filter(isPrePromotion);
  const started: AnalysisRun[] = [];
  for (const a of pre) {
    if (a.status !== "pending") continue;
    a.status = "running";
    a.startedAtMs = nowMs;
    a.measurements = [];
    delete a.reason;
    started.push(a);
  }
  return { ready: pre.every((a) => a.status === "succeeded"), started };
}

/** Starts (or skips, with nothing new to watch) the analyses of a wave that just began baking. */
export function startAnalyses(wave: WaveProgress, watching: boolean, nowMs: number): void {
  for (const a of wave.analyses ?? []) {
    if (isPrePromotion(a)) continue;
    a.measurements = [];
    delete a.reason;
    if (watching) {
      a.status = "running";
      a.startedAtMs = nowMs;
    } else {
      a.status = "skipped";
      a.reason = "nothing new to measure: no cluster's desired state changed";
    }
  }
}

/** Puts a wave's analyses back to pending: a newer write restarted its bake. */
export function resetAnalyses(wave: WaveProgress): void {
  for (const a of wave.analyses ?? []) {
    if (isPrePromotion(a)) continue; // decided before the wave wrote anything; a newer write does not undo it
    a.status = "pending";
    a.measurements = [];
    delete a.startedAtMs;
    delete a.reason;
  }
}

/**
 * Records the observed measurements that answer a running analysis of `wave` and settles each
 * analysis they decide; returns the analyses that changed status (for events).
 */
export function recordMeasurements(
  wave: WaveProgress,
  observed: readonly MeasurementObservation[],
  nowMs: number,
): { run: AnalysisRun; measurement: Measurement }[] {
  const recorded: { run: AnalysisRun; measurement: Measurement }[] = [];
  for (const o of observed) {
    if (o.wave !== wave.name) continue;
    const run = wave.analyses?.find((a) => a.name === o.analysis);
    if (run?.status !== "running" || run.measurements.length !== o.round) continue;
    const measurement = judge(run, o, nowMs);
    run.measurements.push(measurement);
    settle(run);
    recorded.push({ run, measurement });
  }
  return recorded;
}

/** Drops the inconclusive rounds of inconclusive analyses and runs them again (`resume`). */
export function retryInconclusive(wave: WaveProgress): AnalysisRun[] {
  const retried: AnalysisRun[] = [];
  for (const a of wave.analyses ?? []) {
    if (a.status !== "inconclusive") continue;
    a.measurements = a.measurements.filter((m) => m.verdict !== "inconclusive");
    a.status = "running";
    delete a.reason;
    retried.push(a);
  }
  return retried;
}

/** One round's verdict and words. */
function judge(run: AnalysisRun, o: MeasurementObservation, nowMs: number): Measurement {
  const { operator, threshold } = run.successCondition;
  const wanted = `wanted ${operator} ${threshold}`;
  const parts = o.results.map((r) => {
    const where = r.cluster ? ` on ${r.cluster}` : "";
    let verdict: MeasurementVerdict;
    let said: string;
    if (r.error !== undefined) {
      verdict = "inconclusive";
      said = `${where} could not be measured: ${r.error}`;
    } else if (r.value === undefined || Number.isNaN(r.value)) {
      verdict = run.noData;
      said = `${where} returned no data (noData: ${run.noData})`;
    } else {
      verdict = compare(r.value, operator, threshold) ? "success" : "failure";
      said = `${where} = ${r.value}, ${wanted}`;
    }
    return { verdict, said };
  });
  if (parts.length === 0)
    parts.push({ verdict: run.noData, said: ` had no cluster to measure (noData: ${run.noData})` });
  const verdict: MeasurementVerdict = parts.some((p) => p.verdict === "failure")
    ? "failure"
    : parts.some((p) => p.verdict === "inconclusive")
      ? "inconclusive"
      : "success";
  const shown = verdict === "success" ? parts : parts.filter((p) => p.verdict === verdict);
  return { atMs: nowMs, verdict, message: `${run.query}${shown.map((p) => p.said).join(";")}` };
}

function compare(value: number, operator: AnalysisRun["successCondition"]["operator"], threshold: number): boolean {
  switch (operator) {
    case "<":
      return value < threshold;
    case "<=":
      return value <= threshold;
    case ">":
      return value > threshold;
    case ">=":
      return value >= threshold;
  }
}

/** Moves a running analysis to its verdict once its measurements decide it. */
function settle(run: AnalysisRun): void {
  const count = (v: MeasurementVerdict) => run.measurements.filter((m) => m.verdict === v).length;
  const failures = count("failure");
  const inconclusive = count("inconclusive");
  const last = run.measurements.at(-1);
  const what = isPrePromotion(run) ? `pre-promotion analysis "${run.name}"` : `analysis "${run.name}"`;
  if (failures > run.failureLimit) {
    run.status = "failed";
    run.reason = `${what} failed ${failures} measurement(s), over its failure limit of ${run.failureLimit}: ${last?.message ?? ""}`;
  } else if (inconclusive > run.inconclusiveLimit) {
    run.status = "inconclusive";
    run.reason = `${what} was inconclusive ${inconclusive} time(s), over its limit of ${run.inconclusiveLimit}: ${last?.message ?? ""}; resume to measure again, or roll back`;
  } else if (count("success") + failures >= run.count) {
    run.status = "succeeded";
  }
}
