import { operations, YAML_CONTENT_TYPES } from "@flotilla/api";
import type { FastifyPluginAsync } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Registry } from "../registry/registry.js";
import { routeOf } from "./route.js";

/** CRUD for clusters, teams, repos, apps and environments, and `POST /v1/apply`. */
export function registryRoutes(registry: Registry): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();

    app.addContentTypeParser([...YAML_CONTENT_TYPES], { parseAs: "string" }, (_req, body, done) => done(null, body));

    // ---- clusters ----
    app.route({
      ...routeOf(operations.listClusters),
      handler: async (req) => registry.listClusterPage(req.query),
    });
    app.route({
      ...routeOf(operations.createCluster),
      handler: async (req, reply) => {
        const { name, ...spec } = req.body;
        return reply.code(201).send(await registry.createCluster(name, spec));
      },
    });
    app.route({
      ...routeOf(operations.replaceCluster),
      handler: async (req) => registry.updateCluster(req.params.name, req.body),
    });
    app.route({
      ...routeOf(operations.deleteCluster),
      handler: async (req, reply) => {
        await registry.deleteCluster(req.params.name);
        return reply.code(204).send();
      },
    });

    // ---- teams, repos, apps, environments: one shape each ----
    const kinds = [
      {
        kind: "Team",
        ops: [
          operations.listTeams,
          operations.getTeam,
          operations.createTeam,
          operations.replaceTeam,
          operations.deleteTeam,
        ],
      },
      {
        kind: "Repo",
        ops: [
          operations.listRepos,
          operations.getRepo,
          operations.createRepo,
          operations.replaceRepo,
          operations.deleteRepo,
        ],
      },
      {
        kind: "App",
        ops: [
          operations.listApps,
          operations.getApp,
          operations.createApp,
          operations.replaceApp,
          operations.deleteApp,
        ],
      },
      {
        kind: "Environment",
        ops: [
          operations.listEnvironments,
          operations.getEnvironment,
          operations.createEnvironment,
          operations.replaceEnvironment,
          operations.deleteEnvironment,
        ],
      },
    ] as const;
    for (const { kind, ops } of kinds) {
      const [list, get, create, replace, remove] = ops;
      const read = (name: string) => (kind === "Repo" ? registry.getRepo(name) : registry.get(kind, name));
      app.route({
        ...routeOf(list),
        handler: async () => ({ items: kind === "Repo" ? await registry.listRepos() : await registry.list(kind) }),
      });
      app.route({ ...routeOf(get), handler: async (req) => read(req.params.name) });
      app.route({
        ...routeOf(create),
        handler: async (req, reply) => {
          const { name, ...rest } = req.body as { name: string };
          await registry.put(kind, name, rest as never, "create");
          return reply.code(201).send(await read(name));
        },
      });
      app.route({
        ...routeOf(replace),
        handler: async (req, reply) => {
          const action = await registry.put(kind, req.params.name, req.body as never, "upsert");
          return reply.code(action === "created" ? 201 : 200).send(await read(req.params.name));
        },
      });
      app.route({
        ...routeOf(remove),
        handler: async (req, reply) => {
          await registry.delete(kind, req.params.name);
          return reply.code(204).send();
        },
      });
    }

    app.route({
      ...routeOf(operations.apply),
      handler: async (req) => ({ results: await registry.apply(req.body) }),
    });
  };
}
