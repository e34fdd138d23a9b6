import { describe, expect, it } from "vitest";
import type { ClusterRecord, ClusterStatus, DesiredRecord, ReportRecord } from "../store.js";
import { joinAppsOnClusters, summarizeFleet } from "./fleet.js";

const cluster = (name: string, env?: string): ClusterRecord => ({
  name,
  labels: env ? { env } : {},
  agentPublicKey: "",
  createdAtMs: 0,
});
const desired = (c: string, app: string, generation: number, revision: string): DesiredRecord => ({
  cluster: c,
  app,
  generation,
  revision,
  environment: "",
  repo: "r",
  branch: "b",
  path: ".",
  rolloutId: "",
  fingerprint: "",
  publishedAtMs: 0,
});
const report = (
  c: string,
  app: string,
  gen: number,
  revision: string,
  phase: string,
  health: string,
): ReportRecord => ({
  cluster: c,
  app,
  observedGeneration: gen,
  revision,
  rolloutId: "",
  phase,
  health,
  resources: [],
  reportedAtMs: 0,
  receivedAtMs: 0,
  agentVersion: "",
  digest: "",
});

const A = "a".repeat(40);
const B = "b".repeat(40);

describe("joinAppsOnClusters", () => {
  it("is current only when the report describes the exact generation and revision published", () => {
    const rows = joinAppsOnClusters(
      [cluster("dev-1", "dev"), cluster("dev-2", "dev"), cluster("dev-3", "dev")],
      [desired("dev-1", "web", 2, B), desired("dev-2", "web", 2, B), desired("dev-3", "web", 2, B)],
      [
        report("dev-1", "web", 2, B, "synced", "healthy"),
        report("dev-2", "web", 1, A, "synced", "healthy"),
        report("dev-3", "web", 2, A, "synced", "healthy"),
      ],
    );
    expect(rows.map((r) => [r.cluster, r.current])).toEqual([
      ["dev-1", true],
      ["dev-2", false],
      ["dev-3", false],
    ]);
  });

  it("drops rows of clusters no longer registered", () => {
    expect(joinAppsOnClusters([], [desired("gone", "web", 1, A)], [])).toEqual([]);
  });
});

describe("summarizeFleet", () => {
  it("counts clusters by state and apps by sync and health per environment", () => {
    const clusters = [cluster("dev-1", "dev"), cluster("dev-2", "dev"), cluster("prod-1", "prod"), cluster("lab")];
    const statuses = new Map<string, ClusterStatus>([
      ["dev-1", { state: "Ready", changedAtMs: 0 }],
      ["dev-2", { state: "Offline", changedAtMs: 0 }],
    ]);
    const rows = joinAppsOnClusters(
      clusters,
      [desired("dev-1", "web", 1, A), desired("dev-2", "web", 1, A), desired("prod-1", "web", 1, A)],
      [report("dev-1", "web", 1, A, "synced", "healthy"), report("dev-2", "web", 1, A, "failed", "degraded")],
    );
    const fleet = summarizeFleet(clusters, statuses, rows);
    expect(fleet.clusters).toEqual({ Pending: 2, Ready: 1, Offline: 1, total: 4 });
    expect(fleet.environments.dev).toEqual({
      clusters: { Pending: 0, Ready: 1, Offline: 1 },
      sync: { synced: 1, failed: 1 },
      health: { healthy: 1, degraded: 1 },
      current: 2,
      apps: 2,
    });
    expect(fleet.environments.prod?.sync).toEqual({ unknown: 1 });
    expect(fleet.environments[""]?.clusters.Pending).toBe(1);
  });
});
