/**
 * Errors the CLI shows. Each renders as ONE line (`error: <message>`) naming the object, the
 * request that failed and what to do next, and carries the process exit code. `retryable`
 * marks what may succeed if tried again (the hub was down, a leader moved), so `rollout watch`
 * keeps polling through those and stops on the rest.
 */

/** Exit codes, documented in `flotilla --help`. */
export const EXIT = {
  /** Success. */
  ok: 0,
  /** Usage error, bad input, a timeout, or the hub failed (400, 5xx). */
  error: 1,
  /** The hub could not be reached (connection refused, DNS, timeout). */
  unreachable: 2,
  /** `rollout watch`: the rollout ended Failed or RolledBack. */
  rolloutFailed: 3,
  /** `rollout watch`: the rollout ended Superseded by a newer commit. */
  rolloutSuperseded: 4,
  /** The object (or route) does not exist (404). */
  notFound: 5,
  /** The token is missing, unknown or expired (401), or may not do this (403). */
  denied: 6,
  /** Conflicts with what exists or with the object's state (409). */
  conflict: 7,
} as const;

/** Base class of every error the CLI reports to a user. */
export class CliError extends Error {
  override name = "CliError";
  /** Process exit code when this error ends the command. */
  readonly exitCode: number = EXIT.error;
  /** True when the same call may succeed later. */
  readonly retryable: boolean = false;
}

/** A flag, argument or local file the user gave is wrong; nothing was sent to the hub. */
export class UsageError extends CliError {
  override name = "UsageError";
  constructor(
    message: string,
    /** What to do, e.g. `see 'flotilla env set --help'`. */
    readonly hint = "",
    options?: { cause?: unknown },
  ) {
    super(hint ? `${message}: ${hint}` : message, options);
  }
}

/** A settings value (flag, environment variable or config file) is wrong. */
export class SettingsError extends CliError {
  override name = "SettingsError";
  constructor(
    /** Where the value came from, e.g. `FLOTILLA_HUB` or `config file /home/me/.config/flotilla/config.yaml`. */
    readonly source: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${source}: ${reason}`, options);
  }
}

/** A file the user named cannot be read or parsed. */
export class InputFileError extends CliError {
  override name = "InputFileError";
  constructor(
    /** The path as given (`-` for stdin). */
    readonly path: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${path === "-" ? "stdin" : path}: ${reason}`, options);
  }
}

/** The hub's address did not answer. Retryable. */
export class HubUnreachableError extends CliError {
  override name = "HubUnreachableError";
  override readonly exitCode = EXIT.unreachable;
  override readonly retryable = true;
  constructor(
    readonly hubUrl: string,
    /** Where the address came from (`--hub`, `FLOTILLA_HUB`, config file, default). */
    readonly hubSource: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      `cannot reach the hub at ${hubUrl} (${reason}; address from ${hubSource}): start it with 'flotilla hub' or 'flotilla up', or point --hub / FLOTILLA_HUB at it`,
      options,
    );
  }
}

/** The error body every hub route sends (services/hub api/errors.ts). */
export interface ApiErrorBody {
  error?: string;
  message?: string;
  field?: string;
  reason?: string;
  document?: string;
}

/** The hub answered a request with an error status. */
export class ApiError extends CliError {
  override name = "ApiError";
  constructor(
    readonly status: number,
    readonly method: string,
    readonly path: string,
    readonly body: ApiErrorBody,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** `GET /v1/clusters/x`, as shown in messages. */
  get request(): string {
    return `${this.method} ${this.path}`;
  }
}

/** 400: the hub named the field at fault and why. */
export class BadRequestError extends ApiError {
  override name = "BadRequestError";
}

/** 401: the token is missing or wrong. */
export class UnauthorizedError extends ApiError {
  override name = "UnauthorizedError";
  override readonly exitCode: number = EXIT.denied;
}

/** 403: the token is known, but its role or team does not allow the request. */
export class ForbiddenError extends ApiError {
  override name = "ForbiddenError";
  override readonly exitCode: number = EXIT.denied;
}

/** 429: too many failed authentications from this address, or too many open event streams. Retryable later. */
export class TooManyRequestsError extends ApiError {
  override name = "TooManyRequestsError";
  override readonly retryable = true;
}

/** 404: the object (or the route) does not exist. */
export class NotFoundError extends ApiError {
  override name = "NotFoundError";
  override readonly exitCode: number = EXIT.notFound;
}

/** 409: the object exists already, is in use, or is in a state that refuses the command. */
export class ConflictError extends ApiError {
  override name = "ConflictError";
  override readonly exitCode: number = EXIT.conflict;
}

/** 5xx. 502/503/504 are retryable (not the leader, a proxy in between); 500 is not. */
export class ServerError extends ApiError {
  override name = "ServerError";
  override readonly retryable: boolean;
  constructor(status: number, method: string, path: string, body: ApiErrorBody, message: string) {
    super(status, method, path, body, message);
    this.retryable = status === 502 || status === 503 || status === 504;
  }
}

/** `rollout watch` saw the rollout end without succeeding. */
export class RolloutEndedError extends CliError {
  override name = "RolloutEndedError";
  override readonly exitCode: number;
  constructor(
    readonly rolloutId: string,
    readonly state: string,
    readonly reason: string,
  ) {
    super(`rollout ${rolloutId} ended ${state}${reason ? `: ${reason}` : ""}`);
    this.exitCode = state === "Superseded" ? EXIT.rolloutSuperseded : EXIT.rolloutFailed;
  }
}

/** Where to look next after a 404, by the kind of object the hub said is missing. */
const LIST_HINTS: Record<string, string> = {
  cluster: "run 'flotilla cluster list' to see registered clusters",
  team: "run 'flotilla team list' to see teams",
  repo: "run 'flotilla repo list' to see repos",
  app: "run 'flotilla app list' to see apps",
  environment: "run 'flotilla env list' to see environments",
  rollout: "run 'flotilla rollout list' to see rollouts",
};

const KIND_OF_PATH: Record<string, string> = {
  clusters: "cluster",
  teams: "team",
  repos: "repo",
  apps: "app",
  environments: "environment",
  rollouts: "rollout",
};

/**
 * The hint after a 404: taken from the kind the hub's message names (`repo "x" does not exist`
 * while creating an app points at repos, not apps), else from the request path.
 */
export function notFoundHint(message: string, path: string): string {
  const named = /^(\w+) "/.exec(message)?.[1]?.toLowerCase();
  if (named && LIST_HINTS[named]) return LIST_HINTS[named];
  const segment = /^\/v1\/([a-z]+)/.exec(path)?.[1];
  const kind = segment ? KIND_OF_PATH[segment] : undefined;
  return kind ? (LIST_HINTS[kind] ?? "") : "";
}

/** Where the token of a request came from, for the 401 message. */
export interface TokenOrigin {
  /** True when a token was sent at all. */
  present: boolean;
  /** `--token`, `FLOTILLA_TOKEN`, `config file <path>`. */
  source: string;
  /** Path of the config file, to say where a token could go. */
  configPath: string;
}

/**
 * Builds the typed error for an error response: one line saying what the hub said, which
 * request, and what to do. Pure, so every message is unit-tested.
 */
export function apiErrorFor(
  status: number,
  method: string,
  path: string,
  body: ApiErrorBody,
  token: TokenOrigin,
): ApiError {
  const request = `${method} ${path}`;
  const said = oneLine(body.message ?? "");
  if (status === 400) {
    const field = body.field ? `${body.field}: ` : "";
    const detail = said || `${field}${body.reason ?? "invalid request"}`;
    const withField = body.field && !detail.includes(body.field) ? `${field}${detail}` : detail;
    return new BadRequestError(status, method, path, body, `${withField} (${request})`);
  }
  if (status === 401) {
    const what = token.present
      ? `the hub refused the token from ${token.source} (${request}): ${said || "it is unknown, expired or revoked"}`
      : `the hub needs a token (${request}): pass --token, set FLOTILLA_TOKEN, or add 'token:' to ${token.configPath}`;
    return new UnauthorizedError(status, method, path, body, what);
  }
  if (status === 404) {
    if (body.error === "not_found" && said.startsWith("no route")) {
      return new NotFoundError(
        status,
        method,
        path,
        body,
        `the hub does not serve ${request}: it may be an older version than this CLI`,
      );
    }
    const hint = notFoundHint(said, path);
    return new NotFoundError(
      status,
      method,
      path,
      body,
      `${said || "not found"} (${request})${hint ? `: ${hint}` : ""}`,
    );
  }
  if (status === 403) {
    return new ForbiddenError(
      status,
      method,
      path,
      body,
      `${said || "forbidden"} (${request}): ask an admin for a token that may, or run 'flotilla token list' as one`,
    );
  }
  if (status === 429)
    return new TooManyRequestsError(status, method, path, body, `${said || "too many requests"} (${request})`);
  if (status === 409) return new ConflictError(status, method, path, body, `${said || "conflict"} (${request})`);
  if (status >= 500) {
    return new ServerError(status, method, path, body, `the hub failed: ${said || `HTTP ${status}`} (${request})`);
  }
  return new ApiError(status, method, path, body, `${said || `HTTP ${status}`} (${request})`);
}

/** Collapses a multi-line message into one line, so an error never spills over several. */
export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}
