/**
 * The fleet matrix as values: one cell per (cluster, app), one row per cluster, and the pure
 * functions that fold the hub's events into them, classify a cell, filter and count. The store
 * (store.ts) keeps each cell in its own signal, so an event re-renders one cell, not the matrix.
 */
import type { AppOnCluster, ClusterPage, HubEvent } from "@flotilla/api";

type EventOf<T extends HubEvent["type"]> = Extract<HubEvent, { type: T }>;

/** One cluster's row: what the cluster list and heartbeats say. */
export interface ClusterRow {
  name: string;
  labels: Record<string, string>;
  environment: string;
  state: string;
  lastHeartbeatMs?: number;
  agentVersion?: string;
}

/** What one agent last reported for one app, as far as the matrix shows it. */
export interface CellReport {
  revision: string;
  observedGeneration: number;
  phase: string;
  health: string;
  receivedAtMs: number;
}

/** One (cluster, app): what the hub published and what the agent last said. */
export interface Cell {
  cluster: string;
  app: string;
  desired: { generation: number; revision: string; rolloutId: string; publishedAtMs: number } | null;
  report: CellReport | null;
}

/** How a cell reads at a glance; also its `data-state` in the page. */
export type CellState = "current" | "progressing" | "failed" | "drifted" | "degraded" | "offline" | "none";

/** The label whose value names a cluster's environment (the hub's `env`). */
export const ENV_LABEL = "env";

export const cellKey = (cluster: string, app: string) => `${cluster}\u0000${app}`;

export function rowOf(item: ClusterPage["items"][number]): ClusterRow {
  return {
    name: item.name,
    labels: item.labels,
    environment: item.labels[ENV_LABEL] ?? "",
    state: item.status.state,
    ...(item.status.lastHeartbeatMs !== undefined ? { lastHeartbeatMs: item.status.lastHeartbeatMs } : {}),
    ...(item.status.agentVersion !== undefined ? { agentVersion: item.status.agentVersion } : {}),
  };
}

export function cellOf(a: AppOnCluster): Cell {
  return {
    cluster: a.cluster,
    app: a.app,
    desired: a.desired,
    report: a.report
      ? {
          revision: a.report.revision,
          observedGeneration: a.report.observedGeneration,
          phase: a.report.phase,
          health: a.report.health,
          receivedAtMs: a.report.receivedAtMs,
        }
      : null,
  };
}

export const emptyCell = (cluster: string, app: string): Cell => ({ cluster, app, desired: null, report: null });

/** The cell after a report event. A report older than the one shown changes nothing. */
export function withReport(cell: Cell, e: EventOf<"report">): Cell {
  if (cell.report && cell.report.observedGeneration > e.observedGeneration) return cell;
  return {
    ...cell,
    report: {
      revision: e.revision,
      observedGeneration: e.observedGeneration,
      phase: e.phase,
      health: e.health,
      receivedAtMs: e.atMs,
    },
  };
}

/** The cell after a desired-state event. An older generation changes nothing. */
export function withDesired(cell: Cell, e: EventOf<"desired">): Cell {
  if (cell.desired && cell.desired.generation > e.generation) return cell;
  return {
    ...cell,
    desired: { generation: e.generation, revision: e.revision, rolloutId: e.rolloutId, publishedAtMs: e.atMs },
  };
}

/**
 * A cell read from a snapshot, folded into the one the page holds: each half keeps whichever is
 * newer, so a snapshot read while events arrive never takes a cell back.
 */
export function withSnapshot(cell: Cell, snap: Cell): Cell {
  const desired =
    cell.desired && (!snap.desired || cell.desired.generation > snap.desired.generation) ? cell.desired : snap.desired;
  const newer = (a: CellReport, b: CellReport) =>
    a.observedGeneration > b.observedGeneration ||
    (a.observedGeneration === b.observedGeneration && a.receivedAtMs > b.receivedAtMs);
  const report = cell.report && (!snap.report || newer(cell.report, snap.report)) ? cell.report : snap.report;
  return desired === cell.desired && report === cell.report ? cell : { ...cell, desired, report };
}

export function withHeartbeat(row: ClusterRow, e: EventOf<"heartbeat">): ClusterRow {
  return { ...row, lastHeartbeatMs: e.atMs, agentVersion: e.agentVersion };
}

export function withClusterState(row: ClusterRow, e: EventOf<"cluster-state">): ClusterRow {
  return { ...row, state: e.state };
}

/** Whether the agent reports the exact generation and revision last published. */
export function isCurrent(cell: Cell): boolean {
  return (
    cell.desired !== null &&
    cell.report !== null &&
    cell.report.observedGeneration === cell.desired.generation &&
    cell.report.revision === cell.desired.revision
  );
}

/** A cell at a glance: failures first, then an offline cluster, then drift and progress. */
export function cellState(cell: Cell, clusterState: string): CellState {
  if (!cell.desired && !cell.report) return "none";
  const r = cell.report;
  if (r && (r.phase === "failed" || r.phase === "rejected")) return "failed";
  if (clusterState === "Offline") return "offline";
  if (r && r.phase === "out_of_sync") return "drifted";
  if (!isCurrent(cell)) return "progressing";
  if (r && r.health !== "healthy") return r.health === "progressing" ? "progressing" : "degraded";
  return "current";
}

/** A commit SHA as people read it. */
export const shortSha = (sha: string | undefined) => (sha ? sha.slice(0, 7) : "—");

/** `12 s ago`, `4 min ago`, `3 h ago`, `2 d ago`. */
export function ago(nowMs: number, atMs: number | undefined): string {
  if (atMs === undefined) return "never";
  const s = Math.max(0, Math.round((nowMs - atMs) / 1000));
  if (s < 90) return `${s} s ago`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min ago`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/** A duration in seconds as people read it: `42 s`, `3 min 5 s`, `2 h 10 min`. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
  return `${Math.floor(s / 3600)} h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)} min` : ""}`;
}

/** What the matrix is narrowed to; empty strings mean "any". */
export interface Filters {
  team: string;
  environment: string;
  /** `key=value`, `key!=value` or `key`, comma-separated, all of which must hold. */
  label: string;
  state: "" | CellState;
}

export const NO_FILTERS: Filters = { team: "", environment: "", label: "", state: "" };

/** A label filter as a predicate over a cluster's labels; terms it cannot read match nothing. */
export function labelPredicate(text: string): (labels: Record<string, string>) => boolean {
  const terms = text
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean)
    .map((t) => {
      const ne = t.indexOf("!=");
      if (ne > 0) {
        const k = t.slice(0, ne).trim();
        const v = t.slice(ne + 2).trim();
        return (l: Record<string, string>) => l[k] !== v;
      }
      const eq = t.indexOf("=");
      if (eq > 0) {
        const k = t.slice(0, eq).trim();
        const v = t.slice(eq + 1).trim();
        return (l: Record<string, string>) => l[k] === v;
      }
      return (l: Record<string, string>) => t in l;
    });
  return (labels) => terms.every((p) => p(labels));
}

/** Counts at the top of the fleet view. */
export interface Counts {
  clusters: Record<string, number>;
  cells: Record<CellState, number>;
}

export function countOf(rows: readonly ClusterRow[], cells: readonly Cell[]): Counts {
  const clusters: Record<string, number> = { Ready: 0, Offline: 0, Pending: 0 };
  const stateOf = new Map<string, string>();
  for (const r of rows) {
    clusters[r.state] = (clusters[r.state] ?? 0) + 1;
    stateOf.set(r.name, r.state);
  }
  const out: Record<CellState, number> = {
    current: 0,
    progressing: 0,
    failed: 0,
    drifted: 0,
    degraded: 0,
    offline: 0,
    none: 0,
  };
  for (const c of cells) out[cellState(c, stateOf.get(c.cluster) ?? "Pending")]++;
  return { clusters, cells: out };
}
