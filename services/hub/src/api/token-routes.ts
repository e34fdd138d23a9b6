import { type Identity, operations, SESSION_COOKIE } from "@flotilla/api";
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Principal } from "../access/principal.js";
import type { TokenService } from "../access/tokens.js";
import { routeOf } from "./route.js";

/** The identity a principal shows its caller. */
function identityOf(p: Principal): Identity {
  return {
    tokenId: p.tokenId,
    role: p.role,
    ...(p.team ? { team: p.team } : {}),
    ...(p.expiresAtMs !== undefined ? { expiresAtMs: p.expiresAtMs } : {}),
  };
}

/** The session cookie's attributes: script-proof, same-site only, over HTTPS when the request came so. */
function cookieOptions(req: FastifyRequest) {
  return { path: "/", httpOnly: true, sameSite: "strict" as const, secure: req.protocol === "https" };
}

/** `GET /v1/whoami`, dashboard sessions, and minting, listing and revoking tokens (admin only, by their scope). */
export function tokenRoutes(tokens: TokenService): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();

    app.route({
      ...routeOf(operations.whoami),
      handler: async (req) => {
        const p = req.principal;
        if (!p) throw new Error("the access hook let a request through without a token");
        return identityOf(p);
      },
    });

    app.route({
      ...routeOf(operations.createSession),
      handler: async (req, reply) => {
        const p = req.principal;
        const token = req.bearer;
        if (!p || !token) throw new Error("the access hook let a request through without a token");
        // The cookie lives as long as the token; one without an expiry lasts the browser session.
        const maxAge =
          p.expiresAtMs !== undefined ? Math.max(0, Math.floor((p.expiresAtMs - Date.now()) / 1000)) : undefined;
        reply.setCookie(SESSION_COOKIE, token, { ...cookieOptions(req), ...(maxAge !== undefined ? { maxAge } : {}) });
        return identityOf(p);
      },
    });

    app.route({
      ...routeOf(operations.deleteSession),
      handler: async (req, reply) => {
        reply.clearCookie(SESSION_COOKIE, cookieOptions(req));
        return reply.code(204).send();
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
