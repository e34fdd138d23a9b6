/**
 * The token format: `flt_<id>_<secret>`, 16 hex characters of id and 43 base64url characters
 * (256 random bits) of secret. The id is stored in the clear to find the record; the secret only
 * as its SHA-256.
 *
 * Why SHA-256 and not bcrypt or argon2: those slow hashes protect low-entropy passwords from
 * guessing after a leak. A 256-bit random secret cannot be guessed whatever the hash, so a slow
 * one would add nothing but ~100 ms of CPU to every request, which on a small hub is a lever for
 * denial of service.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { TOKEN_PREFIX } from "@flotilla/api";

const ID_BYTES = 8;
const SECRET_BYTES = 32;
const FORMAT = /^flt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** A token's two parts. */
export interface TokenParts {
  id: string;
  secret: string;
}

/** A fresh token: its text (shown once), its id, and the digest of its secret (stored). */
export function newToken(): { token: string; id: string; secretSha256: string } {
  const id = randomBytes(ID_BYTES).toString("hex");
  const secret = randomBytes(SECRET_BYTES).toString("base64url");
  return { token: `${TOKEN_PREFIX}${id}_${secret}`, id, secretSha256: secretDigest(secret) };
}

/** The parts of a token's text; undefined when it is not a minted token's format. */
export function parseToken(text: string): TokenParts | undefined {
  const match = FORMAT.exec(text);
  return match?.[1] && match[2] ? { id: match[1], secret: match[2] } : undefined;
}

/** Hex SHA-256 of a secret, as stored. */
export function secretDigest(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** Whether `secret` is the one whose digest is `stored`, in time that does not depend on where they differ. */
export function secretMatches(secret: string, stored: string): boolean {
  const a = Buffer.from(secretDigest(secret), "hex");
  const b = Buffer.from(stored, "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}
