import { operations } from "@flotilla/api";
import type { FastifyPluginAsync } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { RegistrationRefusedError } from "../errors.js";
import type { Registrations } from "../registry/registration.js";
import { type AccessControlOptions, tooManyFailures } from "./access.js";
import { routeOf } from "./route.js";

/**
 * Registration tokens: minting one and dropping a cluster's outstanding ones (cluster writes,
 * scoped like the others) and
 * the agent's registration with it, which carries no bearer token. A refused registration counts
 * against the client's address as a failed authentication does, and an address over the limit
 * is refused before its token is looked at.
 */
export function registrationRoutes(o: {
  registrations: Registrations;
  failures: AccessControlOptions["failures"];
}): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();

    app.route({
      ...routeOf(operations.createRegistrationToken),
      handler: async (req, reply) => {
        const createdBy = req.principal?.tokenId;
        if (!createdBy) throw new Error("the access hook let a request through without a token");
        return reply.code(201).send(await o.registrations.mint(req.params.name, req.body.ttlSeconds, createdBy));
      },
    });

    app.route({
      ...routeOf(operations.revokeRegistrationTokens),
      handler: async (req) => {
        const by = req.principal?.tokenId;
        if (!by) throw new Error("the access hook let a request through without a token");
        return { cluster: req.params.name, revoked: await o.registrations.revokeTokens(req.params.name, by) };
      },
    });

    app.route({
      ...routeOf(operations.registerAgent),
      handler: async (req, reply) => {
        const before = await o.failures(req, { increment: false });
        if (before.isExceeded) throw tooManyFailures(before.ttlInSeconds);
        let outcome: Awaited<ReturnType<Registrations["register"]>>;
        try {
          outcome = await o.registrations.register(req.params.name, req.body, req.ip);
        } catch (err) {
          if (err instanceof RegistrationRefusedError) {
            const after = await o.failures(req);
            if (after.isExceeded) throw tooManyFailures(after.ttlInSeconds);
          }
          throw err;
        }
        await reply.code(200).send(outcome.registration);
        // The agent has its new JWT: its old user goes now, as after a rotation.
        const replaced = outcome.replacedUser;
        if (replaced) void o.registrations.revokeReplaced(req.params.name, replaced);
        return reply;
      },
    });
  };
}
