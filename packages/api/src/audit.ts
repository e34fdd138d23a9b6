/**
 * The audit trail: one entry per change made through the API (and per change an apply made, and
 * per write refused for its scope), naming who, what, which object and a digest of the change.
 * Entries never hold secrets: the digest is taken after every secret field is removed.
 */
import { z } from "zod";
import { OBJECT_KINDS } from "./access.js";
import { roleSchema } from "./tokens.js";

/** Most entries one `GET /v1/audit` answers. */
export const MAX_AUDIT_PAGE = 1000;
/** Entries `GET /v1/audit` answers when no limit is given. */
export const DEFAULT_AUDIT_PAGE = 100;

/** Who made a change: the token's id, role and team. */
export const actorSchema = z
  .object({
    tokenId: z.string(),
    role: roleSchema,
    team: z.string().optional(),
  })
  .meta({ id: "Actor" });
export type Actor = z.output<typeof actorSchema>;

/** One entry of the audit trail. */
export const auditEntrySchema = z
  .object({
    id: z.string().describe("the entry's id in the trail, ordered by time"),
    atMs: z.number(),
    actor: actorSchema,
    action: z.string().describe("the operation (operationId), e.g. createCluster, commandRollout, apply"),
    detail: z
      .string()
      .optional()
      .describe("what the operation did, when it says more: the rollout command, or what an apply did"),
    kind: z
      .enum(OBJECT_KINDS)
      .optional()
      .describe("the kind of object; absent for an apply refused before its documents were read"),
    object: z
      .string()
      .optional()
      .describe("the object's name (a rollout's or token's id); absent when a refused request named none"),
    team: z.string().optional().describe("the team that owns the object, when one does"),
    status: z.number().int().describe("the HTTP status answered: 2xx done, 403 refused for its scope"),
    digest: z.string().optional().describe("SHA-256 of the canonical JSON of the change with every secret removed"),
  })
  .meta({ id: "AuditEntry" });
export type AuditEntry = z.output<typeof auditEntrySchema>;

/** An RFC 3339 time or milliseconds since the epoch. */
const timeSchema = z.string().transform((text, ctx) => {
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) {
    ctx.addIssue({ code: "custom", message: "must be an RFC 3339 time or milliseconds since the epoch" });
    return z.NEVER;
  }
  return ms;
});

/** The filters of `GET /v1/audit`, all optional, combined with AND. */
export const auditQuerySchema = z.object({
  team: z.string().optional().describe("entries about the team's objects or made by its tokens"),
  kind: z.enum(OBJECT_KINDS).optional(),
  object: z.string().optional().describe("the object's name or id"),
  since: timeSchema.optional().describe("entries at or after this time: RFC 3339, or ms since the epoch"),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_AUDIT_PAGE)
    .optional()
    .describe(`at most; default ${DEFAULT_AUDIT_PAGE}`),
});
export type AuditQuery = z.output<typeof auditQuerySchema>;
