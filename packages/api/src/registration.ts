/**
 * Registration tokens: how a cluster whose agent was offline past its NATS credentials' expiry
 * comes back. An operator mints a single-use token with a lifetime for one cluster
 * (`POST /v1/clusters/{name}/registration-tokens`); the agent presents it once, with a NATS user
 * public key it generated, to `POST /v1/clusters/{name}/register`, and gets a fresh user JWT for
 * that key. The hub keeps only a SHA-256 of the token, under a Redis key that expires with it.
 */
import { z } from "zod";
import { nameSchema } from "./labels.js";

/** Every registration token starts with this, so a leaked one is easy to recognise. */
export const REGISTRATION_TOKEN_PREFIX = "flreg_";
/** Lifetime of a registration token when none is asked for: one hour. */
export const DEFAULT_REGISTRATION_TOKEN_TTL_SECONDS = 3_600;
/** Longest lifetime a registration token may ask for: one week. */
export const MAX_REGISTRATION_TOKEN_TTL_SECONDS = 7 * 86_400;

/** `POST /v1/clusters/{name}/registration-tokens`. */
export const registrationTokenRequestSchema = z
  .strictObject({
    ttlSeconds: z
      .number()
      .int()
      .min(1)
      .max(MAX_REGISTRATION_TOKEN_TTL_SECONDS)
      .optional()
      .describe(`seconds until the token stops working unused; default ${DEFAULT_REGISTRATION_TOKEN_TTL_SECONDS}`),
  })
  .meta({ id: "RegistrationTokenRequest" });
export type RegistrationTokenRequest = z.output<typeof registrationTokenRequestSchema>;

/** The answer to `POST /v1/clusters/{name}/registration-tokens`: the token, shown this once. */
export const registrationTokenSchema = z
  .object({
    cluster: nameSchema,
    token: z.string().describe("the token, shown only now; it works once, for this cluster only"),
    expiresAtMs: z.number().describe("when it stops working unused"),
  })
  .meta({ id: "RegistrationToken" });
export type RegistrationToken = z.output<typeof registrationTokenSchema>;

/** The answer to `DELETE /v1/clusters/{name}/registration-tokens`. */
export const registrationTokensRevokedSchema = z
  .object({
    cluster: nameSchema,
    revoked: z.number().int().min(0).describe("outstanding tokens of the cluster that were dropped"),
  })
  .meta({ id: "RegistrationTokensRevoked" });
export type RegistrationTokensRevoked = z.output<typeof registrationTokensRevokedSchema>;

/** A NATS user public nkey: `U` and 55 more base32 characters. */
const userPublicKeySchema = z
  .string()
  .regex(/^U[A-Z2-7]{55}$/, "must be a NATS user public key (U followed by 55 base32 characters)");

/** `POST /v1/clusters/{name}/register`, sent by an agent. */
export const registrationRequestSchema = z
  .strictObject({
    token: z.string().min(1).max(200).describe("a registration token for this cluster"),
    natsUserPublicKey: userPublicKeySchema.describe(
      "public key of the NATS user the agent generated; its seed never leaves the agent",
    ),
  })
  .describe(
    "a registration never changes the cluster's agent key: any other field (agentPublicKey among them) is refused; a new agent key needs a new registration (flotilla cluster delete, then register)",
  )
  .meta({ id: "RegistrationRequest" });
export type RegistrationRequest = z.output<typeof registrationRequestSchema>;

/** The answer to a registration. */
export const registrationSchema = z
  .object({
    cluster: nameSchema,
    jwt: z.string().describe("the new NATS user JWT for natsUserPublicKey"),
    credentialsResponse: z
      .string()
      .describe(
        "base64 of a CredentialsResponse envelope signed by the hub key, holding the same JWT: the agent takes the JWT from it only if it verifies with a hub key it trusts",
      ),
    hubKeyId: z.string().describe("id of the key the hub signs with"),
    hubPublicKey: z.string().describe("SPKI PEM of the key the hub signs with"),
  })
  .meta({ id: "Registration" });
export type Registration = z.output<typeof registrationSchema>;
