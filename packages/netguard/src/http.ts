/**
 * An HTTP client for isomorphic-git (its `http` option) that holds every request to the rules
 * of `rules.ts`. isomorphic-git's own Node client follows up to ten redirects and returns what a
 * server sends; this one:
 *
 * - checks the URL and resolves its host per request, then connects to the checked address
 *   (pinned: a second DNS answer cannot send the connection elsewhere, the TLS name stays the host);
 * - follows no redirect: a 3xx is an error naming the status, not the target;
 * - caps the answer's size and the time without data;
 * - hands isomorphic-git no body of an error answer and replaces the status text with the
 *   standard one, so nothing a server wrote reaches an error message or a log.
 */
import * as http from "node:http";
import * as https from "node:https";
import { NetGuardError, ResponseTooLargeError, UnreachableError, UrlRefusedError } from "./errors.js";
import { pinnedLookup } from "./lookup.js";
import { type Resolver, resolveRepoUrl, systemResolver, type UrlRules } from "./rules.js";

/** A request as isomorphic-git makes it. */
export interface GitHttpRequest {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: AsyncIterableIterator<Uint8Array> | Iterable<Uint8Array> | Uint8Array[];
  signal?: unknown;
  [key: string]: unknown;
}

/** An answer as isomorphic-git expects it. */
export interface GitHttpResponse {
  url: string;
  method: string;
  statusCode: number;
  statusMessage: string;
  headers: Record<string, string>;
  body: AsyncIterableIterator<Uint8Array>;
}

/** isomorphic-git's `HttpClient`. */
export interface GitHttpClient {
  request(req: GitHttpRequest): Promise<GitHttpResponse>;
}

/** Options of {@link guardedGitHttp}. */
export interface GuardedHttpOptions {
  rules: UrlRules;
  resolver?: Resolver;
  /** Largest answer accepted, in bytes. @default {@link DEFAULT_MAX_RESPONSE_BYTES} */
  maxResponseBytes?: number;
  /** Longest wait without data, in milliseconds. @default {@link DEFAULT_IDLE_TIMEOUT_MS} */
  idleTimeoutMs?: number;
}

/** A fetch of a large repository's pack stays well below this. */
export const DEFAULT_MAX_RESPONSE_BYTES = 512 * 1024 * 1024;
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
/** Largest request body (isomorphic-git's want/have lists) sent. */
const MAX_REQUEST_BYTES = 16 * 1024 * 1024;

async function collect(body: GitHttpRequest["body"]): Promise<Buffer | undefined> {
  if (!body) return undefined;
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > MAX_REQUEST_BYTES) throw new NetGuardError("the request to the Git server is too large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function headersOf(res: http.IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

async function* empty(): AsyncIterableIterator<Uint8Array> {}

/** The answer's body, counted against `limit`. */
async function* capped(res: http.IncomingMessage, display: string, limit: number): AsyncIterableIterator<Uint8Array> {
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > limit) {
      res.destroy();
      throw new ResponseTooLargeError(display, limit);
    }
    yield new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }
}

/** An isomorphic-git HTTP client that enforces `options.rules` on every request. */
export function guardedGitHttp(options: GuardedHttpOptions): GitHttpClient {
  const resolver = options.resolver ?? systemResolver;
  const limit = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const idle = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  return {
    async request(req) {
      const { target, addresses } = await resolveRepoUrl(req.url, options.rules, resolver);
      // Every address was checked; the socket gets only these.
      const pinned = pinnedLookup(addresses);
      const payload = await collect(req.body);
      const method = (req.method ?? "GET").toUpperCase();
      const headers: http.OutgoingHttpHeaders = { ...(req.headers ?? {}) };
      if (payload) headers["content-length"] = payload.length;
      const lib = target.url.protocol === "https:" ? https : http;
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        const r = lib.request(target.url, { method, headers, lookup: pinned, timeout: idle }, resolve);
        r.on("timeout", () =>
          r.destroy(new UnreachableError(`no answer from ${target.display} within ${idle / 1000} s`)),
        );
        r.on("error", (err) =>
          reject(
            err instanceof NetGuardError
              ? err
              : new UnreachableError(
                  `cannot reach ${target.display}: ${(err as NodeJS.ErrnoException).code ?? "connection failed"}`,
                ),
          ),
        );
        r.end(payload);
      });
      res.setTimeout(idle, () =>
        res.destroy(new UnreachableError(`no data from ${target.display} within ${idle / 1000} s`)),
      );
      const status = res.statusCode ?? 0;
      const base = {
        url: req.url,
        method,
        statusCode: status,
        statusMessage: http.STATUS_CODES[status] ?? "",
        headers: headersOf(res),
      };
      if (status >= 300 && status < 400) {
        res.destroy();
        throw new UrlRefusedError(
          target.display,
          `the server answered with a redirect (HTTP ${status}); redirects are not followed, so register the repository's final URL`,
        );
      }
      if (status < 200 || status >= 300) {
        res.destroy();
        return { ...base, body: empty() };
      }
      return { ...base, body: capped(res, target.display, limit) };
    },
  };
}

/** isomorphic-git error codes whose messages quote what the server sent. */
const QUOTING_CODES: Record<string, string> = {
  SmartHttpError: "the server did not answer as a Git smart HTTP server",
  ParseError: "the server's answer is not valid Git protocol",
  EmptyServerResponseError: "the server's answer was empty",
  RemoteCapabilityError: "the server lacks a capability the fetch needs",
  UnknownTransportError: "the URL's transport is not supported",
};

/**
 * One line saying why a Git operation over {@link guardedGitHttp} failed, built from codes and
 * statuses only: never a server's body or status text.
 */
export function describeGitError(err: unknown): string {
  if (err instanceof NetGuardError) return err.message;
  const e = err as { code?: string; errno?: number; syscall?: string; data?: { statusCode?: number } };
  if (e?.code === "HttpError") {
    const status = e.data?.statusCode ?? 0;
    if (status === 401 || status === 403)
      return `HTTP ${status} ${http.STATUS_CODES[status]}: check the Git credentials`;
    return `HTTP ${status} ${http.STATUS_CODES[status] ?? ""}`.trim();
  }
  if (e?.code === "UserCanceledError") return "HTTP 401 Unauthorized: no Git credentials match this URL";
  if (e?.code && QUOTING_CODES[e.code]) return `${QUOTING_CODES[e.code]} (${e.code})`;
  if (e?.code && e.syscall) return `${e.syscall} ${e.code}`;
  if (e?.code === "NotFoundError") return "the branch is not on the server";
  return `the Git operation failed (${e?.code ?? (err instanceof Error ? err.name : "unknown error")})`;
}
