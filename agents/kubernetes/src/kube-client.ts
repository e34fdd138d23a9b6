/**
 * A small dynamic Kubernetes client over HTTPS, authenticated from a kubeconfig or service account.
 *
 * Why not `KubernetesObjectApi.patch` from @kubernetes/client-node 1.x: it re-serializes every
 * object through the typed models of known kinds, which silently drops fields the model does
 * not know. A manifest with a misspelt field would then apply "successfully" without it, and
 * validation with `fieldValidation=Strict` could never catch it. This client sends the rendered
 * JSON as-is and reads responses as plain JSON (timestamps stay strings for drift comparison).
 */
import * as http from "node:http";
import * as https from "node:https";
import { KubeApiError } from "./errors.js";
import type { KubeTarget } from "./kubeconfig.js";
import {
  apiVersionOf,
  FIELD_MANAGER,
  type KubeObject,
  type ObjectMeta,
  type Ref,
  refOf,
  splitApiVersion,
} from "./objects.js";

/** How the API server serves one kind. */
export interface Mapping {
  /** Plural resource name in URLs. */
  resource: string;
  namespaced: boolean;
  /** Whether the API serves `<resource>/status`: a controller is meant to write its status. */
  statusSubresource: boolean;
}

/** Options of a server-side apply. */
export interface ApplyOptions {
  /** Validate and compute the result without persisting it. @default false */
  dryRun?: boolean;
  /** Field manager the fields are applied as. @default {@link FIELD_MANAGER} */
  fieldManager?: string;
}

/**
 * What the agent asks of the Kubernetes API: the seam between its decisions and the API server.
 * {@link KubeClient} speaks it over HTTPS; unit tests implement it in memory.
 */
export interface KubeApi {
  /** The API server's version, e.g. `v1.33.1`. */
  version(): Promise<string>;
  /** How `apiVersion`/`kind` is served; undefined when the API server does not serve it. */
  mapping(apiVersion: string, kind: string): Promise<Mapping | undefined>;
  /** Reads an object; undefined when it does not exist (or its kind is no longer served). */
  get(ref: Ref): Promise<KubeObject | undefined>;
  /** Reads only an object's metadata; undefined when it does not exist. */
  getMetadata(ref: Ref): Promise<ObjectMeta | undefined>;
  /**
   * Lists the metadata of every object of a kind in `namespace` ("" for cluster-scoped kinds);
   * undefined when the kind is not served.
   */
  listMetadata(apiVersion: string, kind: string, namespace: string): Promise<ObjectMeta[] | undefined>;
  /** Lists objects of a kind, optionally in one namespace and by label selector. */
  list(apiVersion: string, kind: string, namespace?: string, labelSelector?: string): Promise<KubeObject[]>;
  /** Server-side apply, forcing conflicts, with strict field validation; resolves the resulting object. */
  apply(obj: KubeObject, options?: ApplyOptions): Promise<KubeObject>;
  /** Creates `obj` unless it exists; resolves false when it already existed (left untouched). */
  create(obj: KubeObject): Promise<boolean>;
  /** Deletes an object in the background; an object already gone is fine. */
  delete(ref: Ref): Promise<void>;
}

/** Accept header asking for metadata only (no spec or status), which keeps ownership reads small. */
const METADATA_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";
const METADATA_LIST_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";

interface ApiResourceList {
  resources: { name: string; kind: string; namespaced: boolean }[];
}

/** Sockets kept open to the API server; above the apply concurrency so reads never queue behind applies. */
const MAX_SOCKETS = 32;
const REQUEST_TIMEOUT_MS = 30_000;

export class KubeClient implements KubeApi {
  readonly #server: URL;
  readonly #agent: http.Agent;
  readonly #discovery = new Map<string, Promise<ApiResourceList | undefined>>();

  constructor(private readonly target: KubeTarget) {
    this.#server = new URL(target.server);
    this.#agent =
      this.#server.protocol === "https:"
        ? new https.Agent({
            ca: target.ca,
            cert: target.cert,
            key: target.key,
            rejectUnauthorized: !target.insecureSkipTlsVerify,
            servername: target.servername,
            keepAlive: true,
            maxSockets: MAX_SOCKETS,
          })
        : new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
  }

  /** Closes idle sockets. */
  close(): void {
    this.#agent.destroy();
  }

  /**
   * Sends one request and resolves its parsed JSON body; any non-2xx answer is a KubeApiError.
   * A 401 is retried once when the credentials may have been replaced meanwhile (an exec
   * plugin's token revoked before its stated expiry).
   */
  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    contentType = "application/json",
    accept = "application/json",
  ): Promise<T> {
    // Read per request: service-account tokens rotate and exec plugin tokens expire.
    const authorization = await this.target.authorization();
    try {
      return await this.#send<T>(method, path, body, contentType, accept, authorization);
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 401 && this.target.unauthorized(authorization))) throw err;
      return this.#send<T>(method, path, body, contentType, accept, await this.target.authorization());
    }
  }

  #send<T>(
    method: string,
    path: string,
    body: unknown,
    contentType: string,
    accept: string,
    authorization: string | undefined,
  ): Promise<T> {
    const headers: http.OutgoingHttpHeaders = { accept };
    if (authorization) headers.authorization = authorization;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    if (payload) {
      headers["content-type"] = contentType;
      headers["content-length"] = payload.length;
    }
    const url = new URL(path, this.#server);
    const lib = url.protocol === "https:" ? https : http;
    return new Promise<T>((resolve, reject) => {
      const req = lib.request(url, { method, headers, agent: this.#agent, timeout: REQUEST_TIMEOUT_MS }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (err) => reject(new KubeApiError(0, "ConnectionLost", err.message, method, url.pathname)));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 0;
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          if (status >= 200 && status < 300) {
            resolve(parsed as T);
            return;
          }
          const s = (parsed ?? {}) as { reason?: string; message?: string };
          reject(new KubeApiError(status, s.reason ?? "", s.message ?? text.slice(0, 500), method, url.pathname));
        });
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
      req.on("error", (err) => reject(new KubeApiError(0, "Unreachable", err.message, method, url.pathname)));
      req.end(payload);
    });
  }

  /** The API server's version, e.g. `v1.33.1`. */
  async version(): Promise<string> {
    const v = await this.request<{ gitVersion?: string }>("GET", "/version");
    return v.gitVersion ?? "";
  }

  /** How `apiVersion`/`kind` is served; undefined when the API server does not serve it. */
  async mapping(apiVersion: string, kind: string): Promise<Mapping | undefined> {
    let list = await this.#discover(apiVersion);
    let found = list?.resources.find((r) => r.kind === kind && !r.name.includes("/"));
    if (!found) {
      // A CRD may have been established since the last lookup.
      this.#discovery.delete(apiVersion);
      list = await this.#discover(apiVersion);
      found = list?.resources.find((r) => r.kind === kind && !r.name.includes("/"));
    }
    if (!found) return undefined;
    const statusName = `${found.name}/status`;
    const statusSubresource = list?.resources.some((r) => r.name === statusName) ?? false;
    return { resource: found.name, namespaced: found.namespaced, statusSubresource };
  }

  #discover(apiVersion: string): Promise<ApiResourceList | undefined> {
    let entry = this.#discovery.get(apiVersion);
    if (!entry) {
      const path = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
      entry = this.request<ApiResourceList>("GET", path).catch((err: unknown) => {
        this.#discovery.delete(apiVersion);
        if (err instanceof KubeApiError && err.status === 404) return undefined;
        throw err;
      });
      this.#discovery.set(apiVersion, entry);
    }
    return entry;
  }

  /** URL path of an object (or of its collection when `name` is omitted). */
  async pathOf(ref: Pick<Ref, "group" | "version" | "kind" | "namespace"> & { name?: string }): Promise<string> {
    const apiVersion = apiVersionOf(ref);
    const m = await this.mapping(apiVersion, ref.kind);
    if (!m) throw new KubeApiError(404, "NoKindMatch", `no kind ${ref.kind} is served in ${apiVersion}`, "GET", "");
    const base = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const ns = m.namespaced && ref.namespace ? `/namespaces/${encodeURIComponent(ref.namespace)}` : "";
    const name = ref.name ? `/${encodeURIComponent(ref.name)}` : "";
    return `${base}${ns}/${m.resource}${name}`;
  }

  /**
   * Server-side apply of `obj` (as field manager `flotilla` unless told otherwise), forcing
   * conflicts (Git is the source of truth) and validating fields strictly, so unknown fields are
   * errors, not silently dropped.
   */
  async apply(obj: KubeObject, options: ApplyOptions = {}): Promise<KubeObject> {
    const query = new URLSearchParams({
      fieldManager: options.fieldManager ?? FIELD_MANAGER,
      force: "true",
      fieldValidation: "Strict",
    });
    if (options.dryRun) query.set("dryRun", "All");
    const path = await this.pathOf(refOf(obj));
    return this.request<KubeObject>("PATCH", `${path}?${query}`, obj, "application/apply-patch+yaml");
  }

  /**
   * Creates `obj` as field manager `flotilla` unless it exists; resolves false when it already
   * existed (left untouched).
   */
  async create(obj: KubeObject): Promise<boolean> {
    const { name: _name, ...collection } = refOf(obj);
    const query = new URLSearchParams({ fieldManager: FIELD_MANAGER, fieldValidation: "Strict" });
    try {
      await this.request("POST", `${await this.pathOf(collection)}?${query}`, obj);
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 409) return false;
      throw err;
    }
  }

  /** Reads an object; undefined when it does not exist (or its kind is no longer served). */
  async get(ref: Ref): Promise<KubeObject | undefined> {
    try {
      return await this.request<KubeObject>("GET", await this.pathOf(ref));
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  async getMetadata(ref: Ref): Promise<ObjectMeta | undefined> {
    try {
      const path = await this.pathOf(ref);
      const partial = await this.request<{ metadata?: ObjectMeta }>("GET", path, undefined, undefined, METADATA_ACCEPT);
      return partial.metadata;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  async listMetadata(apiVersion: string, kind: string, namespace: string): Promise<ObjectMeta[] | undefined> {
    const { group, version } = splitApiVersion(apiVersion);
    try {
      const path = await this.pathOf({ group, version, kind, namespace });
      const list = await this.request<{ items?: { metadata?: ObjectMeta }[] }>(
        "GET",
        path,
        undefined,
        undefined,
        METADATA_LIST_ACCEPT,
      );
      return (list.items ?? []).flatMap((item) => (item.metadata ? [item.metadata] : []));
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** Deletes an object in the background (dependents are collected by the garbage collector); 404 is fine. */
  async delete(ref: Ref): Promise<void> {
    try {
      await this.request("DELETE", await this.pathOf(ref), { propagationPolicy: "Background" });
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return;
      throw err;
    }
  }

  /** Lists objects of a kind, optionally in one namespace and by label selector. */
  async list(apiVersion: string, kind: string, namespace = "", labelSelector = ""): Promise<KubeObject[]> {
    const { group, version } = splitApiVersion(apiVersion);
    let path = await this.pathOf({ group, version, kind, namespace });
    if (labelSelector) path += `?labelSelector=${encodeURIComponent(labelSelector)}`;
    const list = await this.request<{ items?: KubeObject[] }>("GET", path);
    return (list.items ?? []).map((item) => ({ ...item, apiVersion, kind }));
  }
}
