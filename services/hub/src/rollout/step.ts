/**
 * The rollout engine's step: `(rollout, observations, now) → (rollout', actions)`. Pure and
 * deterministic: no I/O, no clock, no randomness, the input is never mutated. The hub's leader
 * calls it on every tick (and after every report, command or write confirmation), persists the
 * returned rollout, then executes the actions (see write.ts for why in that order).
 *
 * Rules, per wave (only the current wave, the first not yet succeeded, is worked on):
 * - A wave starts when the previous one succeeded, after `promote` if it requires approval,
 *   and never while Paused.
 * - At most `maxConcurrency` clusters are in flight (writing or progressing). A slot frees when a
 *   cluster turns healthy or fails. Clusters are taken in name order.
 * - A cluster is healthy ONLY on a report for the exact generation the rollout wrote, at
 *   `to.revision`, health "healthy", phase "synced". A report for an older generation or another
 *   revision (e.g. the previous revision, still healthy) passes nothing. A settings-only change
 *   keeps the revision; the new generation alone tells its report apart. A write that changed
 *   nothing (the cluster already had the target: `unchanged`) got the generation in force, so
 *   the cluster passes on its existing healthy report.
 * - A cluster fails on a report for its generation that is degraded or whose apply failed for
 *   good, on the agent rejecting its generation, on a newer generation written by someone else, or when the
 *   progress deadline (counted from the write decision) passes without a healthy verdict. An
 *   apply failure the agent retries (`error.retryable`: its API server unreachable, a 5xx,
 *   throttling) is no verdict, nor a regression of a healthy cluster: the deadline bounds it.
 * - Once healthy, a cluster must stay healthy (health "healthy", apply not failed) until its wave
 *   completes; anything else is a regression and a failure of that cluster.
 * - Failed clusters count against the wave's failure budget; one more than the budget fails the
 *   rollout (RolledBack with autoRollback and a last good revision, else Failed).
 * - When every cluster of the wave is healthy, failed within budget, or skipped, the wave bakes for
 *   `bakeSeconds` (no bake without a healthy cluster whose desired state changed: nothing new to
 *   watch), then succeeds and the next starts.
 * - Offline clusters (registry state not Ready) are never written. Policy "block": the cluster
 *   waits, holds no slot, and its wave cannot complete until it returns and turns healthy; its
 *   deadline starts when it is written. Policy "skip": it is marked skipped when its turn comes.
 *   A cluster already written is judged by its reports and the deadline under both policies, so
 *   a revision that cuts a cluster off cannot slip through as "offline".
 * - A Ready cluster that asks for a freeze itself (observation `freeze`, from its heartbeat) is
 *   treated as an offline one under the same policy: "block" waits with the reason
 *   "cluster requested a freeze: <reason>", "skip" leaves it behind, reported.
 * - A window or freeze limited to a cluster selector (observation `held`): the cluster waits,
 *   holds no slot, and its wave cannot complete until it is released; the others go ahead. The
 *   override lifts these as it lifts holds; it does not lift a cluster's own freeze.
 * - Paused: nothing new is written and no wave starts; in-flight clusters are still judged, a
 *   wave may finish its bake, and the budget can still fail (and roll back) the rollout.
 * - Held (observations.holds: a closed calendar window, a freeze), unless the override command
 *   was given: like Paused (no wave starts, nothing new is written, in-flight clusters are judged
 *   and rolled back if they fail), and the rollout records why in `hold`; it moves on by itself
 *   once nothing holds it.
 * - Dependencies: a pending cluster whose observation says `blockedBy` (an app this one depends
 *   on is not Healthy at its newest desired state there) is not written and holds no slot; its
 *   reason says which app and state. Other clusters of the wave go ahead.
 * - Pre-promotion analyses (analysis.ts) start when a wave's turn comes; the wave writes its first
 *   cluster only once they all succeeded; one that fails fails the rollout before the wave writes.
 * - Analyses (analysis.ts): a baking wave's metric checks are measured from observations; one
 *   that fails fails the wave and the rollout (rolled back with autoRollback), one inconclusive
 *   too often pauses the rollout, and the wave completes only when its bake is over and none is
 *   still running.
 */

import { type Action, actionBase, eventAction, type RolloutEventType, type StepResult } from "./action.js";
import { recordMeasurements, resetAnalyses, startAnalyses, startPrePromotion } from "./analysis.js";
import { copyRollout, own } from "./copy.js";
import { waveDurationSeconds } from "./leadtime.js";
import {
  APPLY_FAILED,
  type ClusterObservation,
  type ClusterReport,
  DEGRADED,
  HEALTHY,
  type Observations,
  REJECTED,
  SYNCED,
} from "./observation.js";
import { endFailed, endSucceeded } from "./outcome.js";
import {
  type ClusterProgress,
  currentWaveIndex,
  describeTarget,
  isTerminal,
  type RolloutState,
  type WaveProgress,
} from "./state.js";
import { outstandingWrites } from "./write.js";

/** Advances `rollout` as far as `observations` at `nowMs` allow; returns the new state and what to do. */
export function step(rollout: RolloutState, observations: Observations, nowMs: number): StepResult {
  // Clusters are copied only when the step changes them (copy.ts): a step costs the clusters
  // whose observations moved them, not a copy of the whole rollout.
  const next = copyRollout(rollout);
  const actions: Action[] = [];
  if (!isTerminal(next.state)) advance(next, observations, nowMs, actions);
  if (isTerminal(next.state)) delete next.hold;
  actions.push(...outstandingWrites(next, nowMs));
  return { rollout: next, actions };
}

function advance(r: RolloutState, observations: Observations, now: number, out: Action[]): void {
  if (r.startedAtMs === undefined) {
    r.startedAtMs = now;
    const clusters = r.waves.reduce((n, w) => n + w.clusters.length, 0);
    out.push(
      eventAction(
        r,
        now,
        "RolloutStarted",
        `rolling out ${describeTarget(r.to)} (${r.changed.join(" and ")} changed) to ${clusters} cluster(s) in ${r.waves.length} wave(s)`,
      ),
    );
  }
  if (r.state === "Pending") r.state = "Progressing";
  updateHold(r, observations, now, out);
  for (;;) {
    const index = currentWaveIndex(r);
    if (index === undefined) {
      endSucceeded(r, now, out);
      return;
    }
    const wave = r.waves[index];
    if (!wave) return;
    if (
      (wave.status === "pending" || wave.status === "awaiting-approval") &&
      !openWave(r, wave, index, observations, now, out)
    )
      return;

    wave.clusters.forEach((c, i) => {
      judgeCluster(r, wave, i, observations.clusters[c.name], now, out);
    });
    const failed = wave.clusters.filter((c) => c.state === "failed");
    if (failed.length > wave.failureBudget) {
      wave.status = "failed";
      const why = failed.map((c) => `${c.name}: ${c.reason ?? "failed"}`).join("; ");
      const reason = `wave "${wave.name}": ${failed.length} cluster(s) failed, over its failure budget of ${wave.failureBudget} (${why})`;
      endFailed(r, { kind: "budget-exceeded", reason, wave: wave.name, atMs: now }, r.autoRollback, now, out);
      return;
    }

    if (r.state !== "Paused" && !r.hold) dispatch(r, wave, observations, now, out);
    if (!wave.clusters.every(hasVerdict)) {
      // A newer confirmed write can send a healthy cluster back to progressing; the bake restarts.
      if (wave.status === "baking") {
        wave.status = "progressing";
        delete wave.bakeStartedAtMs;
        resetAnalyses(wave);
      }
      return;
    }
    const watching = wave.clusters.some((c) => c.state === "healthy" && !c.unchanged);
    const bakeMs = watching ? wave.bakeSeconds * 1000 : 0;
    if (wave.status === "progressing") {
      wave.status = "baking";
      wave.bakeStartedAtMs = now;
      startAnalyses(wave, watching, now);
      if (bakeMs > 0)
        out.push(eventAction(r, now, "BakeStarted", `baking for ${wave.bakeSeconds}s`, { wave: wave.name }));
    }
    if (!analyse(r, wave, observations, now, out)) return;
    if (now - (wave.bakeStartedAtMs ?? now) < bakeMs) return;
    if (wave.analyses?.some((a) => a.status !== "succeeded" && a.status !== "skipped")) return;
    wave.status = "succeeded";
    wave.completedAtMs = now;
    out.push({
      kind: "WaveCompleted",
      ...actionBase(r, now),
      wave: wave.name,
      index,
      durationSeconds: waveDurationSeconds(wave) ?? 0,
    });
  }
}

/** Starts a pending wave if allowed; returns whether it is now progressing. */
function openWave(
  r: RolloutState,
  wave: WaveProgress,
  index: number,
  observations: Observations,
  now: number,
  out: Action[],
): boolean {
  if (wave.requireApproval && wave.approvedAtMs === undefined) {
    if (wave.status !== "awaiting-approval") {
      wave.status = "awaiting-approval";
      out.push(eventAction(r, now, "AwaitingApproval", `wave "${wave.name}" waits for promote`, { wave: wave.name }));
    }
    return false;
  }
  if (r.state === "Paused" || r.hold) return false;
  // Pre-promotion analyses: measured now, about the clusters the wave is about to write.
  const { ready, started } = startPrePromotion(wave, now);
  for (const a of started)
    out.push(
      eventAction(r, now, "PrePromotionAnalysisStarted", `pre-promotion analysis "${a.name}" started`, {
        wave: wave.name,
      }),
    );
  if (!ready && (!analyse(r, wave, observations, now, out) || !startPrePromotion(wave, now).ready)) return false;
  wave.status = "progressing";
  wave.startedAtMs = now;
  out.push({
    kind: "WaveStarted",
    ...actionBase(r, now),
    wave: wave.name,
    index,
    clusters: wave.clusters.map((c) => c.name),
  });
  return true;
}

/** Records why the rollout is held now (the first hold observed), or that nothing holds it any more. */
function updateHold(r: RolloutState, observations: Observations, now: number, out: Action[]): void {
  const hold = r.holdOverride ? undefined : observations.holds?.[0];
  if (hold) {
    if (r.hold?.kind === hold.kind && r.hold.reason === hold.reason) return;
    r.hold = { kind: hold.kind, reason: hold.reason, sinceMs: r.hold?.kind === hold.kind ? r.hold.sinceMs : now };
    out.push(eventAction(r, now, "Held", `held: ${hold.reason}`));
  } else if (r.hold) {
    const was = r.hold;
    delete r.hold;
    out.push(eventAction(r, now, "Released", `no longer held (was: ${was.reason})`));
  }
}

/**
 * Records this step's measurements of a baking wave and acts on what its analyses came to;
 * returns false when the wave cannot move on in this step (an analysis failed the rollout, or
 * paused it).
 */
function analyse(r: RolloutState, wave: WaveProgress, observations: Observations, now: number, out: Action[]): boolean {
  if (!wave.analyses?.length) return true;
  const about = { wave: wave.name };
  for (const { run, measurement } of recordMeasurements(wave, observations.measurements ?? [], now)) {
    out.push(
      eventAction(
        r,
        now,
        "AnalysisMeasured",
        `analysis "${run.name}": ${measurement.verdict}: ${measurement.message}`,
        about,
      ),
    );
    if (run.status === "succeeded")
      out.push(eventAction(r, now, "AnalysisSucceeded", `analysis "${run.name}" succeeded`, about));
  }
  const failed = wave.analyses.find((a) => a.status === "failed");
  if (failed) {
    wave.status = "failed";
    const reason = `wave "${wave.name}": ${failed.reason ?? `analysis "${failed.name}" failed`}`;
    out.push(eventAction(r, now, "AnalysisFailed", reason, about));
    endFailed(r, { kind: "analysis-failed", reason, wave: wave.name, atMs: now }, r.autoRollback, now, out);
    return false;
  }
  const inconclusive = wave.analyses.find((a) => a.status === "inconclusive");
  if (inconclusive) {
    if (r.state !== "Paused") {
      r.state = "Paused";
      r.pausedAtMs = now;
      out.push(eventAction(r, now, "AnalysisInconclusive", `paused: ${inconclusive.reason ?? ""}`, about));
    }
    return false;
  }
  return true;
}

/** Healthy, failed or skipped: nothing more to wait for before the bake. */
function hasVerdict(c: ClusterProgress): boolean {
  return c.state === "healthy" || c.state === "failed" || c.state === "skipped";
}

/** Fills free slots of the wave with pending clusters, in order, as the offline policy says. */
function dispatch(r: RolloutState, wave: WaveProgress, observations: Observations, now: number, out: Action[]): void {
  let free =
    wave.maxConcurrency - wave.clusters.filter((c) => c.state === "writing" || c.state === "progressing").length;
  wave.clusters.forEach((c, i) => {
    if (c.state !== "pending") return;
    const observed = observations.clusters[c.name];
    const connectivity = observed?.connectivity ?? "Offline";
    const about = { wave: wave.name, cluster: c.name };
    /** Sets the cluster's waiting reason, announcing it when it is new. */
    const wait = (reason: string, event: RolloutEventType) => {
      if (c.reason === reason) return;
      own(r, wave, i).reason = reason;
      out.push(eventAction(r, now, event, reason, about));
    };
    const skip = (reason: string) => {
      const m = own(r, wave, i);
      m.state = "skipped";
      m.skippedAtMs = now;
      m.reason = reason;
      out.push(eventAction(r, now, "ClusterSkipped", reason, about));
    };
    if (connectivity === "Ready" && observed?.held && !r.holdOverride) {
      wait(`waiting: held, ${observed.held}`, "ClusterHeld");
    } else if (connectivity === "Ready" && observed?.freeze !== undefined) {
      // A cluster that asks for a freeze is treated as an offline one, under the same policy.
      const asked = `cluster requested a freeze: ${observed.freeze}`;
      if (r.offlineClusters === "block") wait(`waiting: ${asked} (offlineClusters: block)`, "ClusterWaitingFrozen");
      else if (free > 0) skip(`skipped: ${asked} when its turn came (offlineClusters: skip)`);
    } else if (connectivity === "Ready" && observed?.blockedBy) {
      wait(`waiting: blocked by ${observed.blockedBy}`, "ClusterBlocked");
    } else if (connectivity === "Ready") {
      if (free <= 0) {
        // Back online, waiting only for a slot now.
        if (c.reason !== undefined) delete own(r, wave, i).reason;
        return;
      }
      free--;
      const m = own(r, wave, i);
      m.state = "writing";
      m.dispatchedAtMs = now;
      delete m.reason;
    } else if (r.offlineClusters === "block") {
      if (c.reason === undefined)
        wait(`waiting: cluster is ${connectivity} (offlineClusters: block)`, "ClusterWaitingOffline");
    } else if (free > 0) {
      skip(`skipped: cluster was ${connectivity} when its turn came (offlineClusters: skip)`);
    }
  });
}

/** Moves one in-flight or healthy cluster (`wave.clusters[index]`) on from what its latest report says. */
function judgeCluster(
  r: RolloutState,
  wave: WaveProgress,
  index: number,
  observation: ClusterObservation | undefined,
  now: number,
  out: Action[],
): void {
  const c = wave.clusters[index];
  if (!c) return;
  const report = observation?.report;
  const about = { wave: wave.name, cluster: c.name };
  let failure: string | undefined;
  if (c.state === "progressing" && c.generation !== undefined) {
    const verdict = gate(c.generation, r.to.revision, report);
    if (verdict === true) {
      const m = own(r, wave, index);
      m.state = "healthy";
      m.healthyAtMs = now;
      const message = c.unchanged
        ? `healthy at generation ${c.generation}, unchanged (its desired state already was this target)`
        : `healthy at generation ${c.generation}`;
      out.push(eventAction(r, now, "ClusterHealthy", message, about));
      return;
    }
    failure = verdict;
  } else if (c.state === "healthy" && c.generation !== undefined) {
    const regression = regressionOf(c.generation, r.to.revision, report);
    if (regression) failure = `regressed after turning healthy: ${regression}`;
  }
  if (
    failure === undefined &&
    (c.state === "writing" || c.state === "progressing") &&
    now - (c.dispatchedAtMs ?? now) >= r.progressDeadlineSeconds * 1000
  )
    failure = `not healthy within the progress deadline of ${r.progressDeadlineSeconds}s (${describe(c, report)})`;
  if (failure === undefined) return;
  const m = own(r, wave, index);
  m.state = "failed";
  m.failedAtMs = now;
  m.reason = failure;
  out.push(eventAction(r, now, "ClusterFailed", failure, about));
}

/**
 * The health gate: true when `report` proves `generation` at `revision` healthy and synced, a
 * reason when it proves that write failed, undefined while there is no verdict yet.
 */
function gate(generation: number, revision: string, report: ClusterReport | undefined): true | string | undefined {
  if (!report) return undefined;
  if (report.phase === REJECTED && report.rejectedGeneration === generation)
    return `the agent rejected generation ${generation}${detail(report)}`;
  if (report.observedGeneration > generation)
    return `rewritten outside this rollout: the agent acts on generation ${report.observedGeneration}, the rollout wrote ${generation}`;
  if (report.observedGeneration !== generation || report.revision !== revision) return undefined;
  // A failure the agent retries (its API server unreachable, a 5xx, throttling) is no verdict:
  // the agent applies again with backoff, and the progress deadline bounds the wait.
  if (report.phase === APPLY_FAILED) return report.error?.retryable ? undefined : `apply failed${detail(report)}`;
  if (report.health === DEGRADED) return `degraded${detail(report)}`;
  if (report.health === HEALTHY && report.phase === SYNCED) return true;
  return undefined;
}

/** Why a healthy cluster no longer is, or undefined while it still is (or nothing newer is known). */
function regressionOf(generation: number, revision: string, report: ClusterReport | undefined): string | undefined {
  if (!report) return undefined;
  if (report.observedGeneration > generation)
    return `rewritten outside this rollout: the agent acts on generation ${report.observedGeneration}`;
  if (report.observedGeneration !== generation || report.revision !== revision) return undefined;
  // While the agent retries a failure of its own API server it cannot judge health either.
  if (report.phase === APPLY_FAILED) return report.error?.retryable ? undefined : `apply failed${detail(report)}`;
  if (report.health !== HEALTHY) return `health is ${report.health}${detail(report)}`;
  return undefined;
}

function detail(report: ClusterReport): string {
  if (report.error?.message) return `: ${report.error.message}`;
  const worst = worstResource(report);
  return worst ? `: ${worst}` : "";
}

/** How bad a health is, for naming the object that holds a cluster back; healthy is not named. */
const RESOURCE_RANK: Readonly<Record<string, number>> = {
  suspended: 1,
  progressing: 2,
  missing: 3,
  degraded: 4,
  unknown: 5,
};

/** The worst object of a report that is not healthy, as `Kind/name health: message`. */
function worstResource(report: ClusterReport): string | undefined {
  let worst: NonNullable<ClusterReport["resources"]>[number] | undefined;
  for (const r of report.resources ?? []) {
    const rank = RESOURCE_RANK[r.health] ?? 0;
    if (rank > 0 && rank > (worst ? (RESOURCE_RANK[worst.health] ?? 0) : 0)) worst = r;
  }
  if (!worst) return undefined;
  return `${worst.kind}/${worst.name} ${worst.health}${worst.message ? `: ${worst.message}` : ""}`;
}

function describe(c: ClusterProgress, report: ClusterReport | undefined): string {
  const wrote = c.generation === undefined ? "write not confirmed" : `wrote generation ${c.generation}`;
  if (!report) return `${wrote}; no report`;
  const held = worstResource(report);
  return `${wrote}; last report: generation ${report.observedGeneration} at ${report.revision}, health ${report.health}, phase ${report.phase}${held ? `; ${held}` : ""}`;
}
