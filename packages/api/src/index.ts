/**
 * @flotilla/api — the hub's HTTP contract, declared once for the hub that serves it and the
 * clients that call it: zod schemas of every request, response, error and event body, the
 * resource specs and the rollout policy (with its selector grammar) they carry, and the table of
 * operations from which the hub registers its routes and generates `/openapi.json`, each with
 * the scope a token needs to call it (`access.ts`).
 *
 * Pure: schemas, types and pure functions only; no I/O.
 */
export * from "./access.js";
export * from "./agent-calls.js";
export * from "./audit.js";
export * from "./error-body.js";
export * from "./errors.js";
export * from "./events.js";
export * from "./freeze.js";
export * from "./gates.js";
export * from "./hub.js";
export * from "./labels.js";
export * from "./notifications.js";
export * from "./objects.js";
export * from "./operations.js";
export * from "./policy.js";
export * from "./registration.js";
export * from "./resources.js";
export * from "./rollout.js";
export * from "./selector.js";
export * from "./session.js";
export * from "./status.js";
export * from "./team-policy.js";
export * from "./tokens.js";
