import fastifyCookie from "@fastify/cookie";
import fastifyRateLimit from "@fastify/rate-limit";
import fastifySwagger from "@fastify/swagger";
import { operations, PUBLIC_SCOPE } from "@flotilla/api";
import { publicKeyToPem, type SigningKey } from "@flotilla/proto";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from "fastify";
import { validatorCompiler, type ZodTypeProvider } from "fastify-type-provider-zod";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { EventsTokens } from "../access/events-token.js";
import { Ownership } from "../access/ownership.js";
import type { TokenService } from "../access/tokens.js";
import { AuditTrail } from "../audit/trail.js";
import { MAX_HEADERS_TIMEOUT_MS } from "../config.js";
import { AuthError } from "../errors.js";
import type { HubKeys } from "../keys/hub-keys.js";
import type { HubMetrics } from "../metrics.js";
import type { AgentCalls } from "../nats/agent-calls.js";
import type { Receivers } from "../notify/receivers.js";
import { redisKeys } from "../redis/index.js";
import type { Registrations } from "../registry/registration.js";
import type { Registry } from "../registry/registry.js";
import type { EventBus, EventLog } from "../status/events.js";
import { FleetGauges } from "../status/gauges.js";
import type {
  AuditStore,
  ClusterStatusStore,
  DesiredStore,
  FreezeStore,
  Lease,
  LeaseStore,
  ObjectReader,
  ReportStore,
  RolloutStore,
  SettingsStore,
} from "../store.js";
import { constantTimeEqual } from "../tracking/webhook.js";
import { installAccessControl } from "./access.js";
import { agentRoutes } from "./agent-routes.js";
import { auditRoutes } from "./audit-routes.js";
import { dashboardRoutes } from "./dashboard-routes.js";
import { sendError } from "./errors.js";
import { freezeRoutes } from "./freeze-routes.js";
import { keyRoutes } from "./key-routes.js";
import { openApiOptions, withServer } from "./openapi.js";
import { receiverRoutes } from "./receiver-routes.js";
import { registrationRoutes } from "./registration-routes.js";
import { registryRoutes } from "./registry-routes.js";
import { rolloutRoutes } from "./rollout-routes.js";
import { routeOf } from "./route.js";
import { contractSerializerCompiler } from "./serializer.js";
import { statusRoutes } from "./status-routes.js";
import { StreamRegistry } from "./streams.js";
import { tokenRoutes } from "./token-routes.js";
import { webhookRoutes } from "./webhook-routes.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** Served without the bearer token (health, metrics, webhooks with their own signature). */
    public?: boolean;
  }
}

/** The HTTP server's limits (see the hub's settings). */
export interface EdgeLimits {
  /** Time to receive a whole request, headers and body. */
  requestTimeoutMs: number;
  /** Idle time after which a keep-alive connection is closed. */
  keepAliveTimeoutMs: number;
  /** Event streams one token may hold open on this replica. */
  maxStreamsPerToken: number;
  /** Failed authentications one address may make per minute. */
  authFailureLimit: number;
  /** Proxies between clients and the hub, whose `X-Forwarded-For` names the client. */
  trustedProxies: number;
}

/** Largest request body: an apply of a big fleet file, or a large push webhook. */
export const BODY_LIMIT_BYTES = 4 * 1024 * 1024;
/** The window failed authentications are counted in. */
export const AUTH_FAILURE_WINDOW_MS = 60_000;

export interface ApiOptions {
  objects: ObjectReader;
  statuses: ClusterStatusStore;
  desired: DesiredStore;
  reports: ReportStore;
  leases: LeaseStore;
  rollouts: RolloutStore;
  settings: SettingsStore;
  registry: Registry;
  /** Questions to agents: an app's live diff, a refresh. */
  agents: AgentCalls;
  /** Notification receivers. */
  receivers: Receivers;
  /** Registration tokens and agents' registrations with them. */
  registrations: Registrations;
  events: EventBus;
  /** What reconnecting event streams are served from. */
  eventLog: EventLog;
  metrics: HubMetrics;
  log: Logger;
  tokens: TokenService;
  /** Mints and checks the events tokens of `POST /v1/events/token`. */
  eventsTokens: EventsTokens;
  audit: AuditStore;
  freezes: FreezeStore;
  /** Where failed authentications are counted, shared by every replica; in memory when absent (tests). */
  redis?: Redis;
  limits: EdgeLimits;
  /** When set, `/metrics` needs it as a bearer token. */
  metricsToken?: string;
  hubKey: SigningKey;
  /** The hub's key set and its rotation. */
  hubKeys: HubKeys;
  replicaId: string;
  /** This replica's lease while it leads. */
  lease: () => Lease | undefined;
  /** True when Redis and NATS answer. */
  ready: () => Promise<boolean>;
}

/** Longest pause between checks of the request and headers timeouts. */
const TIMEOUT_CHECK_MS = 1_000;

/**
 * The HTTP API v1: the operations of `@flotilla/api`, each route registered from its entry there
 * (Fastify with zod schemas → OpenAPI 3 at `/openapi.json`). Every route needs a bearer token
 * whose role and team its scope allows (see access.ts) except `/healthz`, `/readyz`, `/metrics`
 * (unless a metrics token is set) and the Git webhook, which carries its own signature. A
 * response body its schema does not describe fails with 500 and a log line (see serializer.ts).
 * The dashboard's files are served at `/ui/` (see dashboard-routes.ts).
 */
export async function buildApi(o: ApiOptions): Promise<FastifyInstance> {
  const streams = new StreamRegistry({
    maxPerToken: o.limits.maxStreamsPerToken,
    stillValid: (p) => o.tokens.stillValid(p),
    log: o.log,
  });
  const app = Fastify({
    loggerInstance: o.log as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    forceCloseConnections: true,
    // A client that trickles its request is cut off; Node checks these every TIMEOUT_CHECK_MS.
    requestTimeout: o.limits.requestTimeoutMs,
    keepAliveTimeout: o.limits.keepAliveTimeoutMs,
    // The nearest `trustedProxies` hops are proxies; the address before them is the client's.
    ...(o.limits.trustedProxies > 0
      ? { trustProxy: (_address: string, hop: number) => hop < o.limits.trustedProxies }
      : {}),
    http: {
      headersTimeout: Math.min(MAX_HEADERS_TIMEOUT_MS, o.limits.requestTimeoutMs),
      requestTimeout: o.limits.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_MS, o.limits.requestTimeoutMs / 2),
    },
    // Per-request lines would drown the log (SSE, health probes, agents' polling tools); API
    // latency is in flotilla_hub_api_request_duration_seconds instead.
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(contractSerializerCompiler);
  app.setErrorHandler((error, request, reply) => sendError(error, request, reply));
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: "not_found", message: `no route ${req.method} ${req.url.split("?")[0]}` }),
  );

  await app.register(fastifySwagger, openApiOptions());
  // Only its counter is used, and only for failed authentications (see access.ts).
  await app.register(fastifyRateLimit, {
    global: false,
    max: o.limits.authFailureLimit,
    timeWindow: AUTH_FAILURE_WINDOW_MS,
    ...(o.redis ? { redis: o.redis, nameSpace: redisKeys.authFailuresPrefix } : {}),
  });

  // Parses the dashboard's session cookie before the access hook reads it (see access.ts).
  await app.register(fastifyCookie);

  const ownership = new Ownership(o.objects, o.rollouts);
  const failures = app.createRateLimit();
  installAccessControl(app, {
    tokens: o.tokens,
    eventsTokens: o.eventsTokens,
    ownership,
    audit: new AuditTrail(o.audit, o.log),
    failures,
  });
  app.addHook("onResponse", async (req, reply) => {
    const status = reply.statusCode;
    o.metrics.apiDuration.observe(
      { method: req.method, route: req.routeOptions.url ?? "unmatched", status: String(status) },
      reply.elapsedTime / 1000,
    );
    const scope = req.routeOptions.config?.scope;
    if (scope !== undefined && scope !== PUBLIC_SCOPE && (status === 401 || status === 403 || status === 429)) {
      o.metrics.authRefusals.inc({ status: String(status) });
    }
  });
  app.addHook("preClose", async () => streams.endAll());
  const gauges = new FleetGauges({
    objects: o.objects,
    statuses: o.statuses,
    rollouts: o.rollouts,
    desired: o.desired,
    reports: o.reports,
    metrics: o.metrics,
  });

  const api = app.withTypeProvider<ZodTypeProvider>();
  api.route({ ...routeOf(operations.getHealth), handler: async () => ({ ok: true as const }) });
  api.route({
    ...routeOf(operations.getReadiness),
    handler: async (_req, reply) => {
      const ok = await o.ready().catch(() => false);
      return reply.code(ok ? 200 : 503).send({ ready: ok, leader: o.lease() !== undefined });
    },
  });
  api.route({
    ...routeOf(operations.getMetrics),
    handler: async (req, reply) => {
      if (o.metricsToken !== undefined) {
        const header = req.headers.authorization ?? "";
        const token = header.startsWith("Bearer ") ? header.slice("Bearer ".length).trim() : "";
        if (!constantTimeEqual(token, o.metricsToken)) {
          throw new AuthError("/metrics needs the metrics token (FLOTILLA_HUB_METRICS_TOKEN) as a bearer token");
        }
      }
      await gauges.refresh();
      return reply.type(o.metrics.registry.contentType).send(await o.metrics.registry.metrics());
    },
  });
  api.route({ ...routeOf(operations.getOpenApi), handler: async (req) => withServer(app.swagger(), req) });
  api.route({
    ...routeOf(operations.getHub),
    handler: async () => {
      const lease = await o.leases.currentLease();
      return {
        replica: o.replicaId,
        leader: o.lease() !== undefined,
        leaderReplica: lease?.holder ?? null,
        leaderToken: lease?.token ?? null,
        hubKeyId: o.hubKey.keyId,
        hubPublicKey: publicKeyToPem(o.hubKey.publicKey),
      };
    },
  });

  await app.register(registryRoutes(o.registry, ownership));
  await app.register(tokenRoutes(o.tokens));
  await app.register(auditRoutes(o.audit));
  await app.register(freezeRoutes(o.freezes));
  await app.register(
    statusRoutes({
      objects: o.objects,
      statuses: o.statuses,
      desired: o.desired,
      reports: o.reports,
      rollouts: o.rollouts,
      registry: o.registry,
      events: o.events,
      eventLog: o.eventLog,
      streams,
      eventsTokens: o.eventsTokens,
    }),
  );
  await app.register(
    rolloutRoutes({
      objects: o.objects,
      statuses: o.statuses,
      rollouts: o.rollouts,
      settings: o.settings,
      freezes: o.freezes,
      events: o.events,
      ownership,
    }),
  );
  await app.register(agentRoutes(o.agents));
  await app.register(receiverRoutes(o.receivers));
  await app.register(keyRoutes({ keys: o.hubKeys, objects: o.objects, statuses: o.statuses, events: o.events }));
  await app.register(webhookRoutes(o));
  await app.register(registrationRoutes({ registrations: o.registrations, failures }));
  await app.register(dashboardRoutes({ log: o.log }));
  return app;
}

/** Starts listening at `at` and returns the base URL clients reach it at (port 0 resolved). */
export async function serve(app: FastifyInstance, at: { host: string; port: number }): Promise<string> {
  const address = await app.listen({ host: at.host, port: at.port });
  return address.replace("://[::1]", "://localhost").replace("0.0.0.0", "127.0.0.1");
}
