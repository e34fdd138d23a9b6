import type { FastifyPluginAsync } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { Registry } from "../registry/registry.js";
import {
  appSpecSchema,
  clusterSpecSchema,
  environmentSpecSchema,
  nameSchema,
  repoSpecSchema,
  teamSpecSchema,
} from "../registry/resources.js";
import { CLUSTER_STATES } from "../store.js";

const nameParams = z.object({ name: nameSchema });
const anyParams = z.object({ name: z.string() });

const bootstrapSchema = z
  .object({
    cluster: z.string(),
    natsUrl: z.string(),
    natsCreds: z.string().describe("NATS creds file text; empty when NATS runs without auth"),
    hubPublicKey: z.string().describe("SPKI PEM of the hub's signing key"),
    agentSigningKey: z.string().describe("PKCS#8 PEM of the agent's Ed25519 key; shown only once"),
  })
  .describe("Bootstrap bundle for the cluster's agent (FLOTILLA_BOOTSTRAP)");

const clusterListSchema = z.object({
  items: z.array(
    z.object({
      name: z.string(),
      labels: z.record(z.string(), z.string()),
      agentKeyId: z.string().describe("key id of the agent's Ed25519 public key"),
      hasNatsCredentials: z.boolean(),
      createdAtMs: z.number(),
      status: z
        .object({
          state: z.enum(CLUSTER_STATES).describe("Pending until the first heartbeat, then Ready or Offline"),
          lastHeartbeatMs: z.number().optional().describe("hub clock of the last verified heartbeat"),
          agentVersion: z.string().optional().describe("agent version from the last heartbeat"),
        })
        .describe("liveness, as in GET /v1/clusters/{name}"),
    }),
  ),
});

/** CRUD for clusters, teams, repos, apps and environments, and `POST /v1/apply`. */
export function registryRoutes(registry: Registry): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();

    app.addContentTypeParser(
      ["application/yaml", "application/x-yaml", "text/yaml", "text/plain"],
      { parseAs: "string" },
      (_req, body, done) => done(null, body),
    );

    // ---- clusters ----
    app.get(
      "/v1/clusters",
      {
        schema: {
          tags: ["clusters"],
          summary: "List clusters with their state, last heartbeat and agent version",
          response: { 200: clusterListSchema },
        },
      },
      async () => ({ items: await registry.listClustersWithStatus() }),
    );
    app.post(
      "/v1/clusters",
      {
        schema: {
          tags: ["clusters"],
          summary: "Register a cluster; returns its agent's bootstrap bundle",
          body: clusterSpecSchema.extend({ name: nameSchema }),
          response: { 201: bootstrapSchema },
        },
      },
      async (req, reply) => {
        const { name, ...spec } = req.body;
        return reply.code(201).send(await registry.createCluster(name, spec));
      },
    );
    app.put(
      "/v1/clusters/:name",
      {
        schema: {
          tags: ["clusters"],
          summary: "Replace a cluster's labels",
          params: nameParams,
          body: clusterSpecSchema,
        },
      },
      async (req) => registry.updateCluster(req.params.name, req.body),
    );
    app.delete(
      "/v1/clusters/:name",
      { schema: { tags: ["clusters"], summary: "Deregister a cluster and revoke its credentials", params: anyParams } },
      async (req, reply) => {
        await registry.deleteCluster(req.params.name);
        return reply.code(204).send();
      },
    );

    // ---- teams, repos, apps, environments: one shape each ----
    const kinds = [
      { kind: "Team", path: "teams", spec: teamSpecSchema },
      { kind: "Repo", path: "repos", spec: repoSpecSchema },
      { kind: "App", path: "apps", spec: appSpecSchema },
      { kind: "Environment", path: "environments", spec: environmentSpecSchema },
    ] as const;
    for (const { kind, path, spec } of kinds) {
      const tags = [path];
      const read = (name: string) => (kind === "Repo" ? registry.getRepo(name) : registry.get(kind, name));
      app.get(`/v1/${path}`, { schema: { tags, summary: `List ${path}` } }, async () => ({
        items: kind === "Repo" ? await registry.listRepos() : await registry.list(kind),
      }));
      app.get(
        `/v1/${path}/:name`,
        { schema: { tags, summary: `Get one ${kind.toLowerCase()}`, params: anyParams } },
        async (req) => read(req.params.name),
      );
      app.post(
        `/v1/${path}`,
        {
          schema: {
            tags,
            summary: `Create a ${kind.toLowerCase()} (409 if it exists)`,
            body: (spec as z.ZodObject).extend({ name: nameSchema }),
          },
        },
        async (req, reply) => {
          const { name, ...rest } = req.body as { name: string };
          await registry.put(kind, name, rest as never, "create");
          return reply.code(201).send(await read(name));
        },
      );
      app.put(
        `/v1/${path}/:name`,
        { schema: { tags, summary: `Create or replace a ${kind.toLowerCase()}`, params: nameParams, body: spec } },
        async (req, reply) => {
          const action = await registry.put(kind, req.params.name, req.body as never, "upsert");
          return reply.code(action === "created" ? 201 : 200).send(await read(req.params.name));
        },
      );
      app.delete(
        `/v1/${path}/:name`,
        { schema: { tags, summary: `Delete a ${kind.toLowerCase()}`, params: anyParams } },
        async (req, reply) => {
          await registry.delete(kind, req.params.name);
          return reply.code(204).send();
        },
      );
    }

    app.post(
      "/v1/apply",
      {
        schema: {
          tags: ["apply"],
          summary: "Apply a multi-document YAML of Cluster, Team, Repo, App and Environment documents",
          description:
            "Validates every document first (400 naming the document and field; nothing is written), then applies in dependency order. Idempotent: objects already as declared are reported unchanged.",
          body: z.string().min(1, "send a YAML body with Content-Type: application/yaml"),
        },
      },
      async (req) => ({ results: await registry.apply(req.body) }),
    );
  };
}
