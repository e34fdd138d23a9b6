import type { Operation } from "@flotilla/api";

/**
 * Fastify's route options for one operation of the contract: its method, its path in Fastify's
 * syntax (`/v1/clusters/{name}` → `/v1/clusters/:name`), its schema (from which the type provider
 * types the handler and `@fastify/swagger` writes the OpenAPI operation), and whether it is
 * public: an operation the contract documents with no security needs no bearer token.
 */
export function routeOf<O extends Operation>(
  op: O,
): { method: O["method"]; url: string; schema: O["schema"]; config: { public: boolean } } {
  return {
    method: op.method,
    url: op.path.replace(/\{(\w+)\}/g, ":$1"),
    schema: op.schema,
    config: { public: op.schema.security?.length === 0 },
  };
}
