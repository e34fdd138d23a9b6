import type { AppOnCluster, ClusterState, EnvironmentSummary, FleetStatus } from "@flotilla/api";
import { ENV_LABEL } from "../registry/targets.js";
import type { ClusterRecord, ClusterStatus, DesiredRecord, ReportRecord } from "../store.js";

/** The fleet's counts; the API adds the rollouts in flight. */
export type FleetCounts = Omit<FleetStatus, "rollouts">;

function emptyStates(): Record<ClusterState, number> {
  return { Pending: 0, Ready: 0, Offline: 0 };
}

/** Joins desired records and reports by (cluster, app), sorted by cluster then app. */
export function joinAppsOnClusters(
  clusters: readonly ClusterRecord[],
  desired: readonly DesiredRecord[],
  reports: readonly ReportRecord[],
): AppOnCluster[] {
  const envOf = new Map(clusters.map((c) => [c.name, c.labels[ENV_LABEL] ?? ""]));
  const rows = new Map<string, AppOnCluster>();
  const row = (cluster: string, app: string): AppOnCluster => {
    const key = `${cluster}.${app}`;
    let r = rows.get(key);
    if (!r) {
      r = { cluster, app, environment: envOf.get(cluster) ?? "", desired: null, report: null, current: false };
      rows.set(key, r);
    }
    return r;
  };
  for (const d of desired) {
    if (!envOf.has(d.cluster) || d.removed) continue;
    row(d.cluster, d.app).desired = {
      generation: d.generation,
      revision: d.revision,
      rolloutId: d.rolloutId,
      publishedAtMs: d.publishedAtMs,
    };
  }
  for (const rep of reports) {
    if (!envOf.has(rep.cluster)) continue;
    row(rep.cluster, rep.app).report = rep;
  }
  for (const r of rows.values()) {
    r.current =
      r.desired !== null &&
      r.report !== null &&
      r.report.observedGeneration === r.desired.generation &&
      r.report.revision === r.desired.revision;
  }
  return [...rows.values()].sort((a, b) =>
    a.cluster === b.cluster ? (a.app < b.app ? -1 : 1) : a.cluster < b.cluster ? -1 : 1,
  );
}

/** Counts of clusters by state and of (cluster, app) pairs by sync and health, per environment. */
export function summarizeFleet(
  clusters: readonly ClusterRecord[],
  statuses: ReadonlyMap<string, ClusterStatus>,
  rows: readonly AppOnCluster[],
): FleetCounts {
  const fleet: FleetCounts = { clusters: { ...emptyStates(), total: 0 }, environments: {} };
  const env = (name: string): EnvironmentSummary => {
    let e = fleet.environments[name];
    if (!e) {
      e = { clusters: emptyStates(), sync: {}, health: {}, current: 0, apps: 0 };
      fleet.environments[name] = e;
    }
    return e;
  };
  for (const c of clusters) {
    const state = statuses.get(c.name)?.state ?? "Pending";
    fleet.clusters[state]++;
    fleet.clusters.total++;
    env(c.labels[ENV_LABEL] ?? "").clusters[state]++;
  }
  for (const r of rows) {
    const e = env(r.environment);
    const sync = r.report?.phase ?? "unknown";
    const health = r.report?.health ?? "unknown";
    e.sync[sync] = (e.sync[sync] ?? 0) + 1;
    e.health[health] = (e.health[health] ?? 0) + 1;
    e.apps++;
    if (r.current) e.current++;
  }
  return fleet;
}
