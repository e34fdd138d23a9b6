/**
 * Errors raised by the hub. Each names the object and what to do; `retryable` tells callers
 * whether trying the same thing again may succeed. HTTP status codes are chosen only at the
 * API edge (api/errors.ts), never here.
 */

/** Base class of every hub error. */
export class HubError extends Error {
  override name = "HubError";
  /** True when the same call may succeed later (a server was down, a lease moved). */
  readonly retryable: boolean = false;
}

/** A configuration value that is missing or wrong; the hub refuses to start. */
export class ConfigError extends HubError {
  override name = "ConfigError";
  constructor(
    /** The environment variable or flag at fault. */
    readonly setting: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${setting}: ${reason}`, options);
  }
}

/** Input that breaks a resource schema; names where and why. */
export class ValidationError extends HubError {
  override name = "ValidationError";
  constructor(
    /** Dotted path of the offending field, e.g. `spec.branches.dev`. */
    readonly field: string,
    readonly reason: string,
    /** Where the input came from, e.g. `document 2 (Repo "web")`; empty for a plain request. */
    readonly where = "",
    options?: { cause?: unknown },
  ) {
    super(`${where ? `${where}: ` : ""}${field ? `${field}: ` : ""}${reason}`, options);
  }
}

/** A resource that does not exist. */
export class NotFoundError extends HubError {
  override name = "NotFoundError";
  constructor(
    readonly kind: string,
    readonly resourceName: string,
  ) {
    super(`${kind} ${JSON.stringify(resourceName)} does not exist`);
  }
}

/** A create of something that exists, or a delete of something still in use. */
export class ConflictError extends HubError {
  override name = "ConflictError";
  constructor(
    readonly kind: string,
    readonly resourceName: string,
    reason: string,
  ) {
    super(`${kind} ${JSON.stringify(resourceName)}: ${reason}`);
  }
}

/** A missing, unknown, expired or revoked bearer token. */
export class AuthError extends HubError {
  override name = "AuthError";
}

/**
 * A token that may not do what it asked: its role does not reach the resource, or the object
 * belongs to another team. The message is one line naming what is missing.
 */
export class ForbiddenError extends HubError {
  override name = "ForbiddenError";
}

/**
 * Too many of something from one caller: failed authentications from one address, or open event
 * streams of one token. Retryable: later, or after closing a stream.
 */
export class TooManyRequestsError extends HubError {
  override name = "TooManyRequestsError";
  override readonly retryable = true;
  constructor(
    /** `too_many_requests` (failed authentications) or `too_many_streams`. */
    readonly code: "too_many_requests" | "too_many_streams",
    message: string,
    /** Seconds until trying again may succeed, when known. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/**
 * A registration token that does not register: unknown, expired, used, another cluster's, or
 * the cluster is not registered. The message is the same whatever the `reason` (kept for the log
 * only), so neither tokens nor cluster names can be probed.
 */
export class RegistrationRefusedError extends AuthError {
  override name = "RegistrationRefusedError";
  constructor(
    readonly cluster: string,
    readonly reason: string,
  ) {
    super(
      `registration of cluster ${JSON.stringify(cluster)} refused: the token is unknown, expired, already used or not this cluster's; mint a new one with 'flotilla cluster token ${cluster}'`,
    );
  }
}

/** A webhook delivery whose signature or token does not verify. */
export class WebhookSignatureError extends HubError {
  override name = "WebhookSignatureError";
  /**
   * The message is the same whatever the `reason` (kept for the log only): an unknown repo, a
   * repo without a secret and a wrong signature answer alike, so deliveries cannot tell which
   * repos exist.
   */
  constructor(
    readonly repo: string,
    readonly reason: string,
  ) {
    super(
      `webhook for repo ${JSON.stringify(repo)} refused: it does not verify against the repo's webhook secret (X-Hub-Signature-256, X-Gitlab-Token or X-Flotilla-Signature)`,
    );
  }
}

/** Encrypted data that cannot be decrypted: wrong key or tampered bytes. */
export class DecryptError extends HubError {
  override name = "DecryptError";
}

/** This replica lost (or never held) the leader lease; the write was not made. */
export class NotLeaderError extends HubError {
  override name = "NotLeaderError";
  override readonly retryable = true;
}

/**
 * Redis could not be reached at start. Retryable: start the hub again once Redis answers. The
 * message is one line naming the URL (credentials removed), the cause and what to check.
 */
export class RedisUnavailableError extends HubError {
  override name = "RedisUnavailableError";
  override readonly retryable = true;
  constructor(
    /** The Redis URL without credentials. */
    readonly url: string,
    readonly attempts: number,
    cause?: Error,
  ) {
    super(
      `cannot reach Redis at ${url} after ${attempts} attempts${cause?.message ? ` (${cause.message})` : ""}; check that Redis runs there and accepts connections, and FLOTILLA_REDIS_URL / --redis-url`,
      { cause },
    );
  }
}

/**
 * NATS refused the hub's TLS handshake, or the hub refused NATS's certificate. Terminal: the
 * message names the setting to change (see @flotilla/settings' NATS TLS settings).
 */
export class NatsTlsError extends HubError {
  override name = "NatsTlsError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A Git server could not be asked for its refs. Retryable: the next poll tries again. */
export class GitError extends HubError {
  override name = "GitError";
  override readonly retryable = true;
  constructor(
    readonly repo: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`repo ${JSON.stringify(repo)}: ${reason}`, options);
  }
}

/**
 * A route answered a body its response schema does not describe: a field the schema lacks, or a
 * value it refuses. A bug in the hub, never the caller's fault: the API answers 500 and logs this.
 */
export class ResponseContractError extends HubError {
  override name = "ResponseContractError";
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: string,
    /** Each problem as `<dotted path>: <what>`. */
    readonly problems: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(
      `${method} ${url} answered ${status} with a body its schema does not describe: ${problems.join("; ")}`,
      options,
    );
  }
}
