import fastifyStatic from "@fastify/static";
import { DASHBOARD_PATH, dashboardBuilt, dashboardRoot } from "@flotilla/dashboard";
import type { FastifyPluginAsync } from "fastify";
import type { Logger } from "pino";

/**
 * What the dashboard's pages may load: only this origin's scripts, styles and API, no inline
 * script, no frames. The API's answers are JSON; this applies to the dashboard's files.
 */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/**
 * The dashboard's static files at `/ui/` (from `@flotilla/dashboard`'s build), and `/` sending a
 * browser there. They hold no data, so they are public, like the probes; every piece of data
 * the dashboard shows comes from the API with the session's token and its scopes. These routes
 * are not operations of the contract: they are not the API and `/openapi.json` leaves them out.
 */
export function dashboardRoutes(o: { log: Logger; root?: string }): FastifyPluginAsync {
  const root = o.root ?? dashboardRoot;
  return async (app) => {
    if (!dashboardBuilt(root)) {
      o.log.warn({ root }, "the dashboard is not built (npm run build); /ui/ answers 404");
      return;
    }
    app.addHook("onSend", async (req, reply, payload) => {
      if (req.url.startsWith(DASHBOARD_PATH)) {
        reply.header("content-security-policy", DASHBOARD_CSP);
        reply.header("x-content-type-options", "nosniff");
        reply.header("referrer-policy", "no-referrer");
        // Hashed asset names never change content; index.html must be asked for again.
        reply.header(
          "cache-control",
          req.url.startsWith(`${DASHBOARD_PATH}assets/`) ? "public, max-age=31536000, immutable" : "no-cache",
        );
      }
      return payload;
    });
    await app.register(fastifyStatic, {
      root,
      prefix: DASHBOARD_PATH,
      wildcard: true,
      index: ["index.html"],
      redirect: true,
      // The hashed assets are served as they are; compressing them on the fly would cost CPU per request.
      preCompressed: false,
      serveDotFiles: false,
      decorateReply: false,
    });
    // Not an API operation: kept out of /openapi.json, as the static files are.
    app.get("/", { config: { public: true }, schema: { hide: true } }, async (_req, reply) =>
      reply.redirect(DASHBOARD_PATH),
    );
  };
}
