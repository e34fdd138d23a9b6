/**
 * The dashboard's client of the hub's API: same origin, the session cookie as credentials, the
 * CSRF header on every write. Bodies are typed by `@flotilla/api`'s schemas (types only: the
 * zod schemas stay out of the bundle).
 */
import {
  type App,
  type AppRefresh,
  type AppStatus,
  type AuditEntry,
  type ClusterDetail,
  type ClusterPage,
  CSRF_HEADER,
  type Identity,
  type List,
  type Repo,
  type RolloutCommand,
  type RolloutSummary,
  type RolloutView,
} from "@flotilla/api";

/** An answer other than 2xx, with the hub's one-line message. */
export class HubRequestError extends Error {
  override name = "HubRequestError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Page size when reading the cluster list. */
export const CLUSTER_PAGE = 500;

async function call<T>(method: string, path: string, init: { bearer?: string } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (method !== "GET") headers[CSRF_HEADER] = "1";
  if (init.bearer !== undefined) headers.authorization = `Bearer ${init.bearer}`;
  const res = await fetch(path, { method, headers, credentials: "same-origin" });
  if (res.status === 204) return undefined as T;
  const body = (await res.json().catch(() => ({}))) as { error?: string; message?: string };
  if (!res.ok) {
    throw new HubRequestError(
      res.status,
      body.error ?? String(res.status),
      body.message ?? `${method} ${path}: ${res.status}`,
    );
  }
  return body as T;
}

const enc = encodeURIComponent;

/** The calls the dashboard makes. */
export const hub = {
  login: (token: string) => call<Identity>("POST", "/v1/session", { bearer: token }),
  logout: () => call<void>("DELETE", "/v1/session"),
  whoami: () => call<Identity>("GET", "/v1/whoami"),
  async clusters(): Promise<ClusterPage["items"]> {
    const out: ClusterPage["items"] = [];
    let next: string | undefined;
    do {
      const page: ClusterPage = await call(
        "GET",
        `/v1/clusters?limit=${CLUSTER_PAGE}${next ? `&continue=${enc(next)}` : ""}`,
      );
      out.push(...page.items);
      next = page.continue;
    } while (next);
    return out;
  },
  cluster: (name: string) => call<ClusterDetail>("GET", `/v1/clusters/${enc(name)}`),
  apps: () => call<List<App>>("GET", "/v1/apps"),
  repos: () => call<List<Repo>>("GET", "/v1/repos"),
  refresh: (app: string) => call<AppRefresh>("POST", `/v1/apps/${enc(app)}/refresh`),
  appStatus: (app: string) => call<AppStatus>("GET", `/v1/apps/${enc(app)}/status`),
  rollouts: (q: { app?: string } = {}) =>
    call<List<RolloutSummary>>("GET", `/v1/rollouts${q.app ? `?app=${enc(q.app)}` : ""}`),
  rollout: (id: string) => call<RolloutView>("GET", `/v1/rollouts/${enc(id)}`),
  command: (id: string, command: RolloutCommand) => call<RolloutView>("POST", `/v1/rollouts/${enc(id)}/${command}`),
  audit: (q: { kind: string; object: string }) =>
    call<List<AuditEntry>>("GET", `/v1/audit?kind=${enc(q.kind)}&object=${enc(q.object)}`),
};
