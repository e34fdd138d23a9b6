/**
 * Every operation of the hub's HTTP API v1: method, path, what goes in and what comes out for
 * each status. The hub registers its routes from this table (so a handler's return type is
 * checked against the response schema) and generates `/openapi.json` from those routes; the
 * CLI reads the same schemas. Paths are OpenAPI templates (`/v1/clusters/{name}`).
 */
import { z } from "zod";
import {
  type NameRef,
  type ObjectKind,
  type OperationScope,
  PUBLIC_SCOPE,
  type Resource,
  ROLES,
  reachOf,
  scopeName,
} from "./access.js";
import { appDiffSchema, appRefreshSchema } from "./agent-calls.js";
import { auditEntrySchema, auditQuerySchema } from "./audit.js";
import { errorBodySchema } from "./error-body.js";
import { SelectorSyntaxError } from "./errors.js";
import { HUB_EVENT_TYPES, hubEventSchema } from "./events.js";
import { fleetFreezeRequestSchema, freezeListSchema, freezeRequestSchema, freezeSchema } from "./freeze.js";
import { finishRotationSchema, healthSchema, hubInfoSchema, keySetStatusSchema, readinessSchema } from "./hub.js";
import { nameSchema } from "./labels.js";
import { deliverySchema, receiverSchema, receiverSpecSchema } from "./notifications.js";
import {
  applyResponseSchema,
  appSchema,
  bootstrapBundleSchema,
  CLUSTER_PAGE_MAX,
  clusterPageSchema,
  clusterViewSchema,
  environmentSchema,
  listOf,
  repoSchema,
  teamSchema,
} from "./objects.js";
import {
  registrationRequestSchema,
  registrationSchema,
  registrationTokenRequestSchema,
  registrationTokenSchema,
  registrationTokensRevokedSchema,
} from "./registration.js";
import {
  appSpecSchema,
  clusterSpecSchema,
  environmentSpecSchema,
  repoSpecSchema,
  teamSpecSchema,
} from "./resources.js";
import {
  planPreviewSchema,
  rolloutCommandSchema,
  rolloutPhaseSchema,
  rolloutSummarySchema,
  rolloutViewSchema,
} from "./rollout.js";
import { parseSelector } from "./selector.js";
import { CSRF_HEADER, SESSION_COOKIE } from "./session.js";
import { appStatusSchema, clusterDetailSchema, fleetStatusSchema } from "./status.js";
import { identitySchema, mintedTokenSchema, tokenRequestSchema, tokenViewSchema } from "./tokens.js";

/** The HTTP methods the API uses. */
export type Method = "GET" | "POST" | "PUT" | "DELETE";

/** A response documented per content type, with its description. */
export interface ContentResponse {
  description: string;
  content: Record<string, { schema: z.ZodType }>;
}

/**
 * What the hub's router and the OpenAPI generator read of one operation: the field names are
 * Fastify's route schema, which `@fastify/swagger` turns into the OpenAPI operation.
 */
export interface OperationSchema {
  operationId: string;
  tags: readonly string[];
  summary: string;
  description?: string;
  /** `[]` for the public routes, which need no bearer token; derived from the operation's scope. */
  security?: readonly Record<string, readonly string[]>[];
  /** The operation's scope in one word (`write:repos`, `public`), for readers of the document. */
  "x-flotilla-scope": string;
  params?: z.ZodType;
  querystring?: z.ZodType;
  headers?: z.ZodType;
  body?: z.ZodType;
  /** Request content types, when not JSON. */
  consumes?: readonly string[];
  /** By status code (`default`: any other); an empty body is `z.undefined()`. */
  response: Record<string, ContentResponse | z.ZodType>;
}

/** One operation. */
export interface Operation {
  method: Method;
  /** OpenAPI path template, e.g. `/v1/clusters/{name}`. */
  path: string;
  /** What the calling token needs (see `access.ts`); required, so no route goes unscoped. */
  scope: OperationScope;
  schema: OperationSchema;
}

/** The document's tags, in the order a reader meets them. */
export const TAGS = [
  { name: "hub", description: "This replica, the leader, the hub's public key, and this document" },
  { name: "probes", description: "Liveness, readiness and Prometheus metrics; no token needed" },
  { name: "clusters", description: "Register clusters and get their agents' bootstrap bundles" },
  { name: "teams", description: "Teams own repos" },
  { name: "repos", description: "Git repositories the hub tracks, one branch per environment" },
  { name: "apps", description: "What to deploy from a repo, and where" },
  { name: "environments", description: "Groups of clusters (label env) and their rollout policy" },
  { name: "apply", description: "Declare a whole fleet in one YAML file" },
  { name: "rollouts", description: "Revisions rolling out in waves, and the commands that steer them" },
  { name: "status", description: "What the agents report, per cluster, per app and fleet-wide; live events" },
  { name: "webhooks", description: "Git push notifications, checked against the repo's webhook secret" },
  { name: "tokens", description: "API tokens: mint, list and revoke them; who the caller is" },
  { name: "audit", description: "Who changed what, and when" },
  { name: "notifications", description: "Receivers of rollout and cluster notifications, and their deliveries" },
] as const;

/** Request content types `POST /v1/apply` reads. */
export const YAML_CONTENT_TYPES = ["application/yaml", "application/x-yaml", "text/yaml", "text/plain"] as const;

function json<S extends z.ZodType>(description: string, schema: S) {
  return { description, content: { "application/json": { schema } } };
}

const ERROR_DESCRIPTIONS = {
  400: "Bad input: the field at fault and why; nothing was changed",
  401: "Missing, unknown, expired or revoked bearer token (or a bad webhook signature, or a refused registration token)",
  403: "The token's role or team does not allow this; the message names what is missing",
  404: "No such object",
  409: "Conflicts with what exists, or with the object's state",
  429: "Too many: open event streams of this token",
  503: "Not ready: Redis or NATS does not answer",
} as const;
type ErrorStatus = keyof typeof ERROR_DESCRIPTIONS;
type ErrorResponse = ReturnType<typeof json<typeof errorBodySchema>>;

/** The error responses of an operation, plus `default` for anything else (500 internal, 503 not_leader, 415). */
function errors<const C extends readonly ErrorStatus[]>(...codes: C): Record<C[number] | "default", ErrorResponse> {
  const out: Partial<Record<ErrorStatus | "default", ErrorResponse>> = {
    default: json(
      "Any other failure: internal (500), not_leader (503, retry), too_many_requests (429, after too many failed authentications from one address), a malformed request",
      errorBodySchema,
    ),
  };
  for (const code of codes) out[code] = json(ERROR_DESCRIPTIONS[code], errorBodySchema);
  return out as Record<C[number] | "default", ErrorResponse>;
}

const PUBLIC = [] as const;
const anyName = z.object({ name: z.string() });
const ref = (at: NameRef["in"], field: string, kind: ObjectKind): NameRef => ({ in: at, field, kind });
const newName = z.object({ name: nameSchema });
const deleted = z.undefined().describe("Deleted");
const lifted = z.undefined().describe("Lifted");

/** The five operations of a registry kind with one shape: list, create, get, replace, delete. */
function resource<Spec extends z.ZodObject, View extends z.ZodType>(o: {
  kind: ObjectKind;
  plural: Resource;
  spec: Spec;
  view: View;
  /** Why deleting may conflict, if it can. */
  deleteConflict?: string;
  /** Names in a spec whose team must be the token's too (a repo's team, an app's repo). */
  also?: readonly NameRef[];
}) {
  const resource = o.plural;
  const also = o.also ? { also: o.also } : {};
  const tags = [o.plural];
  const one = o.kind.toLowerCase();
  const collection = `/v1/${o.plural}`;
  const item = `/v1/${o.plural}/{name}`;
  return {
    list: {
      method: "GET",
      path: collection,
      scope: { action: "read", resource },
      schema: {
        tags,
        summary: `List ${o.plural}`,
        response: { 200: json(`Every ${one}`, listOf(o.view)), ...errors(401) },
      },
    },
    create: {
      method: "POST",
      path: collection,
      scope: { action: "write", resource, object: ref("body", "name", o.kind), ...also },
      schema: {
        tags,
        summary: `Create a ${one} (409 if it exists)`,
        body: o.spec.extend({ name: nameSchema }),
        response: { 201: json(`The ${one} as stored`, o.view), ...errors(400, 401, 409) },
      },
    },
    get: {
      method: "GET",
      path: item,
      scope: { action: "read", resource, object: ref("params", "name", o.kind) },
      schema: {
        tags,
        summary: `Get one ${one}`,
        params: anyName,
        response: { 200: json(`The ${one}`, o.view), ...errors(401, 404) },
      },
    },
    replace: {
      method: "PUT",
      path: item,
      scope: { action: "write", resource, object: ref("params", "name", o.kind), ...also },
      schema: {
        tags,
        summary: `Create or replace a ${one}`,
        params: newName,
        body: o.spec,
        response: {
          200: json(`Replaced (or already as declared)`, o.view),
          201: json(`Created`, o.view),
          ...errors(400, 401),
        },
      },
    },
    delete: {
      method: "DELETE",
      path: item,
      scope: { action: "write", resource, object: ref("params", "name", o.kind) },
      schema: {
        tags,
        summary: `Delete a ${one}`,
        ...(o.deleteConflict ? { description: `409 when ${o.deleteConflict}.` } : {}),
        params: anyName,
        response: { 204: deleted, ...(o.deleteConflict ? errors(401, 404, 409) : errors(401, 404)) },
      },
    },
  } as const;
}

const teams = resource({
  kind: "Team",
  plural: "teams",
  spec: teamSpecSchema,
  view: teamSchema,
  deleteConflict: "the team still owns repos or tokens",
});
const repos = resource({
  kind: "Repo",
  plural: "repos",
  spec: repoSpecSchema,
  view: repoSchema,
  deleteConflict: "apps still use the repo",
  also: [ref("body", "team", "Team")],
});
const apps = resource({
  kind: "App",
  plural: "apps",
  spec: appSpecSchema,
  view: appSchema,
  also: [ref("body", "repo", "Repo")],
});
const environments = resource({
  kind: "Environment",
  plural: "environments",
  spec: environmentSpecSchema,
  view: environmentSchema,
});

/**
 * Whether some token could be refused by the operation's scope (then it documents 403): a role
 * that does not reach it, or one that reaches only its team's objects when the request names one.
 * A list names none: it answers what the token may read.
 */
function mayForbid(scope: OperationScope): boolean {
  if (scope === PUBLIC_SCOPE) return false;
  const names = scope.object !== undefined || scope.also !== undefined || scope.documents === true;
  return ROLES.some((role) => {
    const reach = reachOf(role, scope);
    return reach === "none" || (reach === "team" && names);
  });
}

type Declared = Omit<Operation, "schema"> & { schema: Omit<OperationSchema, "operationId" | "x-flotilla-scope"> };
type WithId<T extends Declared, K> = T & {
  schema: T["schema"] & { operationId: K; "x-flotilla-scope": string };
};

/**
 * Completes each operation from its declaration: its key as its operationId (so the two cannot
 * differ), its scope as `x-flotilla-scope`, `security: []` when it is public, and the 403
 * response when its scope can refuse a token.
 */
function withIds<const T extends Record<string, Declared>>(table: T): { [K in keyof T]: WithId<T[K], K> } {
  return Object.fromEntries(
    Object.entries(table).map(([operationId, op]) => {
      const forbidden = mayForbid(op.scope) ? { 403: json(ERROR_DESCRIPTIONS[403], errorBodySchema) } : {};
      const schema = {
        operationId,
        ...op.schema,
        ...(op.scope === PUBLIC_SCOPE ? { security: PUBLIC } : {}),
        "x-flotilla-scope": scopeName(op.scope),
        response: { ...op.schema.response, ...forbidden },
      };
      return [operationId, { ...op, schema }];
    }),
  ) as { [K in keyof T]: WithId<T[K], K> };
}

/** Every operation of the API, by operationId. */
/** What `POST /v1/events/token` answers. */
const eventsTokenSchema = z
  .object({
    token: z.string().describe("pass it as ?access_token= to GET /v1/events; it is not an API token"),
    expiresAtMs: z.number().describe("after this it opens no stream (streams it opened go on)"),
  })
  .meta({ id: "EventsToken" });

export const operations = withIds({
  // ---- probes and the hub ----
  getHealth: {
    method: "GET",
    path: "/healthz",
    scope: PUBLIC_SCOPE,
    schema: {
      tags: ["probes"],
      summary: "Liveness: the process answers",
      response: { 200: json("Alive", healthSchema) },
    },
  },
  getReadiness: {
    method: "GET",
    path: "/readyz",
    scope: PUBLIC_SCOPE,
    schema: {
      tags: ["probes"],
      summary: "Readiness: Redis and NATS answer",
      response: { 200: json("Ready", readinessSchema), 503: json(ERROR_DESCRIPTIONS[503], readinessSchema) },
    },
  },
  getMetrics: {
    method: "GET",
    path: "/metrics",
    scope: PUBLIC_SCOPE,
    schema: {
      tags: ["probes"],
      summary: "Prometheus metrics of this replica",
      description:
        "Public unless the hub sets FLOTILLA_HUB_METRICS_TOKEN; then send that token as a bearer token (no API token works here).",
      response: {
        200: {
          description: "Prometheus text exposition format",
          content: { "text/plain": { schema: z.string() } },
        },
        ...errors(401),
      },
    },
  },
  getOpenApi: {
    method: "GET",
    path: "/openapi.json",
    scope: { action: "read", resource: "hub" },
    schema: {
      tags: ["hub"],
      summary: "This document, with the hub's own address as its server",
      response: { 200: json("OpenAPI 3 document", z.record(z.string(), z.unknown())), ...errors(401) },
    },
  },
  getHub: {
    method: "GET",
    path: "/v1/hub",
    scope: { action: "read", resource: "hub" },
    schema: {
      tags: ["hub"],
      summary: "This replica, the current leader, the hub public key",
      response: { 200: json("The replica that answered", hubInfoSchema), ...errors(401) },
    },
  },

  getHubKeys: {
    method: "GET",
    path: "/v1/hub/keys",
    scope: { action: "read", resource: "keys" },
    schema: {
      tags: ["hub"],
      summary: "The hub's signing keys and how many clusters hold the current key set",
      response: { 200: json("The key set and the fleet's progress", keySetStatusSchema), ...errors(401) },
    },
  },
  startKeyRotation: {
    method: "POST",
    path: "/v1/hub/keys/rotation",
    scope: { action: "write", resource: "keys" },
    schema: {
      tags: ["hub"],
      summary: "Start a rotation of the hub's signing key: announce a fresh key beside the current one",
      description:
        "The hub keeps signing with the current key; agents learn the next one from the set the leader writes to their keys. Finish once every cluster holds the announced version (GET /v1/hub/keys). 409 while a rotation is under way, or when the key comes from FLOTILLA_HUB_SIGNING_KEY_FILE.",
      response: { 200: json("The rotation started", keySetStatusSchema), ...errors(401, 403, 409) },
    },
  },
  finishKeyRotation: {
    method: "POST",
    path: "/v1/hub/keys/rotation/finish",
    scope: { action: "write", resource: "keys" },
    schema: {
      tags: ["hub"],
      summary: "Finish a rotation: sign with the next key and retire the old one",
      description:
        "409 with no rotation under way, or while a cluster does not hold the announced version yet (the message names them) unless `force`. What the retired key signed is refused by every agent that holds the new set.",
      body: finishRotationSchema,
      response: { 200: json("The rotation finished", keySetStatusSchema), ...errors(400, 401, 403, 409) },
    },
  },

  // ---- clusters ----
  listClusters: {
    method: "GET",
    path: "/v1/clusters",
    scope: { action: "read", resource: "clusters" },
    schema: {
      tags: ["clusters"],
      summary: "List clusters with their state, last heartbeat and agent version",
      description:
        "In name order. Without `limit`, every cluster in one answer; with it, a page and, when more follow, a `continue` token for the next. A fleet of thousands should be read in pages.",
      querystring: z.object({
        limit: z.coerce
          .number()
          .int()
          .min(1)
          .max(CLUSTER_PAGE_MAX)
          .optional()
          .describe(`clusters per page, 1 to ${CLUSTER_PAGE_MAX}; unset: every cluster`),
        continue: z.string().min(1).optional().describe("the `continue` of the previous page"),
        selector: z
          .string()
          .optional()
          .superRefine((selector, ctx) => {
            try {
              parseSelector(selector ?? "");
            } catch (err) {
              if (!(err instanceof SelectorSyntaxError)) throw err;
              ctx.addIssue({ code: "custom", message: err.reason });
            }
          })
          .describe('label selector, e.g. "env=prod,tier in (canary,edge),!legacy"'),
      }),
      response: { 200: json("A page of clusters", clusterPageSchema), ...errors(400, 401) },
    },
  },
  createCluster: {
    method: "POST",
    path: "/v1/clusters",
    scope: { action: "write", resource: "clusters", object: ref("body", "name", "Cluster") },
    schema: {
      tags: ["clusters"],
      summary: "Register a cluster; returns its agent's bootstrap bundle",
      body: clusterSpecSchema.extend({ name: nameSchema }),
      response: {
        201: json("Registered; the bundle is shown only now", bootstrapBundleSchema),
        ...errors(400, 401, 409),
      },
    },
  },
  getCluster: {
    method: "GET",
    path: "/v1/clusters/{name}",
    scope: { action: "read", resource: "clusters", object: ref("params", "name", "Cluster") },
    schema: {
      tags: ["clusters", "status"],
      summary: "A cluster, its state and its apps with revision, sync, health and last report",
      params: anyName,
      response: { 200: json("The cluster", clusterDetailSchema), ...errors(401, 404) },
    },
  },
  replaceCluster: {
    method: "PUT",
    path: "/v1/clusters/{name}",
    scope: { action: "write", resource: "clusters", object: ref("params", "name", "Cluster") },
    schema: {
      tags: ["clusters"],
      summary: "Replace a cluster's labels",
      params: newName,
      body: clusterSpecSchema,
      response: { 200: json("The cluster with its new labels", clusterViewSchema), ...errors(400, 401, 404) },
    },
  },
  createRegistrationToken: {
    method: "POST",
    path: "/v1/clusters/{name}/registration-tokens",
    scope: { action: "write", resource: "clusters", object: ref("params", "name", "Cluster") },
    schema: {
      tags: ["clusters"],
      summary: "Mint a single-use registration token for the cluster's agent; the token is shown only now",
      description:
        "An agent whose NATS credentials expired while it was offline presents the token once, to " +
        "POST /v1/clusters/{name}/register, and gets new credentials. The hub keeps only a SHA-256 " +
        "of the token, which expires unused after ttlSeconds. A cluster has at most one outstanding " +
        "token: minting one drops any earlier. 409 when the hub mints no NATS credentials (no " +
        "operator setup).",
      params: anyName,
      body: registrationTokenRequestSchema,
      response: {
        201: json("Minted; `token` is shown only now", registrationTokenSchema),
        ...errors(400, 401, 404, 409),
      },
    },
  },
  revokeRegistrationTokens: {
    method: "DELETE",
    path: "/v1/clusters/{name}/registration-tokens",
    scope: { action: "write", resource: "clusters", object: ref("params", "name", "Cluster") },
    schema: {
      tags: ["clusters"],
      summary: "Drop the cluster's outstanding registration tokens, so none of them registers",
      params: anyName,
      response: {
        200: json("Dropped; `revoked` says how many there were", registrationTokensRevokedSchema),
        ...errors(401, 404),
      },
    },
  },
  registerAgent: {
    method: "POST",
    path: "/v1/clusters/{name}/register",
    scope: PUBLIC_SCOPE,
    schema: {
      tags: ["clusters"],
      summary:
        "An agent exchanges a registration token for new NATS credentials (no bearer token: the token is the proof)",
      description:
        "The token is consumed on first use. An unknown, expired, used or other cluster's token, " +
        "and an unknown cluster, are all answered alike (401), so neither tokens nor cluster names " +
        "can be probed; failures count against the address like failed authentications (429 past " +
        "the limit). The cluster's previous NATS user is revoked once the answer is sent, and its " +
        "other outstanding tokens are dropped. The agent key never changes here: any field besides " +
        "token and natsUserPublicKey (agentPublicKey among them) is refused with 400; a new agent key " +
        "needs a new registration (DELETE the cluster, then POST /v1/clusters).",
      params: anyName,
      body: registrationRequestSchema,
      response: {
        200: json("Registered: the new JWT for natsUserPublicKey", registrationSchema),
        ...errors(400, 401),
      },
    },
  },
  rotateClusterCredentials: {
    method: "POST",
    path: "/v1/clusters/{name}/rotate",
    scope: { action: "write", resource: "clusters", object: ref("params", "name", "Cluster") },
    schema: {
      tags: ["clusters"],
      summary: "Have the cluster's agent replace its NATS user at its next renewal",
      description:
        "The agent's next credentials renewal (at half its JWT's lifetime) is answered with a " +
        "request to rotate: the agent makes a new NATS user key, the hub mints for it and revokes " +
        "the old user. Revoke at once with DELETE instead.",
      params: anyName,
      response: {
        202: json(
          "Accepted",
          z.object({
            name: z.string(),
            rotation: z
              .enum(["requested", "none"])
              .describe("none: the cluster has no NATS credentials (the hub runs without an operator setup)"),
          }),
        ),
        ...errors(401, 404),
      },
    },
  },
  deleteCluster: {
    method: "DELETE",
    path: "/v1/clusters/{name}",
    scope: { action: "write", resource: "clusters", object: ref("params", "name", "Cluster") },
    schema: {
      tags: ["clusters"],
      summary: "Deregister a cluster and revoke its credentials",
      params: anyName,
      response: { 204: deleted, ...errors(401, 404) },
    },
  },

  // ---- teams, repos, apps, environments ----
  listTeams: teams.list,
  createTeam: teams.create,
  getTeam: teams.get,
  replaceTeam: teams.replace,
  deleteTeam: teams.delete,
  listRepos: repos.list,
  createRepo: repos.create,
  getRepo: repos.get,
  replaceRepo: repos.replace,
  deleteRepo: repos.delete,
  listApps: apps.list,
  createApp: apps.create,
  getApp: apps.get,
  replaceApp: apps.replace,
  deleteApp: apps.delete,
  listEnvironments: environments.list,
  createEnvironment: environments.create,
  getEnvironment: environments.get,
  replaceEnvironment: environments.replace,
  deleteEnvironment: environments.delete,

  apply: {
    method: "POST",
    path: "/v1/apply",
    scope: { action: "write", resource: "apply", documents: true },
    schema: {
      tags: ["apply"],
      summary: "Apply a multi-document YAML of Cluster, Team, Repo, App and Environment documents",
      description:
        "Validates every document first (400 naming the document and field; nothing is written), then applies in dependency order. Idempotent: objects already as declared are reported unchanged.",
      consumes: YAML_CONTENT_TYPES,
      body: z
        .string()
        .min(1, "send a YAML body with Content-Type: application/yaml")
        .describe("YAML documents, each with apiVersion flotilla.dev/v1, kind, metadata.name and spec"),
      response: { 200: json("What happened to each document", applyResponseSchema), ...errors(400, 401) },
    },
  },

  // ---- status ----
  getFleetStatus: {
    method: "GET",
    path: "/v1/fleet/status",
    scope: { action: "read", resource: "fleet" },
    schema: {
      tags: ["status"],
      summary: "Clusters by state and apps by sync and health, per environment",
      response: { 200: json("The fleet", fleetStatusSchema), ...errors(401) },
    },
  },
  getAppStatus: {
    method: "GET",
    path: "/v1/apps/{app}/status",
    scope: { action: "read", resource: "apps", object: ref("params", "app", "App") },
    schema: {
      tags: ["apps", "status"],
      summary: "Per-cluster matrix of one app: desired and reported revision, sync and health",
      params: z.object({ app: z.string() }),
      response: { 200: json("The app across the fleet", appStatusSchema), ...errors(401, 404) },
    },
  },
  diffApp: {
    method: "GET",
    path: "/v1/apps/{app}/diff",
    scope: { action: "read", resource: "apps", object: ref("params", "app", "App") },
    schema: {
      tags: ["apps", "status"],
      summary: "How the live objects of an app differ from what each agent applied, per cluster",
      description:
        "Asks the agent of every cluster the app is published to (a signed request, answered signed) and waits for each at most the agent call timeout. Field paths only, never values.",
      params: z.object({ app: z.string() }),
      response: { 200: json("Each cluster's answer", appDiffSchema), ...errors(401, 404) },
    },
  },
  refreshApp: {
    method: "POST",
    path: "/v1/apps/{app}/refresh",
    scope: { action: "write", resource: "apps", object: ref("params", "app", "App") },
    schema: {
      tags: ["apps"],
      summary: "Ask the agents of an app to reconcile it now, and answer when each has",
      description:
        "A reconcile of the desired state each agent holds: it renders, applies, prunes and reports as on a change. Changes nothing on the hub.",
      params: z.object({ app: z.string() }),
      response: { 200: json("Each cluster's answer", appRefreshSchema), ...errors(401, 404) },
    },
  },
  streamEvents: {
    method: "GET",
    path: "/v1/events",
    scope: { action: "read", resource: "fleet" },
    schema: {
      tags: ["status"],
      summary:
        "Server-Sent Events of reports, heartbeats, desired states, cluster states, registry changes and rollouts",
      description:
        "Each event's `event:` line is its type, its `id:` line its id and its `data:` line one HubEvent as JSON; a comment line keeps an idle stream open. Ids grow in one order across replicas and hub restarts (they come from a Redis stream): a client that reconnects with `Last-Event-ID` first gets every event after that id still in the event log (FLOTILLA_HUB_EVENTS_MAX_ENTRIES batches), then the live ones, each once; a comment line says so when some were trimmed already. A token may hold a limited number of streams open on each replica (429 beyond); a stream ends when its token is revoked or expires.",
      querystring: z.object({
        access_token: z
          .string()
          .optional()
          .describe(
            "an events token from POST /v1/events/token, for a browser's EventSource (which cannot send a header); no other token is taken from the URL",
          ),
        types: z
          .string()
          .optional()
          .describe(`comma-separated subset of ${HUB_EVENT_TYPES.join(", ")}`)
          .refine((t) => !t || t.split(",").every((x) => (HUB_EVENT_TYPES as readonly string[]).includes(x)), {
            message: `must be a comma-separated subset of ${HUB_EVENT_TYPES.join(", ")}`,
          }),
      }),
      headers: z.object({
        "last-event-id": z
          .string()
          .optional()
          .describe(
            "the id of the last event received: the stream resumes after it (400 when it is not an id of this hub)",
          ),
      }),
      response: {
        200: {
          description: "An endless stream of events",
          content: { "text/event-stream": { schema: hubEventSchema } },
        },
        ...errors(400, 401, 429),
      },
    },
  },

  createEventsToken: {
    method: "POST",
    path: "/v1/events/token",
    scope: { action: "read", resource: "fleet" },
    schema: {
      tags: ["status"],
      summary: "Mint an events token: it opens GET /v1/events (as ?access_token=) and nothing else, for 60 s",
      description:
        "For a browser's EventSource, which cannot send an Authorization header. The token carries the caller's role and team; the stream it opens lives as long as the caller's own token and ends when that one is revoked or expires.",
      response: { 200: json("The events token", eventsTokenSchema), ...errors(401) },
    },
  },

  // ---- rollouts ----
  listRollouts: {
    method: "GET",
    path: "/v1/rollouts",
    scope: { action: "read", resource: "rollouts" },
    schema: {
      tags: ["rollouts"],
      summary: "List rollouts, newest first",
      querystring: z.object({
        app: z.string().optional(),
        environment: z.string().optional(),
        state: rolloutPhaseSchema.optional(),
      }),
      response: { 200: json("The rollouts that match", listOf(rolloutSummarySchema)), ...errors(400, 401) },
    },
  },
  getRollout: {
    method: "GET",
    path: "/v1/rollouts/{id}",
    scope: { action: "read", resource: "rollouts", object: ref("params", "id", "Rollout") },
    schema: {
      tags: ["rollouts"],
      summary:
        "A rollout: what changed (revision, settings, both), the commit, the masked settings diff, waves, per-cluster state and why, generations and timestamps, failure reasons, lead time",
      params: z.object({ id: z.string() }),
      response: { 200: json("The rollout", rolloutViewSchema), ...errors(401, 404) },
    },
  },
  commandRollout: {
    method: "POST",
    path: "/v1/rollouts/{id}/{command}",
    scope: { action: "write", resource: "rollouts", object: ref("params", "id", "Rollout") },
    schema: {
      tags: ["rollouts"],
      summary: "Pause, resume, promote (approve the waiting wave), abort, or roll back a rollout",
      description:
        "409 when the rollout's state does not allow the command (it ended, no wave awaits approval, or a first deploy has nothing to roll back to).",
      params: z.object({ id: z.string(), command: rolloutCommandSchema }),
      response: { 200: json("The rollout after the command", rolloutViewSchema), ...errors(400, 401, 404, 409) },
    },
  },
  overrideRollout: {
    method: "POST",
    path: "/v1/rollouts/{id}/override",
    scope: { action: "write", resource: "environments", object: ref("params", "id", "Rollout") },
    schema: {
      tags: ["rollouts"],
      summary:
        "Let one rollout move although a calendar window is closed or a freeze is in force (audited; the same scope as setting a freeze)",
      description: "409 when the rollout already ended.",
      params: z.object({ id: z.string() }),
      // No body and no enum: nothing to answer 400 for.
      response: { 200: json("The rollout after the override", rolloutViewSchema), ...errors(401, 404, 409) },
    },
  },
  listFreezes: {
    method: "GET",
    path: "/v1/freezes",
    scope: { action: "read", resource: "environments" },
    schema: {
      tags: ["environments"],
      summary: "The freezes in force: the fleet's and each environment's",
      response: { 200: json("The freezes", freezeListSchema), ...errors(401) },
    },
  },
  freezeFleet: {
    method: "PUT",
    path: "/v1/freeze",
    scope: { action: "write", resource: "environments" },
    schema: {
      tags: ["environments"],
      summary:
        "Freeze the whole fleet: no rollout starts a wave or writes a new cluster until unfrozen; in-flight clusters are still judged and rolled back",
      body: fleetFreezeRequestSchema,
      response: { 200: json("The freeze in force", freezeSchema), ...errors(400, 401) },
    },
  },
  unfreezeFleet: {
    method: "DELETE",
    path: "/v1/freeze",
    scope: { action: "write", resource: "environments" },
    schema: {
      tags: ["environments"],
      summary: "Lift the fleet's freeze",
      response: { 204: lifted, ...errors(401, 404) },
    },
  },
  freezeEnvironment: {
    method: "PUT",
    path: "/v1/environments/{env}/freeze",
    scope: { action: "write", resource: "environments", object: ref("params", "env", "Environment") },
    schema: {
      tags: ["environments"],
      summary:
        "Freeze one environment (or, with a selector, some of its clusters): its rollouts start no wave and write no frozen cluster until unfrozen",
      params: z.object({ env: nameSchema }),
      body: freezeRequestSchema,
      response: { 200: json("The freeze in force", freezeSchema), ...errors(400, 401) },
    },
  },
  unfreezeEnvironment: {
    method: "DELETE",
    path: "/v1/environments/{env}/freeze",
    scope: { action: "write", resource: "environments", object: ref("params", "env", "Environment") },
    schema: {
      tags: ["environments"],
      summary: "Lift an environment's freeze",
      params: z.object({ env: nameSchema }),
      response: { 204: lifted, ...errors(401, 404) },
    },
  },
  previewPlan: {
    method: "POST",
    path: "/v1/environments/{env}/plan",
    scope: { action: "read", resource: "apps", object: ref("body", "app", "App") },
    schema: {
      tags: ["environments", "rollouts"],
      summary: "Preview which clusters fall in which wave for an app; changes nothing",
      params: z.object({ env: z.string() }),
      body: z.object({ app: z.string().min(1) }),
      response: { 200: json("The wave plan", planPreviewSchema), ...errors(400, 401, 404) },
    },
  },

  // ---- webhooks ----
  receiveGitWebhook: {
    method: "POST",
    path: "/v1/webhooks/git/{repo}",
    scope: PUBLIC_SCOPE,
    schema: {
      tags: ["webhooks"],
      summary: "Git push webhook (GitHub X-Hub-Signature-256, GitLab X-Gitlab-Token, or X-Flotilla-Signature)",
      description:
        "Checked against the repo's webhook secret over the raw body bytes; the payload is not trusted for the new head: the hub asks the Git server. An unknown repo is answered as a bad signature (401), so repo names cannot be probed.",
      params: z.object({ repo: z.string() }),
      consumes: ["application/json", "application/x-www-form-urlencoded"],
      body: z.unknown().describe("the push event as the Git server sends it"),
      response: {
        202: json("Accepted: the repo is polled now", z.object({ accepted: z.literal(true), repo: z.string() })),
        ...errors(401),
      },
    },
  },

  // ---- tokens and the audit trail ----
  createSession: {
    method: "POST",
    path: "/v1/session",
    scope: { action: "read", resource: "hub" },
    schema: {
      tags: ["tokens"],
      summary: "Start a dashboard session: send the token as a bearer token; it comes back as an HttpOnly cookie",
      description: `Sets the ${SESSION_COOKIE} cookie to the token (HttpOnly, SameSite=Strict, Path=/, Secure over HTTPS; it lasts as long as the token). The hub reads the cookie only when a request has no Authorization header, and refuses a write authenticated by it without the ${CSRF_HEADER} header (403).`,
      response: { 200: json("The identity the token proves; the cookie is set", identitySchema), ...errors(401) },
    },
  },
  deleteSession: {
    method: "DELETE",
    path: "/v1/session",
    scope: PUBLIC_SCOPE,
    schema: {
      tags: ["tokens"],
      summary: "End a dashboard session: clears the session cookie (the token itself stays valid)",
      response: { 204: z.undefined().describe("The cookie is cleared") },
    },
  },
  whoami: {
    method: "GET",
    path: "/v1/whoami",
    scope: { action: "read", resource: "hub" },
    schema: {
      tags: ["tokens"],
      summary: "The identity the caller's token proves: its id, role, team and expiry",
      response: { 200: json("The caller", identitySchema), ...errors(401) },
    },
  },
  createToken: {
    method: "POST",
    path: "/v1/tokens",
    scope: { action: "write", resource: "tokens" },
    schema: {
      tags: ["tokens"],
      summary: "Mint a token with a role, optionally a team and an expiry; the token is shown only now",
      description:
        "The hub keeps only a SHA-256 of the token's secret; a lost token cannot be shown again: revoke it and mint another.",
      body: tokenRequestSchema,
      response: { 201: json("Minted; `token` is shown only now", mintedTokenSchema), ...errors(400, 401) },
    },
  },
  listTokens: {
    method: "GET",
    path: "/v1/tokens",
    scope: { action: "read", resource: "tokens" },
    schema: {
      tags: ["tokens"],
      summary: "List minted tokens (never their secrets), with their last use",
      response: { 200: json("Every token that has not been revoked", listOf(tokenViewSchema)), ...errors(401) },
    },
  },
  revokeToken: {
    method: "DELETE",
    path: "/v1/tokens/{id}",
    scope: { action: "write", resource: "tokens", object: ref("params", "id", "Token") },
    schema: {
      tags: ["tokens"],
      summary: "Revoke a token: every replica refuses it (401) within a second, and its event streams end",
      params: z.object({ id: z.string() }),
      response: { 204: deleted, ...errors(401, 404) },
    },
  },
  listAudit: {
    method: "GET",
    path: "/v1/audit",
    scope: { action: "read", resource: "audit", object: ref("query", "team", "Team") },
    schema: {
      tags: ["audit"],
      summary:
        "The audit trail, newest first: every change made through the API, and every write refused for its scope",
      description:
        "A token with a team reads only the entries about its team's objects or made by its team's tokens. The trail is capped (FLOTILLA_HUB_AUDIT_MAX_ENTRIES); the oldest entries go first.",
      querystring: auditQuerySchema,
      response: { 200: json("The entries that match, newest first", listOf(auditEntrySchema)), ...errors(400, 401) },
    },
  },

  // ---- notifications ----
  listReceivers: {
    method: "GET",
    path: "/v1/receivers",
    scope: { action: "read", resource: "receivers" },
    schema: {
      tags: ["notifications"],
      summary: "List notification receivers (never their URL paths or secrets)",
      response: { 200: json("Every receiver", listOf(receiverSchema)), ...errors(401) },
    },
  },
  replaceReceiver: {
    method: "PUT",
    path: "/v1/receivers/{name}",
    scope: { action: "write", resource: "receivers" },
    schema: {
      tags: ["notifications"],
      summary: "Create or replace a receiver and its route (which events, teams and environments)",
      description:
        "The URL and secret are sealed with the hub's encryption key and never answered again. A webhook delivery is a JSON Notification signed in the x-flotilla-signature header (sha256=<hex HMAC-SHA256 of the body>); a failed delivery (no answer, or a status other than 2xx) is tried again with exponential backoff.",
      params: newName,
      body: receiverSpecSchema,
      response: {
        200: json("Replaced", receiverSchema),
        201: json("Created", receiverSchema),
        ...errors(400, 401),
      },
    },
  },
  getReceiver: {
    method: "GET",
    path: "/v1/receivers/{name}",
    scope: { action: "read", resource: "receivers" },
    schema: {
      tags: ["notifications"],
      summary: "Show a receiver and its route (never its URL path or secret)",
      params: anyName,
      response: { 200: json("The receiver", receiverSchema), ...errors(401, 404) },
    },
  },
  deleteReceiver: {
    method: "DELETE",
    path: "/v1/receivers/{name}",
    scope: { action: "write", resource: "receivers" },
    schema: {
      tags: ["notifications"],
      summary: "Delete a receiver",
      params: anyName,
      response: { 204: deleted, ...errors(401, 404) },
    },
  },
  listDeliveries: {
    method: "GET",
    path: "/v1/receivers/{name}/deliveries",
    scope: { action: "read", resource: "receivers" },
    schema: {
      tags: ["notifications"],
      summary: "The deliveries to a receiver, newest first, with their outcome and attempts",
      params: anyName,
      response: { 200: json("Its deliveries still in the log", listOf(deliverySchema)), ...errors(401, 404) },
    },
  },
});

/** The operationId of every operation. */
export type OperationId = keyof typeof operations;
