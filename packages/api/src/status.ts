/**
 * What the fleet is doing: agents' reports joined with what the hub published, per cluster, per
 * app and for the whole fleet.
 */
import { z } from "zod";
import { nameSchema } from "./labels.js";
import { type ClusterState, clusterStateSchema, clusterStatusSchema, clusterViewSchema } from "./objects.js";
import { changeKindSchema, rolloutPhaseSchema, rolloutTargetSchema } from "./rollout.js";

/**
 * The last verified report of one (cluster, app), as its agent sent it. Not a named component:
 * OpenAPI 3.0 cannot make a reference nullable, and a report is null until the first one.
 */
export const reportSchema = z.object({
  cluster: nameSchema,
  app: nameSchema,
  observedGeneration: z.number().int(),
  revision: z.string(),
  rolloutId: z.string(),
  phase: z.string().describe("sync phase, lowercase (synced, failed, rejected, ...)"),
  health: z.string().describe("health, lowercase (healthy, degraded, ...)"),
  error: z.object({ code: z.string(), message: z.string(), retryable: z.boolean() }).optional(),
  rejectedGeneration: z.number().int().optional().describe("with phase rejected: the generation the agent refused"),
  sourceType: z
    .enum(["manifests", "kustomize", "helm"])
    .optional()
    .describe("how the agent rendered the source at its last render; detected when the app's source is auto"),
  resources: z.array(
    z.object({
      kind: z.string(),
      namespace: z.string(),
      name: z.string(),
      health: z.string(),
      sync: z.string(),
      message: z.string(),
    }),
  ),
  reportedAtMs: z.number().describe("agent clock"),
  receivedAtMs: z.number().describe("hub clock"),
  agentVersion: z.string(),
  digest: z.string().describe("SHA-256 of the signed envelope"),
});
export type Report = z.output<typeof reportSchema>;

/** What the hub last published for one (cluster, app). */
export const publishedSchema = z.object({
  generation: z.number().int(),
  revision: z.string(),
  rolloutId: z.string(),
  publishedAtMs: z.number(),
});

/** One (cluster, app): what the hub asked for and what the agent last said. */
export const appOnClusterSchema = z
  .object({
    cluster: nameSchema,
    app: nameSchema,
    environment: z.string().describe("the cluster's env label; empty without one"),
    desired: publishedSchema.nullable(),
    report: reportSchema.nullable(),
    current: z.boolean().describe("the agent reports the exact generation and revision last published"),
  })
  .meta({ id: "AppOnCluster" });
export type AppOnCluster = z.output<typeof appOnClusterSchema>;

/** `GET /v1/clusters/{name}`: a cluster, its liveness, and every app on it. */
export const clusterDetailSchema = clusterViewSchema
  .extend({ status: clusterStatusSchema, apps: z.array(appOnClusterSchema) })
  .meta({ id: "ClusterDetail" });
export type ClusterDetail = z.output<typeof clusterDetailSchema>;

/** Clusters counted by state. */
const clusterCountsShape = {
  Pending: z.number().int(),
  Ready: z.number().int(),
  Offline: z.number().int(),
} satisfies Record<ClusterState, z.ZodType>;

/** Counts of one environment (`""` for clusters without an env label). */
export const environmentSummarySchema = z
  .object({
    clusters: z.object(clusterCountsShape),
    sync: z
      .record(z.string(), z.number().int())
      .describe("(cluster, app) pairs by the sync phase of their last report"),
    health: z.record(z.string(), z.number().int()).describe("(cluster, app) pairs by the health of their last report"),
    current: z.number().int().describe("pairs whose report matches the generation and revision last published"),
    apps: z.number().int(),
  })
  .meta({ id: "EnvironmentSummary" });
export type EnvironmentSummary = z.output<typeof environmentSummarySchema>;

/** `GET /v1/fleet/status`: clusters by state and apps by sync and health, per environment. */
export const fleetStatusSchema = z
  .object({
    clusters: z.object({ ...clusterCountsShape, total: z.number().int() }),
    environments: z.record(z.string(), environmentSummarySchema),
    rollouts: z.object({ inFlight: z.number().int(), inFlightIds: z.array(z.string()) }),
  })
  .meta({ id: "FleetStatus" });
export type FleetStatus = z.output<typeof fleetStatusSchema>;

/** `GET /v1/apps/{app}/status`: one app across the fleet. */
export const appStatusSchema = z
  .object({
    app: nameSchema,
    repo: nameSchema,
    rollouts: z
      .array(
        z.object({
          id: z.string(),
          environment: nameSchema,
          from: rolloutTargetSchema.optional().describe("the last good target; absent for a first deploy"),
          to: rolloutTargetSchema,
          changed: z.array(changeKindSchema),
          state: rolloutPhaseSchema,
          wave: z.string().nullable().describe("the wave being worked on; null when every wave succeeded"),
          failure: z.string().optional().describe("why it failed"),
        }),
      )
      .describe("the newest rollout per environment"),
    clusters: z.array(appOnClusterSchema.extend({ clusterState: clusterStateSchema })),
  })
  .meta({ id: "AppStatus" });
export type AppStatus = z.output<typeof appStatusSchema>;
