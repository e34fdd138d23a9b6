/**
 * The hub's one client of a Prometheus-compatible query API, for waves' metric analyses: an
 * instant query (`GET /api/v1/query`) with a time limit, whose first sample's value is the
 * measurement. Thanos, Mimir, VictoriaMetrics and Cortex answer the same API. Credentials come
 * per query (an environment's own, sealed at rest) or from the hub's settings; they go only into
 * the Authorization header, never into an error or a log line.
 */

import type { PrometheusCredentials } from "@flotilla/api";

/** What the conductor needs of a metrics backend; tests fake this interface. */
export interface MetricQuerier {
  /**
   * The value of `query`'s first sample now; undefined when it returned no sample. Throws
   * MetricQueryError when the backend cannot answer (unreachable, timeout, bad query, refused
   * credentials). `credentials`, when given, replace the hub's own token for this query.
   */
  query(query: string, credentials?: PrometheusCredentials): Promise<number | undefined>;
}

/** A query the backend could not answer; the measurement is inconclusive. Retryable: the next round asks again. */
export class MetricQueryError extends Error {
  override name = "MetricQueryError";
  readonly retryable = true;
  constructor(
    readonly query: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(reason, options);
  }
}

/** Longest answer read from the backend: an instant query for one number is a few hundred bytes. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

export interface PrometheusOptions {
  /** Base URL, e.g. `http://prometheus:9090`. */
  url: string;
  /** Bearer token, when the backend needs one. */
  token?: string;
  /** One query's time limit. */
  timeoutMs: number;
}

/** An instant-query client over fetch; one request per query, no retries (the next round is the retry). */
export class PrometheusClient implements MetricQuerier {
  readonly #endpoint: URL;

  constructor(private readonly o: PrometheusOptions) {
    this.#endpoint = new URL("api/v1/query", o.url.endsWith("/") ? o.url : `${o.url}/`);
  }

  async query(query: string, credentials?: PrometheusCredentials): Promise<number | undefined> {
    const authorization = authorizationOf(credentials ?? (this.o.token ? { bearerToken: this.o.token } : undefined));
    let response: Response;
    try {
      response = await fetch(this.#endpoint, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          ...(authorization ? { authorization } : {}),
        },
        body: new URLSearchParams({ query }),
        redirect: "error",
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
    } catch (err) {
      const timedOut = (err as Error).name === "TimeoutError";
      throw new MetricQueryError(
        query,
        timedOut
          ? `Prometheus did not answer within ${this.o.timeoutMs} ms`
          : `Prometheus unreachable: ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (response.status === 401 || response.status === 403)
      throw new MetricQueryError(
        query,
        `Prometheus refused the hub's credentials (HTTP ${response.status}); check the environment's prometheusCredentials or FLOTILLA_HUB_PROMETHEUS_TOKEN`,
      );
    const text = await response.text();
    if (text.length > MAX_RESPONSE_BYTES)
      throw new MetricQueryError(query, `Prometheus answered more than ${MAX_RESPONSE_BYTES} bytes`);
    let body: PrometheusAnswer;
    try {
      body = JSON.parse(text) as PrometheusAnswer;
    } catch {
      throw new MetricQueryError(query, `Prometheus answered HTTP ${response.status} that is not JSON`);
    }
    if (body.status !== "success")
      throw new MetricQueryError(
        query,
        `Prometheus refused the query: ${body.errorType ?? ""} ${body.error ?? ""}`.trim(),
      );
    return firstValue(body.data, query);
  }
}

interface PrometheusAnswer {
  status: string;
  error?: string;
  errorType?: string;
  data?: { resultType: string; result: unknown };
}

/** The first sample's value of a vector or scalar answer; undefined when the vector is empty. */
function firstValue(data: PrometheusAnswer["data"], query: string): number | undefined {
  if (!data) throw new MetricQueryError(query, "Prometheus answered no data field");
  if (data.resultType === "scalar") return Number((data.result as [number, string])[1]);
  if (data.resultType === "vector") {
    const [first] = data.result as { value: [number, string] }[];
    return first ? Number(first.value[1]) : undefined;
  }
  throw new MetricQueryError(
    query,
    `the query gives a ${data.resultType}; write one that gives a single number (a vector or scalar)`,
  );
}

/** The Authorization header for `credentials`, or undefined without any. */
export function authorizationOf(credentials: PrometheusCredentials | undefined): string | undefined {
  if (!credentials) return undefined;
  if ("bearerToken" in credentials) return `Bearer ${credentials.bearerToken}`;
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, "utf8").toString("base64")}`;
}
