/**
 * The digest of a change for the audit trail: SHA-256 of its canonical JSON after every secret
 * field is replaced by a marker. The marker keeps "a secret was set" in the digest, without the
 * secret: a low-entropy password hashed into a stored digest could be guessed offline.
 */
import { fingerprint } from "../registry/canonical.js";

/**
 * Field names that hold secrets anywhere in a request: repo credentials and webhook secrets, a
 * bundle's keys and NATS credentials, a token.
 */
export const SECRET_FIELDS: ReadonlySet<string> = new Set([
  "credentials",
  "password",
  "webhookSecret",
  "agentSigningKey",
  "natsCreds",
  "token",
  "secret",
]);

/** What stands in for a secret's value. */
export const SECRET_MARKER = "[secret]";

/** `value` with every secret field's value replaced by {@link SECRET_MARKER}, at any depth. */
export function withoutSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutSecrets);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        SECRET_FIELDS.has(k) && v !== undefined ? SECRET_MARKER : withoutSecrets(v),
      ]),
    );
  }
  return value;
}

/** The digest of a change: SHA-256 hex of the canonical JSON of it, secrets replaced. */
export function changeDigest(change: unknown): string {
  return fingerprint(withoutSecrets(change ?? null));
}
