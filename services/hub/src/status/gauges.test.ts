import type { ClusterStatus } from "@flotilla/api";
import { describe, expect, it } from "vitest";
import { HubMetrics } from "../metrics.js";
import type { ClusterRecord, ClusterStatusStore, DesiredRecord, ObjectReader, RecordOf, StoredKind } from "../store.js";
import { FleetGauges, GAUGE_REFRESH_MS } from "./gauges.js";

const cluster = (name: string): ClusterRecord => ({ name, labels: {}, agentPublicKey: "", createdAtMs: 0 });

describe("FleetGauges", () => {
  it("counts the fleet at most once per refresh period, however many scrapes ask at once", async () => {
    let lists = 0;
    const clusters = [cluster("a"), cluster("b"), cluster("c")];
    const objects: Pick<ObjectReader, "listObjects"> = {
      async listObjects<K extends StoredKind>(kind: K): Promise<RecordOf[K][]> {
        lists++;
        return kind === "Cluster" ? (clusters as RecordOf[K][]) : [];
      },
    };
    const states = new Map<string, ClusterStatus>([["a", { state: "Ready", changedAtMs: 0 }]]);
    const statuses: Pick<ClusterStatusStore, "getClusterStatuses"> = {
      async getClusterStatuses() {
        return states;
      },
    };
    const metrics = new HubMetrics();
    let now = 0;
    const gauges = new FleetGauges({
      objects,
      statuses,
      rollouts: { unsettled: async () => [], get: async () => undefined },
      metrics,
      now: () => now,
    });
    await Promise.all([gauges.refresh(), gauges.refresh(), gauges.refresh()]);
    expect(lists).toBe(1);
    const text = await metrics.registry.metrics();
    expect(text).toContain('flotilla_hub_clusters{state="Ready"} 1');
    expect(text).toContain('flotilla_hub_clusters{state="Pending"} 2');
    now += GAUGE_REFRESH_MS - 1;
    await gauges.refresh();
    expect(lists).toBe(1);
    now += 1;
    await gauges.refresh();
    expect(lists).toBe(2);
  });
});

describe("FleetGauges per cluster and per app", () => {
  it("names each cluster's state and each (cluster, app)'s sync, health and revision, with no stale series", async () => {
    const clusters = [cluster("a"), cluster("b")];
    const objects: Pick<ObjectReader, "listObjects"> = {
      async listObjects<K extends StoredKind>(kind: K): Promise<RecordOf[K][]> {
        return kind === "Cluster" ? (clusters as RecordOf[K][]) : [];
      },
    };
    const states = new Map<string, ClusterStatus>([
      ["a", { state: "Ready", changedAtMs: 0 }],
      ["b", { state: "Offline", changedAtMs: 0 }],
    ]);
    const desiredOf = (c: string, removed = false): DesiredRecord => ({
      cluster: c,
      app: "web",
      generation: 2,
      environment: "prod",
      repo: "r",
      branch: "main",
      revision: "0123456789abcdef",
      path: ".",
      rolloutId: "",
      fingerprint: "f",
      publishedAtMs: 0,
      ...(removed ? { removed } : {}),
    });
    let published = [desiredOf("a"), desiredOf("b")];
    const metrics = new HubMetrics();
    let now = 0;
    const gauges = new FleetGauges({
      objects,
      statuses: { getClusterStatuses: async () => states },
      rollouts: { unsettled: async () => [], get: async () => undefined },
      desired: { listDesired: async () => published },
      reports: {
        getReports: async (pairs) =>
          pairs.map((p) =>
            p.cluster === "a"
              ? ({ observedGeneration: 2, revision: "0123456789abcdef", phase: "synced", health: "degraded" } as never)
              : undefined,
          ),
      },
      metrics,
      now: () => now,
    });
    await gauges.refresh();
    const text = await metrics.registry.metrics();
    expect(text).toContain('flotilla_cluster_state{cluster="b",state="Offline"} 1');
    expect(text).toContain('flotilla_cluster_state{cluster="b",state="Ready"} 0');
    expect(text).toContain(
      'flotilla_app_info{cluster="a",app="web",environment="prod",sync="synced",health="degraded",revision="0123456789ab",current="true"} 1',
    );
    expect(text).toContain(
      'flotilla_app_info{cluster="b",app="web",environment="prod",sync="unknown",health="unknown",revision="0123456789ab",current="false"} 1',
    );
    // The app removed from b: its series goes at the next count.
    published = [desiredOf("a"), desiredOf("b", true)];
    now += GAUGE_REFRESH_MS;
    await gauges.refresh();
    expect(await metrics.registry.metrics()).not.toContain('flotilla_app_info{cluster="b"');
  });
});
