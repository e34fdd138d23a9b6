/**
 * How rollouts read in a terminal: the list row, the detail page (`rollout get`, and the frame
 * `rollout watch` redraws on a TTY), the lines `rollout watch` prints as things change when
 * its output is a pipe or a log, and the wave plan preview. Pure functions of the API objects
 * and the clock.
 */
import {
  type ChangeKind,
  type ClusterProgress,
  isTerminalPhase,
  type PlannedWave,
  type RolloutSummary,
  type RolloutTarget,
  type RolloutView,
  type WaveProgress,
} from "@flotilla/api";
import { formatAge, formatDetail, formatDuration, formatTable, NONE, shortSha } from "./output.js";

/** Index of the wave being worked on: the first not succeeded; undefined when all have. */
export function currentWave<W extends { status: string }>(r: { waves: W[] }): { index: number; wave: W } | undefined {
  const index = r.waves.findIndex((w) => w.status !== "succeeded");
  const wave = r.waves[index];
  return wave ? { index, wave } : undefined;
}

function count(wave: WaveProgress, ...states: string[]): number {
  return wave.clusters.filter((c) => states.includes(c.state)).length;
}

/** `canary (1/2)`, or `-` when the rollout has no waves left. */
export function waveText(r: { waves: { name: string; status: string }[] }): string {
  const cur = currentWave(r);
  return cur ? `${cur.wave.name} (${cur.index + 1}/${r.waves.length})` : NONE;
}

/**
 * `1111111 → 2222222` for a new commit; `1111111, settings 5f3e2d1 → 9a8b7c6` for new settings;
 * both parts when both changed; `(first deploy) → …` without a previous target.
 */
export function targetsText(from: RolloutTarget | undefined, to: RolloutTarget, first = "(first deploy)"): string {
  const settings = (t: RolloutTarget) => (t.settings ? t.settings.slice(0, 7) : "unknown");
  if (!from) return `${first} → ${shortSha(to.revision)}`;
  const revision =
    from.revision === to.revision ? shortSha(to.revision) : `${shortSha(from.revision)} → ${shortSha(to.revision)}`;
  return from.settings === to.settings && to.settings !== ""
    ? revision
    : `${revision}, settings ${settings(from)} → ${settings(to)}`;
}

/** `revision`, `settings` or `revision+settings`. */
export function changeText(changed: readonly ChangeKind[] | undefined): string {
  return changed && changed.length > 0 ? changed.join("+") : NONE;
}

/** One row of `rollout list`, from the list's summary of a rollout. */
export function rolloutRow(r: RolloutSummary, nowMs: number): string[] {
  return [
    r.id,
    r.app,
    r.environment,
    changeText(r.changed),
    targetsText(r.from, r.to, "(first)"),
    r.state,
    isTerminalPhase(r.state) ? NONE : waveText(r),
    String(r.waves.reduce((n, w) => n + w.clusters, 0)),
    formatAge(r.detectedAtMs, nowMs),
  ];
}

export const ROLLOUT_LIST_HEADERS = ["id", "app", "env", "change", "target", "state", "wave", "clusters", "age"];

/** What the current wave is doing, in words: `baking 12s of 60s`, `awaiting approval (flotilla rollout promote <id>)`. */
function waveDoing(r: RolloutView, wave: WaveProgress, nowMs: number): string {
  switch (wave.status) {
    case "baking":
      return wave.bakeStartedAtMs === undefined
        ? "baking"
        : `baking ${formatDuration(nowMs - wave.bakeStartedAtMs)} of ${wave.bakeSeconds}s`;
    case "awaiting-approval":
      return `awaiting approval: flotilla rollout promote ${r.id}`;
    case "progressing":
      return `${count(wave, "healthy")}/${wave.clusters.length} healthy, at most ${wave.maxConcurrency} at a time`;
    default:
      return wave.status;
  }
}

/** A wave's running analyses, in words: `analysis errors 1/3`. */
function analysesDoing(wave: WaveProgress): string {
  const running = (wave.analyses ?? []).filter((a) => a.status === "running");
  return running
    .map(
      (a) =>
        `, ${a.phase === "prePromotion" ? "pre-promotion analysis" : "analysis"} ${a.name} ${a.measurements.filter((m) => m.verdict !== "inconclusive").length}/${a.count}`,
    )
    .join("");
}

/** The state line: `Progressing — wave 1/2 canary: baking 12s of 60s`. */
export function stateLine(r: RolloutView, nowMs: number): string {
  const cur = currentWave(r);
  if (r.state === "Succeeded") {
    const took =
      r.convergedAtMs !== undefined && r.startedAtMs !== undefined
        ? ` in ${formatDuration(r.convergedAtMs - r.startedAtMs)}`
        : "";
    return `Succeeded${took}`;
  }
  if (r.state === "Superseded") return `Superseded${r.supersededBy ? ` by ${r.supersededBy}` : ""}`;
  if (r.state === "Failed" || r.state === "RolledBack") {
    return `${r.state}${r.failure ? `: ${r.failure.reason}` : ""}`;
  }
  if (!cur) return r.state;
  const held = r.hold ? ` (held: ${r.hold.reason})` : "";
  return `${r.state} — wave ${cur.index + 1}/${r.waves.length} ${cur.wave.name}: ${waveDoing(r, cur.wave, nowMs)}${analysesDoing(cur.wave)}${held}`;
}

/** When a cluster entered its current state, best known. */
function clusterSince(c: ClusterProgress): number | undefined {
  switch (c.state) {
    case "healthy":
      return c.healthyAtMs;
    case "failed":
      return c.failedAtMs;
    case "skipped":
      return c.skippedAtMs;
    case "progressing":
      return c.writtenAtMs;
    case "writing":
      return c.dispatchedAtMs;
    case "rolling-back":
      return c.rollback?.requestedAtMs;
    case "rolled-back":
      return c.rollback?.writtenAtMs;
    default:
      return undefined;
  }
}

/** The detail page of one rollout: settings, state, waves, then every cluster. */
export function rolloutText(r: RolloutView, nowMs: number): string {
  const lt = r.leadTime;
  const leadParts = [
    lt?.commitToConvergedSeconds !== undefined
      ? `commit → converged ${formatDuration(lt.commitToConvergedSeconds * 1000)}`
      : "",
    lt?.detectedToConvergedSeconds !== undefined
      ? `detected → converged ${formatDuration(lt.detectedToConvergedSeconds * 1000)}`
      : "",
    lt?.startsAt === "detection" && lt.commitToConvergedSeconds !== undefined ? "(counted from detection)" : "",
    ...(lt?.waves ?? []).map((w) => `wave ${w.wave} ${formatDuration(w.durationSeconds * 1000)}`),
  ].filter(Boolean);
  const leadTime = leadParts.length > 0 ? leadParts.join(", ") : undefined;
  const head = formatDetail([
    ["Rollout", r.id],
    ["App", r.app],
    ["Environment", r.environment],
    ["Change", changeText(r.changed)],
    ["Target", targetsText(r.from, r.to)],
    [
      "Commit",
      r.commit
        ? `${r.commit.message.split("\n")[0]} (${r.commit.author})`
        : r.commitUnknown
          ? `unknown: ${r.commitUnknown}`
          : undefined,
    ],
    ["State", stateLine(r, nowMs)],
    ["Committed", r.commit ? `${formatAge(r.commit.committedAtMs, nowMs)} ago` : undefined],
    [
      "Detected",
      `${formatAge(r.detectedAtMs, nowMs)} ago${r.leadTime?.commitToDetectedSeconds !== undefined && r.leadTime.startsAt === "commit" ? ` (${formatDuration(r.leadTime.commitToDetectedSeconds * 1000)} after the commit)` : ""}`,
    ],
    [
      "Paused",
      r.pausedAtMs !== undefined ? `${formatAge(r.pausedAtMs, nowMs)} ago: flotilla rollout resume ${r.id}` : undefined,
    ],
    [
      "Held",
      r.hold
        ? `${formatAge(r.hold.sinceMs, nowMs)} ago by a ${r.hold.kind}: ${r.hold.reason} (an admin may: flotilla rollout override ${r.id})`
        : undefined,
    ],
    [
      "Override",
      r.holdOverride
        ? `windows and freezes ignored since ${formatAge(r.holdOverride.atMs, nowMs)} ago (${r.holdOverride.by})`
        : undefined,
    ],
    ["Failed wave", r.failure?.wave],
    [
      "Settled",
      r.settled === false && isTerminalPhase(r.state) ? "not yet: rollback writes are still going out" : undefined,
    ],
    ["Lead time", leadTime],
  ]);
  const waves = formatTable(
    ["wave", "status", "clusters", "healthy", "failed", "max concurrency", "bake", "budget", "approval"],
    r.waves.map((w) => [
      w.name,
      w.status,
      String(w.clusters.length),
      String(count(w, "healthy")),
      String(count(w, "failed")),
      String(w.maxConcurrency),
      `${w.bakeSeconds}s`,
      String(w.failureBudget),
      w.requireApproval ? (w.approvedAtMs !== undefined ? "approved" : "required") : "no",
    ]),
  );
  const clusters = formatTable(
    ["cluster", "wave", "state", "generation", "since", "reason"],
    r.waves.flatMap((w) =>
      w.clusters.map((c) => [
        c.name,
        w.name,
        c.state,
        c.generation === undefined ? NONE : String(c.generation),
        clusterSince(c) === undefined ? NONE : `${formatAge(clusterSince(c), nowMs)} ago`,
        c.why ?? c.reason ?? NONE,
      ]),
    ),
  );
  const analyses = r.waves.flatMap((w) =>
    (w.analyses ?? []).map((a) => {
      const verdicts = a.measurements.map((m) => m.verdict);
      const tally = (v: string) => verdicts.filter((x) => x === v).length;
      const last = a.measurements.at(-1);
      return [
        w.name,
        a.phase === "prePromotion" ? `${a.name} (pre-promotion)` : a.name,
        a.status,
        `${tally("success")} ok, ${tally("failure")} failed, ${tally("inconclusive")} inconclusive of ${a.count} (limits ${a.failureLimit}/${a.inconclusiveLimit})`,
        a.reason ??
          (last
            ? `${last.verdict}: ${last.message}`
            : `${a.query} ${a.successCondition.operator} ${a.successCondition.threshold}`),
      ];
    }),
  );
  const gates =
    analyses.length > 0
      ? `\n\nAnalyses:\n${formatTable(["wave", "analysis", "status", "measurements", "last"], analyses)}`
      : "";
  const diff =
    r.settingsDiff && r.settingsDiff.length > 0
      ? `\n\nSettings:\n${r.settingsDiff.map((d) => `  ${d.path}: ${d.from ?? "(unset)"} → ${d.to ?? "(unset)"}`).join("\n")}`
      : "";
  return r.waves.length === 0
    ? `${head}${diff}\n\nWaves: none (no cluster of the environment is selected)`
    : `${head}${diff}\n\nWaves:\n${waves}${gates}\n\nClusters:\n${clusters}`;
}

/** A rollout as it looks before anything happened, to diff the first observation against. */
function blank(r: RolloutView): RolloutView {
  return {
    ...r,
    state: "Pending",
    waves: r.waves.map((w) => ({
      ...w,
      status: "pending",
      clusters: w.clusters.map((c) => ({ name: c.name, state: "pending" })),
    })),
  };
}

/**
 * What changed between two observations, one line per change, in the order a reader wants:
 * cluster moves, then wave moves, then the rollout's own state. With no previous observation
 * the first line introduces the rollout and the rest is diffed against its blank start.
 */
export function rolloutChanges(prev: RolloutView | undefined, next: RolloutView): string[] {
  const lines: string[] = [];
  if (!prev) {
    const waves = next.waves.map((w) => `${w.name}(${w.clusters.length})`).join(" → ") || "none";
    lines.push(
      `rollout ${next.id}: app ${next.app} in ${next.environment}, ${changeText(next.changed)} changed: ${targetsText(next.from, next.to)}, waves ${waves}`,
    );
  }
  const before = prev ?? blank(next);
  const wavesBefore = new Map(before.waves.map((w) => [w.name, w]));
  for (const w of next.waves) {
    const old = wavesBefore.get(w.name);
    const clustersBefore = new Map((old?.clusters ?? []).map((c) => [c.name, c.state]));
    for (const c of w.clusters) {
      if (clustersBefore.get(c.name) !== c.state) {
        lines.push(`cluster ${c.name} ${c.state} (wave ${w.name})${c.reason ? `: ${c.reason}` : ""}`);
      }
    }
    if (old?.status !== w.status) lines.push(`wave ${w.name} ${w.status}`);
  }
  if (before.state !== next.state || (!prev && next.state !== "Pending")) {
    // Terminal state lines name the outcome and reason; they never depend on the clock.
    lines.push(`rollout ${next.id} ${isTerminalPhase(next.state) ? stateLine(next, 0) : next.state}`);
  }
  return lines;
}

/** The preview of `rollout plan`: which clusters fall in which wave, with the resolved settings. */
export function planText(waves: readonly PlannedWave[]): string {
  if (waves.length === 0) return "no waves: the environment has no cluster this app would run on";
  return formatTable(
    ["wave", "clusters", "not ready", "max concurrency", "bake", "budget", "approval"],
    waves.map((w) => [
      `${w.name}${w.implicit ? " (implicit)" : ""}`,
      w.clusters.length === 0 ? "(none)" : w.clusters.join(","),
      w.offline.length === 0 ? NONE : w.offline.join(","),
      String(w.maxConcurrency),
      `${w.bakeSeconds}s`,
      String(w.failureBudget),
      w.requireApproval ? "required" : "no",
    ]),
  );
}
