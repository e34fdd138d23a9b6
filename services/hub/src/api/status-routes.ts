import { operations } from "@flotilla/api";
import type { FastifyPluginAsync } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { EventsTokens } from "../access/events-token.js";
import { NotFoundError } from "../errors.js";
import { clusterView, type Registry } from "../registry/registry.js";
import { isTerminal } from "../rollout/index.js";
import { compareEventIds, type EventId, parseEventId } from "../status/event-ids.js";
import type { EventBus, EventLog, HubEvent } from "../status/events.js";
import { joinAppsOnClusters, summarizeFleet } from "../status/fleet.js";
import type { ClusterStatusStore, DesiredStore, ObjectReader, ReportStore, RolloutStore } from "../store.js";
import { routeOf } from "./route.js";
import type { OpenStream, StreamRegistry } from "./streams.js";

/** SSE comment sent this often so proxies keep an idle stream open. */
export const SSE_KEEPALIVE_MS = 15_000;

export interface StatusRoutesOptions {
  objects: ObjectReader;
  statuses: ClusterStatusStore;
  desired: DesiredStore;
  reports: ReportStore;
  rollouts: RolloutStore;
  registry: Registry;
  events: EventBus;
  /** Where a stream that reconnects with `Last-Event-ID` reads what it missed. */
  eventLog: EventLog;
  /** The open event streams: at most so many per token, ended when their token stops working. */
  streams: StreamRegistry;
  eventsTokens: EventsTokens;
}

/** Fleet, cluster and app status, and the SSE event stream. */
export function statusRoutes(o: StatusRoutesOptions): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();

    const statusesOf = (names: string[]) => o.statuses.getClusterStatuses(names);

    app.route({
      ...routeOf(operations.getFleetStatus),
      handler: async () => {
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
    });

    app.route({
      ...routeOf(operations.getCluster),
      handler: async (req) => {
        const record = await o.registry.getCluster(req.params.name);
        const [status, desired, reports] = await Promise.all([
          o.statuses.getClusterStatus(record.name),
          o.desired.listDesired({ cluster: record.name }),
          o.reports.listReports({ cluster: record.name }),
        ]);
        return {
          ...clusterView(record),
          status: status ?? { state: "Pending", changedAtMs: record.createdAtMs },
          apps: joinAppsOnClusters([record], desired, reports),
        };
      },
    });

    app.route({
      ...routeOf(operations.getAppStatus),
      handler: async (req) => {
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
    });

    app.route({
      ...routeOf(operations.createEventsToken),
      handler: async (req) => {
        const principal = req.principal;
        if (!principal) throw new Error("the access hook let an events token request through without a token");
        return o.eventsTokens.mint(principal);
      },
    });

    app.route({
      ...routeOf(operations.streamEvents),
      handler: async (req, reply) => {
        const principal = req.principal;
        if (!principal) throw new Error("the access hook let an event stream through without a token");
        o.streams.admit(principal);
        const wanted = req.query.types ? new Set(req.query.types.split(",")) : undefined;
        const header = req.headers["last-event-id"];
        // A browser's EventSource sends the header by itself when it reconnects.
        const resumeFrom: EventId | undefined =
          typeof header === "string" && header.trim() !== "" ? parseEventId(header) : undefined;
        reply.hijack();
        // The stream outlives any request timeout: it ends when the client goes, the token stops
        // working, or the server closes.
        req.raw.socket.setTimeout(0);
        const raw = reply.raw;
        raw.writeHead(200, {
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-cache",
          connection: "keep-alive",
          "x-accel-buffering": "no",
        });
        raw.write(": connected\n\n");
        let sent: EventId | undefined = resumeFrom;
        const send = (event: HubEvent, id: string): void => {
          if (raw.writableEnded) return;
          const parsed = parseEventId(id, "event id");
          // Live events that arrived while the log was replayed come again: send each once.
          if (sent && compareEventIds(parsed, sent) <= 0) return;
          sent = parsed;
          if (wanted && !wanted.has(event.type)) return;
          raw.write(`id: ${id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
        };
        // Subscribe first and hold live events back, so none falls between the replay and them.
        let held: [HubEvent, string][] | undefined = resumeFrom ? [] : undefined;
        const unsubscribe = o.events.subscribe((event, id) => {
          if (held) held.push([event, id]);
          else send(event, id);
        });
        const keepalive = setInterval(() => raw.write(": keepalive\n\n"), SSE_KEEPALIVE_MS);
        const stream: OpenStream = {
          principal,
          end: () => {
            clearInterval(keepalive);
            unsubscribe();
            o.streams.delete(stream);
            raw.end();
          },
        };
        o.streams.add(stream);
        req.raw.on("close", () => stream.end());
        if (resumeFrom) {
          try {
            const replay = await o.eventLog.replay(resumeFrom);
            if (!replay.complete) raw.write(": some events after the Last-Event-ID are no longer kept\n\n");
            for (const e of replay.events) {
              if (raw.writableEnded) break;
              send(e.event, e.id);
            }
          } catch (err) {
            req.log.warn({ err }, "cannot replay the event log; the stream goes on from now");
            raw.write(": the events missed could not be read; going on from now\n\n");
          }
          for (const [event, id] of held ?? []) send(event, id);
          held = undefined;
        }
      },
    });
  };
}
