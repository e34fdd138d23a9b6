import fastifySwagger from "@fastify/swagger";
import { CLUSTER_STATES, operations } from "@flotilla/api";
import { publicKeyToPem, type SigningKey } from "@flotilla/proto";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from "fastify";
import { validatorCompiler, type ZodTypeProvider } from "fastify-type-provider-zod";
import type { Logger } from "pino";
import { AuthError } from "../errors.js";
import type { HubMetrics } from "../metrics.js";
import type { Registry } from "../registry/registry.js";
import type { EventBus } from "../status/events.js";
import type {
  ClusterStatusStore,
  DesiredStore,
  Lease,
  LeaseStore,
  ObjectReader,
  ReportStore,
  RolloutStore,
  SettingsStore,
} from "../store.js";
import { constantTimeEqual } from "../tracking/webhook.js";
import { sendError } from "./errors.js";
import { openApiOptions, withServer } from "./openapi.js";
import { registryRoutes } from "./registry-routes.js";
import { rolloutRoutes } from "./rollout-routes.js";
import { routeOf } from "./route.js";
import { contractSerializerCompiler } from "./serializer.js";
import { statusRoutes } from "./status-routes.js";
import { webhookRoutes } from "./webhook-routes.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** Served without the bearer token (health, metrics, webhooks with their own signature). */
    public?: boolean;
  }
}

/** Largest request body: an apply of a big fleet file, or a large push webhook. */
export const BODY_LIMIT_BYTES = 4 * 1024 * 1024;

export interface ApiOptions {
  objects: ObjectReader;
  statuses: ClusterStatusStore;
  desired: DesiredStore;
  reports: ReportStore;
  leases: LeaseStore;
  rollouts: RolloutStore;
  settings: SettingsStore;
  registry: Registry;
  events: EventBus;
  metrics: HubMetrics;
  log: Logger;
  adminToken: string;
  hubKey: SigningKey;
  replicaId: string;
  /** This replica's lease while it leads. */
  lease: () => Lease | undefined;
  /** True when Redis and NATS answer. */
  ready: () => Promise<boolean>;
}

/**
 * The HTTP API v1: the operations of `@flotilla/api`, each route registered from its entry there
 * (Fastify with zod schemas → OpenAPI 3 at `/openapi.json`). Every route needs
 * `Authorization: Bearer <admin token>` except `/healthz`, `/readyz`, `/metrics` and the Git
 * webhook, which carries its own signature. A response body its schema does not describe
 * fails with 500 and a log line (see serializer.ts).
 */
export async function buildApi(o: ApiOptions): Promise<FastifyInstance> {
  const streams = new Set<{ end(): void }>();
  const app = Fastify({
    loggerInstance: o.log as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    forceCloseConnections: true,
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

  app.addHook("onRequest", async (req) => {
    if (req.routeOptions.config?.public) return;
    const header = req.headers.authorization ?? "";
    const token = header.startsWith("Bearer ") ? header.slice("Bearer ".length).trim() : "";
    if (!token || !constantTimeEqual(token, o.adminToken)) {
      throw new AuthError("missing or wrong bearer token: send Authorization: Bearer <admin token>");
    }
  });
  app.addHook("onResponse", async (req, reply) => {
    o.metrics.apiDuration.observe(
      { method: req.method, route: req.routeOptions.url ?? "unmatched", status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
  app.addHook("preClose", async () => {
    for (const s of [...streams]) s.end();
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
    handler: async (_req, reply) => {
      const clusters = await o.objects.listObjects("Cluster");
      const statuses = await o.statuses.getClusterStatuses(clusters.map((c) => c.name));
      const counts = Object.fromEntries(CLUSTER_STATES.map((s) => [s, 0])) as Record<string, number>;
      for (const c of clusters) {
        const state = statuses.get(c.name)?.state ?? "Pending";
        counts[state] = (counts[state] ?? 0) + 1;
      }
      for (const [state, n] of Object.entries(counts)) o.metrics.clusters.set({ state }, n);
      const byState = new Map<string, number>();
      for (const r of await o.rollouts.list({})) byState.set(r.state, (byState.get(r.state) ?? 0) + 1);
      o.metrics.rollouts.reset();
      for (const [state, n] of byState) o.metrics.rollouts.set({ state }, n);
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

  await app.register(registryRoutes(o.registry));
  await app.register(
    statusRoutes({
      objects: o.objects,
      statuses: o.statuses,
      desired: o.desired,
      reports: o.reports,
      rollouts: o.rollouts,
      registry: o.registry,
      events: o.events,
      streams,
    }),
  );
  await app.register(
    rolloutRoutes({
      objects: o.objects,
      statuses: o.statuses,
      rollouts: o.rollouts,
      settings: o.settings,
      events: o.events,
    }),
  );
  await app.register(webhookRoutes(o));
  return app;
}

/** Starts listening at `at` and returns the base URL clients reach it at (port 0 resolved). */
export async function serve(app: FastifyInstance, at: { host: string; port: number }): Promise<string> {
  const address = await app.listen({ host: at.host, port: at.port });
  return address.replace("://[::1]", "://localhost").replace("0.0.0.0", "127.0.0.1");
}
