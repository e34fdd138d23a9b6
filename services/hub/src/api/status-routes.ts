import type { FastifyPluginAsync } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { NotFoundError } from "../errors.js";
import type { Registry } from "../registry/registry.js";
import { isTerminal } from "../rollout/index.js";
import type { EventBus, HubEventType } from "../status/events.js";
import { joinAppsOnClusters, summarizeFleet } from "../status/fleet.js";
import type { ClusterStatusStore, DesiredStore, ObjectReader, ReportStore, RolloutStore } from "../store.js";

/** SSE comment sent this often so proxies keep an idle stream open. */
export const SSE_KEEPALIVE_MS = 15_000;

const EVENT_TYPES = [
  "report",
  "heartbeat",
  "desired",
  "cluster-state",
  "registry",
  "rollout",
] as const satisfies readonly HubEventType[];

export interface StatusRoutesOptions {
  objects: ObjectReader;
  statuses: ClusterStatusStore;
  desired: DesiredStore;
  reports: ReportStore;
  rollouts: RolloutStore;
  registry: Registry;
  events: EventBus;
  /** Streams to end when the server closes. */
  streams: Set<{ end(): void }>;
}

/** Fleet, cluster and app status, and the SSE event stream. */
export function statusRoutes(o: StatusRoutesOptions): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();

    const statusesOf = (names: string[]) => o.statuses.getClusterStatuses(names);

    app.get(
      "/v1/fleet/status",
      { schema: { tags: ["status"], summary: "Clusters by state and apps by sync and health, per environment" } },
      async () => {
        const [clusters, desired, reports, rollouts] = await Promise.all([
          o.objects.listObjects("Cluster"),
          o.desired.listDesired({}),
          o.reports.listReports({}),
          o.rollouts.list({}),
        ]);
        const statuses = await statusesOf(clusters.map((c) => c.name));
        const inFlight = rollouts.filter((r) => !isTerminal(r.state));
        return {
          ...summarizeFleet(clusters, statuses, joinAppsOnClusters(clusters, desired, reports)),
          rollouts: {
            inFlight: inFlight.length,
            inFlightIds: inFlight.map((r) => r.id),
          },
        };
      },
    );

    app.get(
      "/v1/clusters/:name",
      {
        schema: {
          tags: ["clusters", "status"],
          summary: "A cluster, its state and its apps with revision, sync, health and last report",
          params: z.object({ name: z.string() }),
        },
      },
      async (req) => {
        const record = await o.registry.getCluster(req.params.name);
        const view = (await o.registry.listClusters()).find((c) => c.name === record.name);
        const [status, desired, reports] = await Promise.all([
          o.statuses.getClusterStatus(record.name),
          o.desired.listDesired({ cluster: record.name }),
          o.reports.listReports({ cluster: record.name }),
        ]);
        return {
          ...view,
          status: status ?? { state: "Pending", changedAtMs: record.createdAtMs },
          apps: joinAppsOnClusters([record], desired, reports),
        };
      },
    );

    app.get(
      "/v1/apps/:app/status",
      {
        schema: {
          tags: ["apps", "status"],
          summary: "Per-cluster matrix of one app: desired and reported revision, sync and health",
          params: z.object({ app: z.string() }),
        },
      },
      async (req) => {
        const record = await o.objects.getObject("App", req.params.app);
        if (!record) throw new NotFoundError("app", req.params.app);
        const [clusters, desired, reports, rollouts] = await Promise.all([
          o.objects.listObjects("Cluster"),
          o.desired.listDesired({ app: record.name }),
          o.reports.listReports({ app: record.name }),
          o.rollouts.list({ app: record.name }),
        ]);
        const statuses = await statusesOf(clusters.map((c) => c.name));
        // Newest rollout per environment: what is rolling out there now, or what did last.
        const latest = new Map<string, (typeof rollouts)[number]>();
        for (const r of rollouts) if (!latest.has(r.environment)) latest.set(r.environment, r);
        return {
          app: record.name,
          repo: record.repo,
          rollouts: [...latest.values()].map((r) => ({
            id: r.id,
            environment: r.environment,
            ...(r.from ? { from: r.from } : {}),
            to: r.to,
            changed: r.changed,
            state: r.state,
            wave: r.waves.find((w) => w.status !== "succeeded")?.name ?? null,
            ...(r.failure ? { failure: r.failure.reason } : {}),
          })),
          clusters: joinAppsOnClusters(clusters, desired, reports).map((r) => ({
            ...r,
            clusterState: statuses.get(r.cluster)?.state ?? "Pending",
          })),
        };
      },
    );

    app.get(
      "/v1/events",
      {
        schema: {
          tags: ["status"],
          summary:
            "Server-Sent Events of reports, heartbeats, desired states, cluster states, registry changes and rollouts",
          querystring: z.object({
            types: z
              .string()
              .optional()
              .describe(`comma-separated subset of ${EVENT_TYPES.join(", ")}`)
              .refine((t) => !t || t.split(",").every((x) => (EVENT_TYPES as readonly string[]).includes(x)), {
                message: `must be a comma-separated subset of ${EVENT_TYPES.join(", ")}`,
              }),
          }),
        },
      },
      async (req, reply) => {
        const wanted = req.query.types ? new Set(req.query.types.split(",")) : undefined;
        reply.hijack();
        const raw = reply.raw;
        raw.writeHead(200, {
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-cache",
          connection: "keep-alive",
          "x-accel-buffering": "no",
        });
        raw.write(": connected\n\n");
        let id = 0;
        const unsubscribe = o.events.subscribe((event) => {
          if (wanted && !wanted.has(event.type)) return;
          raw.write(`id: ${++id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
        });
        const keepalive = setInterval(() => raw.write(": keepalive\n\n"), SSE_KEEPALIVE_MS);
        const stream = {
          end: () => {
            clearInterval(keepalive);
            unsubscribe();
            o.streams.delete(stream);
            raw.end();
          },
        };
        o.streams.add(stream);
        req.raw.on("close", () => stream.end());
      },
    );
  };
}
