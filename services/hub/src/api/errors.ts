import type { ErrorBody } from "@flotilla/api";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";
import {
  AuthError,
  ConflictError,
  ForbiddenError,
  HubError,
  NotFoundError,
  NotLeaderError,
  ResponseContractError,
  TooManyRequestsError,
  ValidationError,
  WebhookSignatureError,
} from "../errors.js";
import { PolicyError, RolloutCommandError, RolloutInputError } from "../rollout/index.js";

/**
 * Maps hub and rollout-engine errors to HTTP statuses; the only place that does. Bad input
 * (and a bad policy) 400 with the field, unknown 404, conflict (and a command the rollout's
 * state refuses) 409, bad token or signature 401, a scope the token lacks 403, too many failed
 * authentications or streams 429, not leader 503 (retry), else 500 without internals (a body
 * the route's schema does not describe among them: logged, as a bug).
 */
export function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (hasZodFastifySchemaValidationErrors(error)) {
    const issue = error.validation[0];
    const where = error.validationContext === "body" ? "" : `${error.validationContext}.`;
    const path = String(issue?.instancePath ?? "")
      .replace(/^\//, "")
      .replaceAll("/", ".");
    const field = `${where}${path}`.replace(/\.$/, "") || String(error.validationContext ?? "body");
    const reason = issue?.message ?? "is invalid";
    return reply
      .code(400)
      .send({ error: "invalid_request", message: `${field}: ${reason}`, field, reason } satisfies ErrorBody);
  }
  if (error instanceof ValidationError) {
    return reply.code(400).send({
      error: "invalid_request",
      message: error.message,
      field: error.field,
      reason: error.reason,
      ...(error.where ? { document: error.where } : {}),
    } satisfies ErrorBody);
  }
  if (error instanceof PolicyError) {
    return reply.code(400).send({
      error: "invalid_request",
      message: error.message,
      field: error.field,
      reason: error.reason,
    } satisfies ErrorBody);
  }
  if (error instanceof RolloutInputError)
    return reply.code(400).send({ error: "invalid_request", message: error.message, reason: error.reason });
  if (error instanceof RolloutCommandError)
    return reply.code(409).send({ error: "conflict", message: error.message, reason: error.reason });
  if (error instanceof NotFoundError) return reply.code(404).send({ error: "not_found", message: error.message });
  if (error instanceof ConflictError) return reply.code(409).send({ error: "conflict", message: error.message });
  if (error instanceof AuthError) return reply.code(401).send({ error: "unauthorized", message: error.message });
  if (error instanceof ForbiddenError) return reply.code(403).send({ error: "forbidden", message: error.message });
  if (error instanceof TooManyRequestsError) {
    if (error.retryAfterSeconds !== undefined) reply.header("retry-after", String(error.retryAfterSeconds));
    return reply.code(429).send({ error: error.code, message: error.message });
  }
  if (error instanceof WebhookSignatureError) {
    return reply.code(401).send({ error: "bad_signature", message: error.message });
  }
  if (error instanceof NotLeaderError) {
    return reply.code(503).send({ error: "not_leader", message: `${error.message}; retry` });
  }
  const fe = error as FastifyError;
  if (
    !(error instanceof HubError) &&
    typeof fe.statusCode === "number" &&
    fe.statusCode >= 400 &&
    fe.statusCode < 500
  ) {
    return reply.code(fe.statusCode).send({ error: fe.code ?? "bad_request", message: fe.message });
  }
  request.log.error({ err: error }, "request failed");
  const explained = error instanceof HubError && !(error instanceof ResponseContractError);
  return reply.code(500).send({
    error: "internal",
    message: explained ? error.message : "internal error; see the hub logs",
  } satisfies ErrorBody);
}
