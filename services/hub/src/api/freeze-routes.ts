import { type Freeze, operations } from "@flotilla/api";
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { describePrincipal } from "../access/principal.js";
import { NotFoundError } from "../errors.js";
import type { FreezeStore } from "../store.js";
import { routeOf } from "./route.js";

/** Who set a freeze, as held rollouts name them. */
function setter(req: FastifyRequest): string {
  return req.principal ? describePrincipal(req.principal) : "unknown";
}

/**
 * `GET /v1/freezes`, `PUT|DELETE /v1/freeze` (the fleet) and `PUT|DELETE
 * /v1/environments/:env/freeze`. A freeze is only a record: the leader reads every freeze at
 * each step and holds the rollouts it covers (see the rollout engine's holds). Every change is in
 * the audit trail, as every write.
 */
export function freezeRoutes(freezes: FreezeStore): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();

    app.route({
      ...routeOf(operations.listFreezes),
      handler: async () => ({ items: await freezes.list() }),
    });

    app.route({
      ...routeOf(operations.freezeFleet),
      handler: async (req) => {
        const freeze: Freeze = { scope: "fleet", reason: req.body.reason, by: setter(req), atMs: Date.now() };
        await freezes.put(freeze);
        req.log.warn({ freeze }, "fleet frozen");
        return freeze;
      },
    });

    app.route({
      ...routeOf(operations.unfreezeFleet),
      handler: async (req, reply) => {
        if (!(await freezes.delete(undefined))) throw new NotFoundError("freeze", "fleet");
        req.log.warn({ by: setter(req) }, "fleet unfrozen");
        return reply.code(204).send();
      },
    });

    app.route({
      ...routeOf(operations.freezeEnvironment),
      handler: async (req) => {
        const freeze: Freeze = {
          scope: "environment",
          environment: req.params.env,
          reason: req.body.reason,
          ...(req.body.selector !== undefined ? { selector: req.body.selector } : {}),
          by: setter(req),
          atMs: Date.now(),
        };
        await freezes.put(freeze);
        req.log.warn({ freeze, environment: req.params.env }, "environment frozen");
        return freeze;
      },
    });

    app.route({
      ...routeOf(operations.unfreezeEnvironment),
      handler: async (req, reply) => {
        const env = req.params.env;
        if (!(await freezes.delete(env))) throw new NotFoundError("freeze of environment", env);
        req.log.warn({ by: setter(req), environment: env }, "environment unfrozen");
        return reply.code(204).send();
      },
    });
  };
}
