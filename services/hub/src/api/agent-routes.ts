import { operations } from "@flotilla/api";
import type { FastifyPluginAsync } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { AgentCalls } from "../nats/agent-calls.js";
import { routeOf } from "./route.js";

/** `app diff` and `app refresh`: questions the hub puts to an app's agents for the operator. */
export function agentRoutes(agents: AgentCalls): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();
    app.route({ ...routeOf(operations.diffApp), handler: async (req) => agents.diff(req.params.app) });
    app.route({ ...routeOf(operations.refreshApp), handler: async (req) => agents.refresh(req.params.app) });
  };
}
