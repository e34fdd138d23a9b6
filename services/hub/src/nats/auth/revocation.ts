/**
 * Revoking a user: the account JWT gains the user's key in its revocations, is re-signed by
 * the operator and pushed to nats-server through the system account. The server then closes
 * the user's connections and refuses new ones. Computing the JWT is pure; pushing is I/O, so a
 * caller that wants the revocation stored before it takes effect can persist in between.
 */
import { type Account, decode, encodeAccount, fromPublic } from "@nats-io/jwt";
import type { NatsConnection } from "nats";
import { ClaimsUpdateError, InvalidUserKeyError, StaleAccountJwtError } from "./errors.js";
import { type AccountLimits, accountLimitsClaim, type OperatorSetup } from "./setup.js";

/** How long to wait for nats-server to answer an account JWT update or lookup. @default 5000 */
export const DEFAULT_CLAIMS_TIMEOUT_MS = 5_000;

/** The slice of a NATS connection (as the system user) that pushing account JWTs needs. */
export type SystemConnection = Pick<NatsConnection, "request">;

/**
 * Subject on which nats-server (full or cache resolver) takes a new account JWT. The server
 * checks the JWT's subject against `<account>` and its signature against the trusted operator.
 */
export function claimsUpdateSubject(account: string): string {
  return `$SYS.REQ.ACCOUNT.${account}.CLAIMS.UPDATE`;
}

/** Subject on which nats-server answers with the account JWT it currently holds. */
export function claimsLookupSubject(account: string): string {
  return `$SYS.REQ.ACCOUNT.${account}.CLAIMS.LOOKUP`;
}

/** Revoked user keys of an account JWT, each with the time (Unix seconds) from which it is revoked. */
export function revokedUsers(accountJwt: string): Record<string, number> {
  return { ...(decode<Account>(accountJwt).nats.revocations ?? {}) };
}

/**
 * The FLOTILLA account JWT of `setup` with `userPublicKey` revoked as of `now`: every JWT of
 * that user issued at or before `now` is refused. Already revoked → the current JWT unchanged.
 */
export async function revokedAccountJwt(
  setup: OperatorSetup,
  userPublicKey: string,
  now: Date = new Date(),
): Promise<string> {
  checkUserKey(userPublicKey);
  const claims = decode<Account>(setup.account.jwt);
  const revocations = { ...(claims.nats.revocations ?? {}) };
  if (revocations[userPublicKey] !== undefined) return setup.account.jwt;
  revocations[userPublicKey] = Math.floor(now.getTime() / 1000);
  await nextSecondAfter(claims.iat);
  return encodeAccount(
    claims.name,
    setup.account.publicKey,
    { ...claims.nats, revocations },
    { signer: setup.operator.seed },
  );
}

/**
 * The FLOTILLA account JWT of `setup` with `limits` (revocations and everything else kept), or
 * undefined when it already carries exactly those limits. A hub started with other limits than
 * the stored JWT's applies them this way, without a new operator setup.
 */
export async function accountJwtWithLimits(setup: OperatorSetup, limits: AccountLimits): Promise<string | undefined> {
  const claims = decode<Account>(setup.account.jwt);
  const wanted = accountLimitsClaim(limits);
  const current = (claims.nats.limits ?? {}) as Record<string, unknown>;
  const same = Object.entries(wanted).every(([k, v]) => current[k] === v);
  if (same) return undefined;
  await nextSecondAfter(claims.iat);
  return encodeAccount(
    claims.name,
    setup.account.publicKey,
    { ...claims.nats, limits: { ...claims.nats.limits, ...wanted } },
    { signer: setup.operator.seed },
  );
}

/**
 * Waits until the clock is past `iat` (Unix seconds). nats-server keeps whichever account JWT
 * has the later issue time and takes either when they tie, so an older JWT pushed again within
 * the same second would silently undo a revocation; strictly growing issue times rule that out.
 */
async function nextSecondAfter(iat: number): Promise<void> {
  for (;;) {
    const wait = (iat + 1) * 1000 - Date.now();
    if (wait <= 0) return;
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

function checkUserKey(userPublicKey: string): void {
  let ok = false;
  try {
    ok = fromPublic(userPublicKey).getPublicKey().startsWith("U");
  } catch (err) {
    throw new InvalidUserKeyError(userPublicKey, { cause: err });
  }
  if (!ok) throw new InvalidUserKeyError(userPublicKey);
}

/** nats-server's answer to a claims update: `{ data: { code, account, message } }` or `{ error: {...} }`. */
interface ClaimsUpdateResponse {
  data?: { code?: number; account?: string; message?: string };
  error?: { code?: number; account?: string; description?: string };
}

/** Throws ClaimsUpdateError (terminal) unless `body` is nats-server's success answer for `account`. */
export function checkClaimsUpdateResponse(account: string, body: Uint8Array): void {
  let response: ClaimsUpdateResponse;
  try {
    response = JSON.parse(new TextDecoder().decode(body)) as ClaimsUpdateResponse;
  } catch (err) {
    throw new ClaimsUpdateError(account, "the server's answer is not JSON", false, { cause: err });
  }
  if (response.error) {
    throw new ClaimsUpdateError(account, response.error.description ?? `error ${response.error.code}`, false);
  }
  if (response.data?.code !== 200 || response.data.account !== account) {
    throw new ClaimsUpdateError(account, `unexpected answer ${JSON.stringify(response)}`, false);
  }
}

async function request(
  nc: SystemConnection,
  account: string,
  subject: string,
  data: Uint8Array,
  timeoutMs: number,
): Promise<Uint8Array> {
  try {
    return (await nc.request(subject, data, { timeout: timeoutMs })).data;
  } catch (err) {
    // Timeouts and "no responders" (no server with a resolver, or not connected as the system
    // user) may pass; the update is idempotent, so pushing again is safe.
    throw new ClaimsUpdateError(account, `request on ${subject} failed: ${(err as Error).message}`, true, {
      cause: err,
    });
  }
}

/**
 * Pushes an account JWT to nats-server. nats-server stores a pushed JWT even when it holds a
 * newer one, so a stale push would silently undo revocations: the server's JWT is looked up
 * first, and a newer one there stops the push with StaleAccountJwtError (store
 * `error.serverJwt` with `withAccountJwt` and build on it). After the push the server's JWT
 * is read back to confirm it took ours. Throws ClaimsUpdateError (see `retryable`) otherwise.
 * Idempotent: the hub may push its stored JWT at start to repair a server that lost it.
 * Pushes must be serialized (one at a time across hub replicas), like any read-modify-write.
 */
export async function pushAccountJwt(
  nc: SystemConnection,
  accountJwt: string,
  timeoutMs: number = DEFAULT_CLAIMS_TIMEOUT_MS,
): Promise<void> {
  const ours = decode<Account>(accountJwt);
  const account = ours.sub;
  const before = await heldAccountJwt(nc, account, timeoutMs);
  if (before !== undefined) {
    if (before.jti === ours.jti) return;
    if (before.iat >= ours.iat) throw new StaleAccountJwtError(account, before.jwt);
  }
  const answer = await request(
    nc,
    account,
    claimsUpdateSubject(account),
    new TextEncoder().encode(accountJwt),
    timeoutMs,
  );
  checkClaimsUpdateResponse(account, answer);
  const after = await heldAccountJwt(nc, account, timeoutMs);
  if (after?.jti !== ours.jti) {
    throw new ClaimsUpdateError(account, "the server does not hold the pushed account JWT after the update", true);
  }
}

/** The account JWT nats-server holds for `account`, or undefined when it has none. */
async function heldAccountJwt(
  nc: SystemConnection,
  account: string,
  timeoutMs: number,
): Promise<{ jwt: string; iat: number; jti: string } | undefined> {
  const body = await request(nc, account, claimsLookupSubject(account), new Uint8Array(), timeoutMs);
  const jwt = new TextDecoder().decode(body).trim();
  if (jwt === "") return undefined;
  try {
    const claims = decode(jwt);
    return { jwt, iat: claims.iat, jti: claims.jti };
  } catch (err) {
    throw new ClaimsUpdateError(account, "the server holds an account JWT that does not decode", false, {
      cause: err,
    });
  }
}

/**
 * Revokes a user (a deregistered cluster's): re-signs the FLOTILLA account JWT with the user
 * revoked and pushes it over `nc`, a connection as `setup.systemUser`. The server closes the
 * user's connections and refuses new ones. Returns the new account JWT, which the caller must
 * store (`withAccountJwt`) so that later revocations build on it and a restart keeps it.
 * To store it before it takes effect, call `revokedAccountJwt` and `pushAccountJwt` instead.
 */
export async function revokeUser(
  setup: OperatorSetup,
  userPublicKey: string,
  nc: SystemConnection,
  timeoutMs: number = DEFAULT_CLAIMS_TIMEOUT_MS,
): Promise<string> {
  const accountJwt = await revokedAccountJwt(setup, userPublicKey);
  await pushAccountJwt(nc, accountJwt, timeoutMs);
  return accountJwt;
}
