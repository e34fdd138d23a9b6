import { type ApiErrorBody, apiErrorFor, CliError, HubUnreachableError, type TokenOrigin } from "./errors.js";

/** What the client needs to reach the hub. */
export interface ClientOptions {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** Where the address came from, for the unreachable message. */
  hubSource: string;
  token?: string;
  /** Where the token came from, for the 401 message. */
  tokenSource: string;
  /** The config file path, named when no token was given. */
  configPath: string;
  timeoutMs: number;
  /** Replaceable in unit tests; the global fetch otherwise. */
  fetch?: typeof fetch;
}

/** A request body: JSON by default, or raw text with its content type (apply sends YAML). */
export type RequestBody = { json: unknown } | { text: string; contentType: string };

/** Query parameters; undefined values are left out. */
export type Query = Record<string, string | undefined>;

/**
 * Builds an API path with every interpolated value URL-encoded, so a name can never smuggle a
 * `/` or `?` into the route: apiPath`/v1/clusters/${name}`.
 */
export function apiPath(strings: TemplateStringsArray, ...values: string[]): string {
  return strings.reduce((out, s, i) => out + s + (i < values.length ? encodeURIComponent(values[i] ?? "") : ""), "");
}

/** Why a fetch did not get an answer, in words a user recognizes. */
export function unreachableReason(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; cause?: { code?: string; name?: string; message?: string }; message?: string };
  if (e.name === "TimeoutError" || e.name === "AbortError") return `no answer within ${timeoutMs / 1000}s`;
  const code = e.cause?.code ?? (e as { code?: string }).code;
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "host not found";
    case "ECONNRESET":
      return "connection reset";
    case "ETIMEDOUT":
    case "UND_ERR_CONNECT_TIMEOUT":
      return "connection timed out";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "host unreachable";
    default:
      return e.cause?.message || e.message || "network error";
  }
}

/**
 * The hub's HTTP API over fetch. Every failure becomes a typed CliError with a one-line message:
 * HubUnreachableError when no answer came, an ApiError subclass per status otherwise.
 */
export class HubClient {
  readonly #fetch: typeof fetch;

  constructor(readonly options: ClientOptions) {
    this.#fetch = options.fetch ?? fetch;
  }

  get baseUrl(): string {
    return this.options.baseUrl;
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>("GET", path, { ...(query ? { query } : {}) });
  }

  post<T>(path: string, body?: RequestBody): Promise<T> {
    return this.request<T>("POST", path, { body: body ?? { json: {} } });
  }

  put<T>(path: string, body: RequestBody): Promise<T> {
    return this.request<T>("PUT", path, { body });
  }

  delete(path: string): Promise<void> {
    return this.request<void>("DELETE", path, {});
  }

  /** Sends one request; resolves with the parsed JSON body (undefined for 204). */
  async request<T>(method: string, path: string, o: { query?: Query; body?: RequestBody }): Promise<T> {
    const url = new URL(this.options.baseUrl + path);
    for (const [k, v] of Object.entries(o.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    let body: string | undefined;
    if (o.body && "json" in o.body) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(o.body.json);
    } else if (o.body) {
      headers["content-type"] = o.body.contentType;
      body = o.body.text;
    }
    let response: Response;
    let text: string;
    try {
      response = await this.#fetch(url, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      text = await response.text();
    } catch (err) {
      throw new HubUnreachableError(
        this.options.baseUrl,
        this.options.hubSource,
        unreachableReason(err, this.options.timeoutMs),
        { cause: err },
      );
    }
    if (response.ok) {
      if (!text) return undefined as T;
      try {
        return JSON.parse(text) as T;
      } catch (err) {
        throw new CliError(
          `${this.options.baseUrl} answered ${method} ${url.pathname} with something that is not JSON: is ${this.options.hubSource} pointing at a Flotilla hub?`,
          { cause: err },
        );
      }
    }
    throw apiErrorFor(response.status, method, url.pathname, errorBody(text), this.#tokenOrigin());
  }

  #tokenOrigin(): TokenOrigin {
    return {
      present: Boolean(this.options.token),
      source: this.options.tokenSource,
      configPath: this.options.configPath,
    };
  }
}

/** The error body, or a stand-in when a proxy in between answered with something else. */
function errorBody(text: string): ApiErrorBody {
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === "object") return parsed as ApiErrorBody;
  } catch {
    // Not the hub's JSON: fall through and show the start of what came back.
  }
  const first = text.trim().split("\n")[0] ?? "";
  return { message: first.length > 200 ? `${first.slice(0, 200)}…` : first };
}
