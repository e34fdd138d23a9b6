import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { setTimeout as sleep } from "node:timers/promises";
import { ReadinessTimeoutError } from "../errors.js";
import type { KeyPair } from "./pki.js";

/** How often readiness conditions are polled. */
const POLL_INTERVAL_MS = 200;
/** Time limit of one probe request. */
const REQUEST_TIMEOUT_MS = 5_000;

/**
 * Polls `check` until it returns a value other than `undefined`, and returns it.
 * Before each attempt `abort()` may throw to stop waiting (say, because the
 * process being waited for has exited); an error from `check` counts as "not
 * yet" and is kept as the cause of the timeout.
 */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined>,
  options: { readonly timeoutMs: number; readonly abort?: () => void },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    options.abort?.();
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new ReadinessTimeoutError(what, options.timeoutMs, { cause: lastError });
    }
    await sleep(POLL_INTERVAL_MS);
  }
}

/** TLS material for probing the apiserver as a client. */
export interface ClientTls {
  readonly ca: string;
  readonly client: KeyPair;
}

/**
 * GETs `url` (http or https; https with the given CA and client certificate)
 * and returns status and body. Used for health endpoints, which need no client
 * library and must work before any API is served.
 */
export function get(url: string, tls?: ClientTls): Promise<{ status: number; body: string }> {
  const https = url.startsWith("https:");
  const request = https ? httpsRequest : httpRequest;
  const tlsOptions =
    https && tls !== undefined
      ? {
          ca: readFileSync(tls.ca),
          cert: readFileSync(tls.client.cert),
          key: readFileSync(tls.client.key),
        }
      : {};
  return new Promise((resolve, reject) => {
    const req = request(url, { ...tlsOptions, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer from ${url} in ${REQUEST_TIMEOUT_MS} ms`)));
    req.on("error", reject);
    req.end();
  });
}
