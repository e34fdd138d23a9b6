import { type Operation, type OperationScope, PUBLIC_SCOPE } from "@flotilla/api";

/**
 * Fastify's route options for one operation of the contract: its method, its path in Fastify's
 * syntax (`/v1/clusters/{name}` → `/v1/clusters/:name`), its schema (from which the type provider
 * types the handler and `@fastify/swagger` writes the OpenAPI operation), and its scope and id,
 * which the access hooks enforce and the audit trail records (see access.ts).
 */
export function routeOf<O extends Operation>(
  op: O,
): {
  method: O["method"];
  url: string;
  schema: O["schema"];
  config: { public: boolean; scope: OperationScope; operationId: string };
} {
  return {
    method: op.method,
    url: op.path.replace(/\{(\w+)\}/g, ":$1"),
    schema: op.schema,
    config: { public: op.scope === PUBLIC_SCOPE, scope: op.scope, operationId: op.schema.operationId },
  };
}
