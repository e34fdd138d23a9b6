import { operations } from "@flotilla/api";
import type { FastifyPluginAsync } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { HubKeys } from "../keys/hub-keys.js";
import type { ClusterKeyFacts, KeySetStatus } from "../keys/rotation.js";
import type { EventBus } from "../status/events.js";
import type { ClusterStatusStore, ObjectReader } from "../store.js";
import { routeOf } from "./route.js";

export interface KeyRoutesOptions {
  keys: HubKeys;
  objects: Pick<ObjectReader, "listObjects">;
  statuses: Pick<ClusterStatusStore, "getClusterStatuses">;
  events: EventBus;
}

/** Every registered cluster with its liveness and the key set version its last heartbeat named. */
export async function clusterKeyFacts(o: Omit<KeyRoutesOptions, "keys" | "events">): Promise<ClusterKeyFacts[]> {
  const clusters = await o.objects.listObjects("Cluster");
  const statuses = await o.statuses.getClusterStatuses(clusters.map((c) => c.name));
  return clusters.map((c) => {
    const s = statuses.get(c.name);
    return {
      name: c.name,
      state: s?.state ?? "Pending",
      ...(s?.hubKeySetVersion !== undefined ? { hubKeySetVersion: s.hubKeySetVersion } : {}),
    };
  });
}

/** What the audit entry of a step records: versions and key ids, never a key. */
function auditOf(status: KeySetStatus, detail: string) {
  return [
    {
      detail,
      change: {
        version: status.version,
        currentKeyId: status.currentKeyId,
        keyIds: status.keyIds,
        retiredKeyIds: status.retiredKeyIds,
      },
    },
  ];
}

/** `GET /v1/hub/keys` and the rotation steps (`flotilla hub rotate-key`). */
export function keyRoutes(o: KeyRoutesOptions): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();
    app.route({
      ...routeOf(operations.getHubKeys),
      handler: async () => o.keys.status(await clusterKeyFacts(o)),
    });
    app.route({
      ...routeOf(operations.startKeyRotation),
      handler: async (req) => {
        const status = await o.keys.start(await clusterKeyFacts(o), o.events);
        req.access = { ...req.access, audit: auditOf(status, `announced key ${status.nextKeyId}`) };
        return status;
      },
    });
    app.route({
      ...routeOf(operations.finishKeyRotation),
      handler: async (req) => {
        const facts = await clusterKeyFacts(o);
        const before = o.keys.status(facts);
        const force = req.body?.force === true;
        const status = await o.keys.finish(facts, force, o.events);
        const forced = force && before.lagging.length > 0 ? ` (forced past ${before.lagging.length} lagging)` : "";
        req.access = {
          ...req.access,
          audit: auditOf(status, `signing with ${status.currentKeyId}, retired ${before.currentKeyId}${forced}`),
        };
        return status;
      },
    });
  };
}
