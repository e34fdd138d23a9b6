import type { ClusterStatus } from "@flotilla/api";
import { describe, expect, it } from "vitest";
import { HubMetrics } from "../metrics.js";
import type { ClusterRecord, ClusterStatusStore, ObjectReader, RecordOf, StoredKind } from "../store.js";
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
