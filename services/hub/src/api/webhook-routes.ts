import { operations } from "@flotilla/api";
import type { FastifyPluginAsync } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Logger } from "pino";
import { WebhookSignatureError } from "../errors.js";
import type { HubMetrics } from "../metrics.js";
import type { Registry } from "../registry/registry.js";
import type { EventBus } from "../status/events.js";
import type { ObjectReader } from "../store.js";
import { verifyWebhook } from "../tracking/webhook.js";
import { routeOf } from "./route.js";

/** Checked against for a repo that does not exist, so the answer takes as long as a real check. */
const UNKNOWN_REPO_SECRET = "flotilla-webhook-unknown-repo";

/**
 * `POST /v1/webhooks/git/:repo`: verified against the repo's webhook secret over the raw body
 * bytes, then a nudge makes the leader's tracker poll that repo at once. The payload itself is
 * not trusted for the new head: the tracker asks the Git server, so a replayed delivery can at
 * most cause one extra poll. An unknown repo gets the answer a bad signature gets (401, same
 * body), so the endpoint does not tell which repos exist.
 */
export function webhookRoutes(o: {
  objects: ObjectReader;
  registry: Registry;
  events: EventBus;
  metrics: HubMetrics;
  log: Logger;
}): FastifyPluginAsync {
  return async (fastify) => {
    // Raw bytes for every content type: the signature covers exactly what was sent.
    fastify.removeAllContentTypeParsers();
    fastify.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));

    fastify.withTypeProvider<ZodTypeProvider>().route({
      ...routeOf(operations.receiveGitWebhook),
      handler: async (req, reply) => {
        const name = req.params.repo;
        const repo = await o.objects.getObject("Repo", name);
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        if (!repo) {
          // Answered as a bad signature, after as much work: no enumeration of repo names.
          verifyWebhook(name, req.headers, body, UNKNOWN_REPO_SECRET, () => {});
          o.metrics.webhookDeliveries.inc({ result: "unknown_repo" });
          o.log.warn({ repo: name, reason: "no such repo" }, "webhook refused");
          throw new WebhookSignatureError(name, "no such repo");
        }
        const secrets = await o.registry.repoSecrets(repo);
        try {
          const provider = verifyWebhook(name, req.headers, body, secrets.webhookSecret);
          o.metrics.webhookDeliveries.inc({ result: "accepted" });
          o.log.info({ repo: name, provider }, "webhook accepted");
        } catch (err) {
          if (err instanceof WebhookSignatureError) {
            o.metrics.webhookDeliveries.inc({ result: "bad_signature" });
            o.log.warn({ repo: name, reason: err.reason }, "webhook refused");
          }
          throw err;
        }
        await o.events.nudge(name);
        return reply.code(202).send({ accepted: true, repo: name });
      },
    });
  };
}
