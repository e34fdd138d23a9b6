import { operations, YAML_CONTENT_TYPES } from "@flotilla/api";
import type { FastifyPluginAsync } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Ownership } from "../access/ownership.js";
import type { Registry } from "../registry/registry.js";
import { type AuditRecord, listedTeamOf } from "./access.js";
import { routeOf } from "./route.js";

/**
 * CRUD for clusters, teams, repos, apps and environments, and `POST /v1/apply`. A list of repos
 * or apps holds only the objects of the token's team when its role reaches only that team.
 */
export function registryRoutes(registry: Registry, ownership: Ownership): FastifyPluginAsync {
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
      ...routeOf(operations.rotateClusterCredentials),
      handler: async (req, reply) => {
        const requested = await registry.requestRotation(req.params.name);
        return reply.code(202).send({ name: req.params.name, rotation: requested ? "requested" : "none" });
      },
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
    /** The objects of `kind` a list answers: for a token limited to `team`, only that team's. */
    const listed = async (
      kind: "Team" | "Repo" | "App" | "Environment",
      team: string | undefined,
    ): Promise<unknown[]> => {
      if (kind === "Repo") {
        const repos = await registry.listRepos();
        return team === undefined ? repos : repos.filter((r) => r.team === team);
      }
      if (kind === "App" && team !== undefined) {
        const [apps, teams] = await Promise.all([registry.list("App"), ownership.appTeams()]);
        return apps.filter((a) => teams.get(a.name) === team);
      }
      return registry.list(kind);
    };

    for (const { kind, ops } of kinds) {
      const [list, get, create, replace, remove] = ops;
      const read = (name: string) => (kind === "Repo" ? registry.getRepo(name) : registry.get(kind, name));
      // One handler for four kinds: the route's schema checks each answer at run time.
      app.route({
        ...routeOf(list),
        handler: async (req) => ({ items: await listed(kind, listedTeamOf(req)) }) as never,
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
      handler: async (req) => {
        const results = await registry.apply(req.body);
        // What the file changed, one audit entry per object, its spec digested without secrets.
        const docs = new Map((req.access?.documents ?? []).map((d) => [`${d.kind}/${d.name}`, d]));
        const changed = results.filter((r) => r.action !== "unchanged");
        const audit = await Promise.all(
          changed.map(async (r): Promise<AuditRecord> => {
            const doc = docs.get(`${r.kind}/${r.name}`);
            const team =
              doc?.kind === "Repo"
                ? doc.spec.team
                : doc?.kind === "App"
                  ? (await ownership.ownerOf("Repo", doc.spec.repo)).team
                  : doc?.kind === "Team"
                    ? doc.name
                    : undefined;
            return { kind: r.kind, object: r.name, detail: r.action, ...(team ? { team } : {}), change: doc?.spec };
          }),
        );
        req.access = { ...req.access, audit };
        return { results };
      },
    });
  };
}
