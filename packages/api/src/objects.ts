/**
 * Registry objects as the API shows them: what a create, get, list or replace answers. Secrets
 * never appear: a repo says only whether it has credentials; a cluster's agent key only by id.
 */
import { z } from "zod";
import { labelsSchema, nameSchema } from "./labels.js";
import { appSpecSchema, environmentSpecSchema, KINDS, repoSpecSchema, teamSpecSchema } from "./resources.js";

/** Lifecycle of a cluster: Pending until its first heartbeat, then Ready ⇄ Offline. */
export const CLUSTER_STATES = ["Pending", "Ready", "Offline"] as const;
export const clusterStateSchema = z
  .enum(CLUSTER_STATES)
  .meta({ id: "ClusterState", description: "Pending until the first heartbeat, then Ready or Offline" });
export type ClusterState = z.output<typeof clusterStateSchema>;

/**
 * A freeze a cluster asks for itself, through its agent's heartbeat: an agent setting, or a
 * ConfigMap in the agent's namespace labelled `flotilla.io/freeze`. The hub holds the cluster as
 * the environment's `offlineClusters` policy says for an offline one.
 */
export const clusterFreezeSchema = z
  .object({
    reason: z.string().describe("why, in the cluster operator's words"),
    source: z.string().describe('where it was asked: "setting" or "configmap <namespace>/<name>"'),
    sinceMs: z.number().describe("hub clock of the first heartbeat that asked for it"),
  })
  .meta({ id: "ClusterFreeze" });
export type ClusterFreeze = z.output<typeof clusterFreezeSchema>;

/** Liveness of a cluster, folded from heartbeats. */
export const clusterStatusSchema = z
  .object({
    state: clusterStateSchema,
    lastHeartbeatMs: z.number().optional().describe("hub clock when the last verified heartbeat arrived"),
    agentVersion: z.string().optional().describe("agent version from the last heartbeat"),
    kubernetesVersion: z.string().optional(),
    capabilities: z.array(z.string()).optional(),
    hubKeySetVersion: z
      .number()
      .int()
      .optional()
      .describe("version of the hub key set the agent holds, as its last heartbeat said (0: its bundle's key only)"),
    changedAtMs: z.number().describe("hub clock of the last state change"),
    freeze: clusterFreezeSchema
      .optional()
      .describe("set while the cluster asks for a freeze itself, as its last heartbeat said"),
  })
  .meta({ id: "ClusterStatus" });
export type ClusterStatus = z.output<typeof clusterStatusSchema>;

/** A cluster as the API shows it: its agent's key only by id. */
export const clusterViewSchema = z
  .object({
    name: nameSchema,
    labels: labelsSchema,
    agentKeyId: z.string().describe("key id of the agent's Ed25519 public key"),
    hasNatsCredentials: z.boolean().describe("per-cluster NATS credentials were minted at registration"),
    createdAtMs: z.number(),
  })
  .meta({ id: "Cluster" });
export type ClusterView = z.output<typeof clusterViewSchema>;

/** A cluster in `GET /v1/clusters`: the view plus its liveness, so no client asks per cluster. */
export const clusterListItemSchema = clusterViewSchema
  .extend({
    status: clusterStatusSchema
      .pick({ state: true, lastHeartbeatMs: true, agentVersion: true, freeze: true })
      .describe("liveness, as in GET /v1/clusters/{name}"),
  })
  .meta({ id: "ClusterListItem" });
export type ClusterListItem = z.output<typeof clusterListItemSchema>;

/** Most clusters one page of `GET /v1/clusters` holds. */
export const CLUSTER_PAGE_MAX = 1000;
/** The page size clients ask for when they follow pages. */
export const CLUSTER_PAGE_SIZE = 500;

/** One page of `GET /v1/clusters`, in name order. */
export const clusterPageSchema = z
  .object({
    items: z.array(clusterListItemSchema),
    continue: z
      .string()
      .optional()
      .describe("present when more clusters follow: pass it as `continue` to get the next page"),
  })
  .meta({ id: "ClusterPage" });
export type ClusterPage = z.output<typeof clusterPageSchema>;

/** The bootstrap bundle an agent starts from (`FLOTILLA_BOOTSTRAP`); shown only when the cluster is created. */
export const bootstrapBundleSchema = z
  .object({
    cluster: nameSchema,
    natsUrl: z.string(),
    natsCreds: z.string().describe("NATS creds file text; empty when NATS runs without auth"),
    natsCa: z
      .string()
      .optional()
      .describe("PEM of the CA that signed NATS's certificate; absent when agents trust their system CAs"),
    hubPublicKey: z.string().describe("SPKI PEM of the hub's signing key"),
    agentSigningKey: z.string().describe("PKCS#8 PEM of the agent's Ed25519 key; shown only once"),
  })
  .meta({ id: "BootstrapBundle", description: "Bootstrap bundle for the cluster's agent (FLOTILLA_BOOTSTRAP)" });
export type BootstrapBundle = z.output<typeof bootstrapBundleSchema>;

/** A team. */
export const teamSchema = z.object({ name: nameSchema, ...teamSpecSchema.shape }).meta({ id: "Team" });
export type Team = z.output<typeof teamSchema>;

/** A repo as the API shows it: never its credentials or webhook secret, only whether it has them. */
export const repoSchema = z
  .object({
    name: nameSchema,
    ...repoSpecSchema.omit({ credentials: true, webhookSecret: true }).shape,
    hasCredentials: z.boolean(),
    hasWebhookSecret: z.boolean(),
  })
  .meta({ id: "Repo" });
export type Repo = z.output<typeof repoSchema>;

/** An app. */
export const appSchema = z.object({ name: nameSchema, ...appSpecSchema.shape }).meta({ id: "App" });
export type App = z.output<typeof appSchema>;

/** An environment, its policy stored with every default filled in; its Prometheus credentials only by whether it has them. */
export const environmentSchema = z
  .object({
    name: nameSchema,
    ...environmentSpecSchema.omit({ prometheusCredentials: true }).shape,
    hasPrometheusCredentials: z
      .boolean()
      .optional()
      .describe("the hub authenticates to Prometheus for this environment with credentials it keeps sealed"),
  })
  .meta({ id: "Environment" });
export type Environment = z.output<typeof environmentSchema>;

/** What an apply did to one object. */
export const APPLY_ACTIONS = ["created", "configured", "unchanged"] as const;
export type ApplyAction = (typeof APPLY_ACTIONS)[number];

/** One object's outcome in an apply. */
export const applyResultSchema = z
  .object({
    index: z.number().int().describe("1-based position of the document in the applied file"),
    kind: z.enum(KINDS),
    name: nameSchema,
    action: z.enum(APPLY_ACTIONS),
    bootstrap: bootstrapBundleSchema
      .optional()
      .describe("for a Cluster this apply created: its agent's bootstrap bundle, shown only now"),
  })
  .meta({ id: "ApplyResult" });
export type ApplyResult = z.output<typeof applyResultSchema>;

/** `POST /v1/apply`: every document's outcome, in file order. */
export const applyResponseSchema = z.object({ results: z.array(applyResultSchema) }).meta({ id: "ApplyResponse" });
export type ApplyResponse = z.output<typeof applyResponseSchema>;

/** The body of every list route: `{ items }`. */
export function listOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item) });
}

/** `{ items }` of every list route. */
export interface List<T> {
  items: T[];
}
