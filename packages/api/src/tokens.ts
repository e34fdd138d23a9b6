/**
 * API tokens: what the admin asks for when minting one, what the hub shows of them, and the
 * identity a token proves. A token is `flt_<id>_<secret>`; the hub keeps the id in the clear (to
 * find the record) and only a SHA-256 of the secret, and shows the whole token once, when minted.
 */
import { z } from "zod";
import { ROLES } from "./access.js";
import { nameSchema } from "./labels.js";

/** Every minted token starts with this, so a leaked one is easy to recognise (and to scan for). */
export const TOKEN_PREFIX = "flt_";
/** Id of the token the hub's configuration holds (`FLOTILLA_HUB_ADMIN_TOKEN`): not minted, not revocable through the API. */
export const BOOTSTRAP_TOKEN_ID = "bootstrap";
/** Longest lifetime a minted token may ask for: ten years. */
export const MAX_TOKEN_LIFETIME_SECONDS = 10 * 365 * 86_400;

export const roleSchema = z.enum(ROLES, { message: `must be one of ${ROLES.join(", ")}` }).meta({ id: "Role" });

/** `POST /v1/tokens`. */
export const tokenRequestSchema = z
  .strictObject({
    role: roleSchema,
    /** The team a member acts for, or a viewer is limited to; an admin token has none. */
    team: nameSchema.optional(),
    /** Seconds until the token stops working; none: it works until revoked. */
    expiresInSeconds: z.number().int().min(1).max(MAX_TOKEN_LIFETIME_SECONDS).optional(),
    /** What the token is for, shown by `token list` (e.g. "CI of the web repo"). */
    description: z.string().max(200).optional(),
  })
  .superRefine((t, ctx) => {
    if (t.role === "member" && !t.team) {
      ctx.addIssue({ code: "custom", path: ["team"], message: "is required for a member token: name its team" });
    }
    if (t.role === "admin" && t.team) {
      ctx.addIssue({
        code: "custom",
        path: ["team"],
        message: "must be unset for an admin token: admins reach every team",
      });
    }
  });
export type TokenRequest = z.output<typeof tokenRequestSchema>;

/** A token as the hub shows it: never its secret. */
export const tokenViewSchema = z
  .object({
    id: z.string().describe("the token's id, the part after flt_; shown in the audit trail"),
    role: roleSchema,
    team: nameSchema.optional(),
    description: z.string().optional(),
    createdAtMs: z.number(),
    createdBy: z.string().describe("id of the token that minted it"),
    expiresAtMs: z.number().optional().describe("when it stops working; absent: never"),
    lastUsedAtMs: z.number().optional().describe("last request made with it, to the minute"),
  })
  .meta({ id: "Token" });
export type TokenView = z.output<typeof tokenViewSchema>;

/** The answer to `POST /v1/tokens`: the token, shown this once, and what it is. */
export const mintedTokenSchema = tokenViewSchema
  .extend({
    token: z.string().describe("the bearer token, flt_<id>_<secret>; shown only now and stored only as a hash"),
  })
  .meta({ id: "MintedToken" });
export type MintedToken = z.output<typeof mintedTokenSchema>;

/** `GET /v1/whoami`: the identity the caller's token proves. */
export const identitySchema = z
  .object({
    tokenId: z.string().describe(`the token's id; ${BOOTSTRAP_TOKEN_ID} for the hub's configured admin token`),
    role: roleSchema,
    team: nameSchema.optional(),
    expiresAtMs: z.number().optional(),
  })
  .meta({ id: "Identity" });
export type Identity = z.output<typeof identitySchema>;
