import { operations } from "@flotilla/api";
import type { FastifyPluginAsync } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Receivers } from "../notify/receivers.js";
import { routeOf } from "./route.js";

/** Deliveries one request answers at most. */
const DELIVERIES_LIMIT = 200;

/** Notification receivers and their delivery log. */
export function receiverRoutes(receivers: Receivers): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();
    app.route({ ...routeOf(operations.listReceivers), handler: async () => ({ items: await receivers.list() }) });
    app.route({ ...routeOf(operations.getReceiver), handler: async (req) => receivers.get(req.params.name) });
    app.route({
      ...routeOf(operations.replaceReceiver),
      handler: async (req, reply) => {
        const { view, created } = await receivers.put(req.params.name, req.body);
        return reply.code(created ? 201 : 200).send(view);
      },
    });
    app.route({
      ...routeOf(operations.deleteReceiver),
      handler: async (req, reply) => {
        await receivers.delete(req.params.name);
        return reply.code(204).send();
      },
    });
    app.route({
      ...routeOf(operations.listDeliveries),
      handler: async (req) => ({ items: await receivers.deliveries(req.params.name, DELIVERIES_LIMIT) }),
    });
  };
}
