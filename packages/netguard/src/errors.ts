/**
 * Errors of the URL and address rules. Messages are one line and never carry what a remote
 * server sent: a server the hub or an agent is pointed at is untrusted, and its answers must not
 * reach logs, reports or API responses.
 */

/** Base class: why a Git URL or an answer from it is refused. */
export class NetGuardError extends Error {
  override name = "NetGuardError";
}

/** A URL the rules refuse; terminal (the same URL is refused again until someone changes it or the rules). */
export class UrlRefusedError extends NetGuardError {
  override name = "UrlRefusedError";
  constructor(
    /** The URL without credentials, query or fragment, fit to show. */
    readonly url: string,
    /** Why, as a clause: "resolves to a loopback address (127.0.0.1)". */
    readonly reason: string,
  ) {
    super(`repository URL ${url} is refused: ${reason}`);
  }
}

/** A host name that does not resolve now; it may later. */
export class ResolveError extends NetGuardError {
  override name = "ResolveError";
  constructor(
    readonly host: string,
    readonly code: string,
  ) {
    super(`cannot resolve ${host} (${code})`);
  }
}

/** The server could not be reached, or stopped answering; it may later. */
export class UnreachableError extends NetGuardError {
  override name = "UnreachableError";
}

/** An answer larger than the client accepts. */
export class ResponseTooLargeError extends NetGuardError {
  override name = "ResponseTooLargeError";
  constructor(
    readonly url: string,
    readonly limit: number,
  ) {
    super(`the answer from ${url} is larger than ${Math.round(limit / 1024 / 1024)} MiB, the limit`);
  }
}

/** An allow-list entry that is neither a host name nor an address or CIDR range. */
export class AllowListError extends NetGuardError {
  override name = "AllowListError";
  constructor(readonly entry: string) {
    super(`allowed Git host ${JSON.stringify(entry)} is not a host name, an IP address or a CIDR range`);
  }
}
