import { DEFAULT_AUDIT_PAGE, operations } from "@flotilla/api";
import type { FastifyPluginAsync } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { ForbiddenError } from "../errors.js";
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
        const own = listedTeamOf(req);
        if (own !== undefined && team !== undefined && team !== own) {
          throw new ForbiddenError(
            `a token of team ${JSON.stringify(own)} reads only its team's audit entries; leave out team or ask for ${own}`,
          );
        }
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
