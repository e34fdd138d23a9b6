import { CLUSTER_STATES } from "@flotilla/api";
import type { HubMetrics } from "../metrics.js";
import type { ClusterStatusStore, DesiredStore, ObjectReader, ReportStore, RolloutStore } from "../store.js";

/** How old the counted gauges may be when `/metrics` is scraped. */
export const GAUGE_REFRESH_MS = 15_000;
/**
 * Most (cluster, app) pairs `flotilla_app_info` shows: a bound on the series one scrape carries,
 * whatever the fleet's size. Past it the gauge keeps the first pairs in (cluster, app) order and
 * `flotilla_app_info_truncated` is 1; the per-cluster `flotilla_cluster_state` is never cut.
 */
export const FLEET_SERIES_MAX = 10_000;

/**
 * Keeps the gauges that count the fleet (clusters by state, unsettled rollouts by state) fresh
 * enough for scraping without reading Redis on every scrape: they are counted at most once per
 * {@link GAUGE_REFRESH_MS} per replica, one count at a time however many scrapers ask. Rollouts
 * are counted from the set of unsettled ones, not from every stored rollout; ended rollouts are
 * `flotilla_rollouts_total`.
 */
export class FleetGauges {
  #countedAtMs = Number.NEGATIVE_INFINITY;
  #counting: Promise<void> | undefined;

  constructor(
    private readonly o: {
      objects: Pick<ObjectReader, "listObjects">;
      statuses: Pick<ClusterStatusStore, "getClusterStatuses">;
      rollouts: Pick<RolloutStore, "unsettled" | "get">;
      /** For the per-(cluster, app) series; without them only the counts and cluster states are kept. */
      desired?: Pick<DesiredStore, "listDesired">;
      reports?: Pick<ReportStore, "getReports">;
      metrics: HubMetrics;
      now?: () => number;
    },
  ) {}

  /** Counts again when the last count is older than {@link GAUGE_REFRESH_MS}. */
  async refresh(): Promise<void> {
    const now = (this.o.now ?? Date.now)();
    if (now - this.#countedAtMs < GAUGE_REFRESH_MS) return;
    this.#counting ??= this.#count(now).finally(() => {
      this.#counting = undefined;
    });
    await this.#counting;
  }

  async #count(now: number): Promise<void> {
    const clusters = await this.o.objects.listObjects("Cluster");
    const statuses = await this.o.statuses.getClusterStatuses(clusters.map((c) => c.name));
    const counts = new Map<string, number>(CLUSTER_STATES.map((s) => [s, 0]));
    for (const c of clusters) {
      const state = statuses.get(c.name)?.state ?? "Pending";
      counts.set(state, (counts.get(state) ?? 0) + 1);
    }
    const ids = await this.o.rollouts.unsettled();
    const stored = await Promise.all(ids.map((id) => this.o.rollouts.get(id)));
    const byState = new Map<string, number>();
    for (const s of stored) if (s) byState.set(s.rollout.state, (byState.get(s.rollout.state) ?? 0) + 1);
    for (const [state, n] of counts) this.o.metrics.clusters.set({ state }, n);
    const byKeySet = new Map<string, number>();
    for (const c of clusters) {
      const v = statuses.get(c.name)?.hubKeySetVersion;
      const label = v === undefined ? "unknown" : String(v);
      byKeySet.set(label, (byKeySet.get(label) ?? 0) + 1);
    }
    this.o.metrics.hubKeySetClusters.reset();
    for (const [version, n] of byKeySet) this.o.metrics.hubKeySetClusters.set({ version }, n);
    // Reset, so a deregistered cluster or removed app leaves no stale series behind.
    this.o.metrics.clusterState.reset();
    for (const c of clusters) {
      const current = statuses.get(c.name)?.state ?? "Pending";
      for (const state of CLUSTER_STATES)
        this.o.metrics.clusterState.set({ cluster: c.name, state }, state === current ? 1 : 0);
    }
    await this.#countApps();
    this.o.metrics.rollouts.reset();
    for (const [state, n] of byState) this.o.metrics.rollouts.set({ state }, n);
    this.#countedAtMs = now;
  }

  async #countApps(): Promise<void> {
    const { desired, reports } = this.o;
    if (!desired || !reports) return;
    const published = (await desired.listDesired({}))
      .filter((d) => !d.removed)
      .sort((a, b) => a.cluster.localeCompare(b.cluster) || a.app.localeCompare(b.app));
    const shown = published.slice(0, FLEET_SERIES_MAX);
    const got = await reports.getReports(shown.map((d) => ({ cluster: d.cluster, app: d.app })));
    const info = this.o.metrics.appInfo;
    info.reset();
    shown.forEach((d, i) => {
      const r = got[i];
      const current = r !== undefined && r.observedGeneration === d.generation && r.revision === d.revision;
      info.set(
        {
          cluster: d.cluster,
          app: d.app,
          environment: d.environment,
          sync: r?.phase ?? "unknown",
          health: r?.health ?? "unknown",
          revision: (r?.revision ?? d.revision).slice(0, 12),
          current: current ? "true" : "false",
        },
        1,
      );
    });
    this.o.metrics.appInfoTruncated.set(published.length > shown.length ? 1 : 0);
  }
}
