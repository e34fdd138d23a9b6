/**
 * Errors of NATS operator-mode credentials. They extend the hub's base error so the API edge
 * maps them like any other; `retryable` says whether the same call may succeed later.
 */
import { HubError } from "../../errors.js";

/**
 * A stored operator setup that cannot be used: malformed JSON, a missing field, a key that does
 * not match its JWT, or a JWT whose signature fails. Terminal: restore the file or create a new
 * setup (which means new credentials for every cluster).
 */
export class OperatorSetupError extends HubError {
  override name = "OperatorSetupError";
  constructor(
    /** Dotted path of the offending field, e.g. `account.jwt`; empty for the whole document. */
    readonly field: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      `NATS operator setup is unusable${field ? ` at ${field}` : ""}: ${reason}; restore it from a backup or create a new setup`,
      options,
    );
  }
}

/** A NATS user public key that is not one (user keys start with `U`). Terminal. */
export class InvalidUserKeyError extends HubError {
  override name = "InvalidUserKeyError";
  constructor(
    readonly userPublicKey: string,
    options?: { cause?: unknown },
  ) {
    super(`${JSON.stringify(userPublicKey)} is not a NATS user public key (it must start with "U")`, options);
  }
}

/**
 * nats-server did not accept an account JWT update. `retryable` is true when the server could
 * not be reached or did not answer (push again later: updates are idempotent), false when it
 * answered with a rejection (the JWT itself is wrong and pushing it again will fail again).
 */
export class ClaimsUpdateError extends HubError {
  override name = "ClaimsUpdateError";
  override readonly retryable: boolean;
  constructor(
    /** Public key of the account whose JWT was pushed. */
    readonly account: string,
    reason: string,
    retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(`NATS did not take the account JWT update for ${account}: ${reason}`, options);
    this.retryable = retryable;
  }
}

/**
 * The server holds an account JWT as new as or newer than the one about to be pushed, so the
 * hub's stored one is stale (restored from an old backup, or another writer revoked in
 * between). Nothing was pushed: nats-server would have stored the stale JWT and silently
 * undone the revocations it lacks. Terminal until reconciled: store `serverJwt`
 * (`withAccountJwt`) and revoke again on top of it.
 */
export class StaleAccountJwtError extends HubError {
  override name = "StaleAccountJwtError";
  constructor(
    readonly account: string,
    /** The account JWT the server holds. */
    readonly serverJwt: string,
  ) {
    super(
      `NATS holds an account JWT for ${account} as new as the hub's or newer, so the hub's stored one is stale; store the server's JWT and revoke again on top of it`,
    );
  }
}
