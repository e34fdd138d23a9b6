/**
 * The few calls the harness makes to a hub's HTTP API (register a cluster, apply documents,
 * wait for clusters), and the raw request every test can make with the same token.
 */
import type { BootstrapBundle, ClusterDetail } from "@flotilla/api";
import { HubRequestError } from "./errors.js";
import { until } from "./wait.js";

/** Per-request timeout: a hub that does not answer in this time is stuck, not slow. */
export const HUB_REQUEST_TIMEOUT_MS = 30_000;
/** How often {@link HubApi.waitClustersReady} asks again. */
const CLUSTER_POLL_MS = 500;

/** What a request answered: its status, its body, and the body parsed as JSON when it is JSON. */
export interface HubResponse<T> {
  readonly status: number;
  readonly text: string;
  /** The parsed body; undefined when the body is not JSON. */
  readonly json: T | undefined;
}

/** Options of {@link HubApi.request}. */
export interface HubRequestOptions {
  /** The bearer token; `null` sends none. @default the token the client was made with */
  readonly token?: string | null;
  /** Of a body given as a string. @default "application/json" */
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** A hub's HTTP API as an admin reaches it. */
export class HubApi {
  constructor(
    readonly url: string,
    readonly token: string,
  ) {}

  /**
   * Sends one request and returns what the hub answered, whatever the status; a body that is
   * not a string is sent as JSON.
   */
  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    options: HubRequestOptions = {},
  ): Promise<HubResponse<T>> {
    const headers: Record<string, string> = { ...options.headers };
    const token = options.token === undefined ? this.token : options.token;
    if (token) headers.authorization = `Bearer ${token}`;
    let payload: string | undefined;
    if (body !== undefined) {
      headers["content-type"] = options.contentType ?? "application/json";
      payload = typeof body === "string" ? body : JSON.stringify(body);
    }
    const res = await fetch(new URL(path, this.url), {
      method,
      headers,
      signal: AbortSignal.timeout(HUB_REQUEST_TIMEOUT_MS),
      ...(payload !== undefined ? { body: payload } : {}),
    });
    const text = await res.text();
    let json: T | undefined;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, text, json };
  }

  /** Applies multi-document YAML (`flotilla apply`); throws unless the hub took all of it. */
  async apply(yaml: string): Promise<void> {
    const res = await this.request("POST", "/v1/apply", yaml, { contentType: "application/yaml" });
    if (res.status < 200 || res.status > 299) throw new HubRequestError("POST", "/v1/apply", res.status, res.text);
  }

  /** Registers a cluster and returns its agent's bootstrap bundle, which the hub hands out only now. */
  async registerCluster(name: string, labels: Readonly<Record<string, string>> = {}): Promise<BootstrapBundle> {
    const res = await this.request<BootstrapBundle>("POST", "/v1/clusters", { name, labels });
    if (res.status !== 201 || res.json === undefined) {
      throw new HubRequestError("POST", "/v1/clusters", res.status, res.text);
    }
    return res.json;
  }

  /** The state the hub gives a cluster (`Pending`, `Ready`, `Offline`, ...). */
  async clusterState(name: string): Promise<string | undefined> {
    const path = `/v1/clusters/${encodeURIComponent(name)}`;
    const res = await this.request<ClusterDetail>("GET", path);
    if (res.status !== 200) throw new HubRequestError("GET", path, res.status, res.text);
    return res.json?.status.state;
  }

  /**
   * Resolves once every named cluster is Ready; throws, naming the ones still waiting, after
   * `timeoutMs` or when `signal` aborts.
   */
  async waitClustersReady(names: readonly string[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
    let waiting = [...names];
    try {
      await until(
        "every cluster to be Ready",
        async () => {
          signal?.throwIfAborted();
          const states = await Promise.all(names.map((n) => this.clusterState(n)));
          waiting = names.filter((_, i) => states[i] !== "Ready");
          return waiting.length === 0;
        },
        timeoutMs,
        CLUSTER_POLL_MS,
      );
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new Error(`clusters not Ready within ${timeoutMs / 1000} s: ${waiting.join(", ")}`, { cause: err });
    }
  }
}
