import { operations } from "@flotilla/api";
import type { FastifyPluginAsync } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { TokenService } from "../access/tokens.js";
import { routeOf } from "./route.js";

/** `GET /v1/whoami`, and minting, listing and revoking tokens (admin only, by their scope). */
export function tokenRoutes(tokens: TokenService): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();

    app.route({
      ...routeOf(operations.whoami),
      handler: async (req) => {
        const p = req.principal;
        if (!p) throw new Error("the access hook let a request through without a token");
        return {
          tokenId: p.tokenId,
          role: p.role,
          ...(p.team ? { team: p.team } : {}),
          ...(p.expiresAtMs !== undefined ? { expiresAtMs: p.expiresAtMs } : {}),
        };
      },
    });

    app.route({
      ...routeOf(operations.createToken),
      handler: async (req, reply) => {
        const p = req.principal;
        if (!p) throw new Error("the access hook let a request through without a token");
        const minted = await tokens.mint(req.body, p);
        const { token: _secret, ...view } = minted;
        req.access = {
          ...req.access,
          audit: [{ kind: "Token", object: minted.id, ...(minted.team ? { team: minted.team } : {}), change: view }],
        };
        return reply.code(201).send(minted);
      },
    });

    app.route({
      ...routeOf(operations.listTokens),
      handler: async () => ({ items: await tokens.list() }),
    });

    app.route({
      ...routeOf(operations.revokeToken),
      handler: async (req, reply) => {
        const view = await tokens.get(req.params.id);
        await tokens.revoke(req.params.id);
        req.access = {
          ...req.access,
          audit: [
            {
              kind: "Token",
              object: req.params.id,
              ...(view?.team ? { team: view.team } : {}),
              change: { revoked: req.params.id },
            },
          ],
        };
        return reply.code(204).send();
      },
    });
  };
}
