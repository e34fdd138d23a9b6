/**
 * The events `GET /v1/events` streams (Server-Sent Events): each event's `event:` line is its
 * type, its `data:` line one of these as JSON.
 */
import { z } from "zod";
import { nameSchema } from "./labels.js";
import { changeKindSchema, settingsChangeSchema } from "./rollout.js";

const reportEventSchema = z.object({
  type: z.literal("report"),
  cluster: nameSchema,
  app: nameSchema,
  revision: z.string(),
  observedGeneration: z.number().int(),
  phase: z.string(),
  health: z.string(),
  atMs: z.number(),
});

const heartbeatEventSchema = z.object({
  type: z.literal("heartbeat"),
  cluster: nameSchema,
  agentVersion: z.string(),
  atMs: z.number(),
});

/** A cluster started or stopped asking for a freeze (`reason` absent: it stopped). */
const clusterFreezeEventSchema = z.object({
  type: z.literal("cluster-freeze"),
  cluster: nameSchema,
  reason: z.string().optional(),
  source: z.string().optional(),
  atMs: z.number(),
});

const desiredEventSchema = z.object({
  type: z.literal("desired"),
  cluster: nameSchema,
  app: nameSchema,
  revision: z.string(),
  generation: z.number().int(),
  rolloutId: z.string(),
  atMs: z.number(),
});

const clusterStateEventSchema = z.object({
  type: z.literal("cluster-state"),
  cluster: nameSchema,
  state: z.string(),
  previous: z.string(),
  atMs: z.number(),
});

const registryEventSchema = z.object({
  type: z.literal("registry"),
  kind: z.string(),
  name: z.string(),
  action: z.string(),
  atMs: z.number(),
});

const rolloutEventSchema = z.object({
  type: z.literal("rollout"),
  rolloutId: z.string(),
  app: nameSchema,
  environment: z.string(),
  event: z
    .string()
    .describe("what happened: an engine action kind or event type (WaveStarted, ClusterFailed, Paused, ...)"),
  state: z.string().describe("the rollout's state after it"),
  message: z.string().optional(),
  wave: z.string().optional(),
  cluster: z.string().optional(),
  revision: z.string().optional(),
  generation: z.number().int().optional(),
  changed: z.array(changeKindSchema).optional().describe("with Created: what the rollout changes"),
  diff: z
    .array(settingsChangeSchema)
    .optional()
    .describe("with Created: the settings fields that changed, secret-looking values masked"),
  origin: z
    .enum(["api", "engine"])
    .describe("api for commands, so the leader steps at once; engine for the leader's own steps"),
  atMs: z.number(),
});

/** The hub's key set changed (a rotation step): replicas load it, the leader tells the agents. */
const hubKeysEventSchema = z.object({
  type: z.literal("hub-keys"),
  version: z.number().int().describe("the key set's new version"),
  currentKeyId: z.string().describe("the key the hub signs with from this version on"),
  atMs: z.number(),
});

/** A change the hub tells SSE clients about. */
export const hubEventSchema = z
  .discriminatedUnion("type", [
    reportEventSchema,
    heartbeatEventSchema,
    desiredEventSchema,
    clusterStateEventSchema,
    clusterFreezeEventSchema,
    registryEventSchema,
    rolloutEventSchema,
    hubKeysEventSchema,
  ])
  .meta({ id: "HubEvent", description: "One event of GET /v1/events: the JSON of its data line" });
export type HubEvent = z.output<typeof hubEventSchema>;
export type HubEventType = HubEvent["type"];

/** Every event type, for the `types` filter of `GET /v1/events`. */
export const HUB_EVENT_TYPES: readonly HubEventType[] = hubEventSchema.options.map((o) => o.shape.type.value);
