import { DEFAULT_AUDIT_PAGE, operations } from "@flotilla/api";
import type { FastifyPluginAsync } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { AuditStore } from "../store.js";
import { listedTeamOf } from "./access.js";
import { routeOf } from "./route.js";

/** `GET /v1/audit`: the trail, newest first; a token with a team reads only its team's entries. */
export function auditRoutes(audit: AuditStore): FastifyPluginAsync {
  return async (fastify) => {
    fastify.withTypeProvider<ZodTypeProvider>().route({
      ...routeOf(operations.listAudit),
      handler: async (req) => {
        const { team, kind, object, since, limit } = req.query;
        // A token of a team asking for another team's was refused by its scope; asking for none,
        // it gets its own team's.
        const own = listedTeamOf(req);
        const items = await audit.list({
          ...((own ?? team) !== undefined ? { team: own ?? team } : {}),
          ...(kind ? { kind } : {}),
          ...(object ? { object } : {}),
          ...(since !== undefined ? { sinceMs: since } : {}),
          limit: limit ?? DEFAULT_AUDIT_PAGE,
        });
        return { items };
      },
    });
  };
}
