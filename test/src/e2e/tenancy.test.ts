/**
 * Teams as tenants, end to end: two hub replicas (their built command) over a real nats-server in
 * operator mode, redis-server and Git smart-HTTP server. Teams `a` and `b` each own a repo, apps
 * and rollouts; tokens of every role are minted through the API and used as a client would.
 *
 * - Every operation of `@flotilla/api` is called with a member of `a`, a viewer and a viewer of
 *   `a`, on `a`'s objects and on `b`'s; what each must answer (403, or not refused) is derived
 *   from the operation's declared scope, so a route without one fails here.
 * - A revoked or expired token is refused (401) by both replicas within a second, and no token
 *   appears anywhere in Redis.
 * - The audit trail lists every change with its actor, and never key material.
 * - The HTTP edge: a trickled body is cut off, a token's streams are capped, failed
 *   authentications are throttled per address.
 *
 * Requests go out through node:http with a chosen loopback source address (127.0.0.x): failed
 * authentications are counted per address, so each phase that fails on purpose uses its own.
 */
import { request as httpRequest } from "node:http";
import { connect as netConnect } from "node:net";
import { type OperationId, operations, PERMISSIONS, PUBLIC_SCOPE, type Role, type Scope } from "@flotilla/api";
import { type Fleet, type HubProcess, startFleet, waitsOf } from "@flotilla/devfleet";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/** A parsed JSON body. */
type Json = ReturnType<typeof JSON.parse>;

const until = waitsOf(60_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Failed authentications an address may make per minute on these hubs. */
const AUTH_FAILURE_LIMIT = 50;
const MAX_STREAMS = 2;
/** The address every request comes from unless a phase fails on purpose. */
const HOME = "127.0.0.1";

/** What a request sends. */
interface Req {
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
  contentType?: string;
}

interface Reply {
  status: number;
  text: string;
  json: Json;
}

/**
 * One request through node:http from `from`. An event stream resolves at its headers and is
 * closed, unless `keep` is given, which receives the open response's closer.
 */
function send(
  base: string,
  method: string,
  path: string,
  o: Req & { token?: string; from?: string; keep?: (close: () => void, ended: Promise<void>) => void } = {},
): Promise<Reply> {
  const url = new URL(path, base);
  for (const [k, v] of Object.entries(o.query ?? {})) url.searchParams.set(k, v);
  const headers: Record<string, string> = {};
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  let payload: string | undefined;
  if (o.body !== undefined) {
    headers["content-type"] = o.contentType ?? "application/json";
    payload = typeof o.body === "string" ? o.body : JSON.stringify(o.body);
  }
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method, headers, localAddress: o.from ?? HOME, agent: false, timeout: 30_000 },
      (res) => {
        if ((res.headers["content-type"] ?? "").startsWith("text/event-stream")) {
          const ended = new Promise<void>((done) => res.on("close", () => done()));
          // Read (and drop) the events, so the end of the stream is seen when the hub ends it.
          res.resume();
          if (o.keep) o.keep(() => res.destroy(), ended);
          else res.destroy();
          resolve({ status: res.statusCode ?? 0, text: "", json: undefined });
          return;
        }
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => {
          let json: Json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, text, json });
        });
      },
    );
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer`)));
    req.end(payload);
  });
}

/** The path of an operation with its parameters filled in. */
function pathOf(id: OperationId, params: Record<string, string> = {}): string {
  return operations[id].path.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`${id}: give path parameter ${name}`);
    return encodeURIComponent(value);
  });
}

/** Sends operation `id` as `req` describes it. */
function sendOp(base: string, id: OperationId, req: Req, o: { token?: string; from?: string } = {}): Promise<Reply> {
  const op = operations[id];
  const contentType = id === "apply" ? "application/yaml" : undefined;
  return send(base, op.method, pathOf(id, req.params), { ...req, ...o, ...(contentType ? { contentType } : {}) });
}

/** A token of the matrix: its role and team, as minted. */
interface Minted {
  id: string;
  token: string;
  role: Role;
  team?: string;
}

/**
 * What a token of `role` (with `team`) must get from an operation with `scope`, on an object of
 * its own team or of another: refused (403), or let through. Derived from the declared
 * permission table, independently of the hub's code.
 */
function expectation(
  role: Role,
  team: string | undefined,
  scope: Scope,
  target: "own" | "other",
): "refused" | "allowed" {
  const reach = PERMISSIONS[role][scope.resource][scope.action];
  if (reach === "none") return "refused";
  if (reach === "all" || team === undefined) return "allowed";
  const namesObjects = scope.object !== undefined || scope.also !== undefined || scope.documents === true;
  if (!namesObjects) return "allowed";
  return target === "own" ? "allowed" : "refused";
}

/** The operations that need no token: making another one public must be a decision, seen here. */
const PUBLIC_OPERATIONS: readonly OperationId[] = [
  "getHealth",
  "getReadiness",
  "getMetrics",
  "receiveGitWebhook",
  "registerAgent",
  "deleteSession",
];

describe("teams as tenants", () => {
  let fleet: Fleet;
  let hubs: HubProcess[];
  let base: string;
  let adminToken: string;
  let repoSpec: (team: string, repo: "ra" | "rb") => Json;
  const rollouts = { a: "", b: "" };
  const tokens: Record<"memberA" | "viewer" | "viewerA" | "memberB", Minted> = {} as Record<
    "memberA" | "viewer" | "viewerA" | "memberB",
    Minted
  >;
  /** Every token minted in this file, for the scan of Redis. */
  const minted: string[] = [];
  let bundleKey = "";
  let bundleCreds = "";

  /** As the admin, on the first replica: throws unless the status is `status`. */
  async function admin(method: string, path: string, body?: unknown, status?: number): Promise<Json> {
    const res = await send(base, method, path, {
      token: adminToken,
      ...(body !== undefined ? { body } : {}),
      ...(typeof body === "string" ? { contentType: "application/yaml" } : {}),
    });
    if (status !== undefined) expect(res.status, `${method} ${path}: ${res.text}`).toBe(status);
    return res.json;
  }

  async function mint(role: Role, team?: string, expiresInSeconds?: number): Promise<Minted> {
    const body = { role, ...(team ? { team } : {}), ...(expiresInSeconds ? { expiresInSeconds } : {}) };
    const res: Json = await admin("POST", "/v1/tokens", body, 201);
    minted.push(res.token);
    return { id: res.id, token: res.token, role, ...(team ? { team } : {}) };
  }

  beforeAll(async () => {
    fleet = await startFleet({
      operatorMode: true,
      hubReplicas: 2,
      hubEnv: {
        FLOTILLA_HUB_POLL_INTERVAL: "1s",
        FLOTILLA_HUB_REQUEST_TIMEOUT: "2s",
        FLOTILLA_HUB_MAX_STREAMS_PER_TOKEN: String(MAX_STREAMS),
        FLOTILLA_HUB_AUTH_FAILURE_LIMIT: String(AUTH_FAILURE_LIMIT),
        FLOTILLA_LOG_LEVEL: "info",
      },
      repos: {
        ra: { main: { "deploy/app.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n" } },
        rb: { main: { "deploy/app.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n" } },
      },
    });
    hubs = [...fleet.hubs];
    base = fleet.hub.url;
    adminToken = fleet.token;
    const { git } = fleet;
    repoSpec = (team, repo) => ({
      team,
      url: fleet.repo(repo).url,
      branches: { prod: "main" },
      pollIntervalSeconds: 1,
      credentials: { username: git.username, password: git.password },
    });

    await admin("POST", "/v1/teams", { name: "a" }, 201);
    await admin("POST", "/v1/teams", { name: "b" }, 201);
    await admin("POST", "/v1/environments", { name: "prod", policy: { waves: [{ name: "all" }] } }, 201);
    const bundle: Json = await admin("POST", "/v1/clusters", { name: "c1", labels: { env: "prod" } }, 201);
    bundleKey = bundle.agentSigningKey;
    bundleCreds = bundle.natsCreds;
    await admin("POST", "/v1/repos", { name: "ra", ...repoSpec("a", "ra") }, 201);
    await admin("POST", "/v1/repos", { name: "rb", ...repoSpec("b", "rb") }, 201);
    for (const [name, repo, ns] of [
      ["aa", "ra", "a"],
      ["ab", "rb", "b"],
      ["aa-spare", "ra", "a"],
    ] as const) {
      await admin("POST", "/v1/apps", { name, repo, path: "deploy", namespace: ns }, 201);
    }
    tokens.memberA = await mint("member", "a");
    tokens.memberB = await mint("member", "b");
    tokens.viewer = await mint("viewer");
    tokens.viewerA = await mint("viewer", "a");
    // The tracker creates each app's first rollout; the cluster has no agent, so they wait.
    await until("a rollout of aa and of ab", async () => {
      const list: Json = await admin("GET", "/v1/rollouts", undefined, 200);
      rollouts.a = list.items.find((r: Json) => r.app === "aa")?.id ?? "";
      rollouts.b = list.items.find((r: Json) => r.app === "ab")?.id ?? "";
      return rollouts.a !== "" && rollouts.b !== "";
    });
  }, 180_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  /**
   * The calls of the matrix, per operation: `own` touches team a's objects (or the fleet's),
   * `other` team b's. Writes a member of a may make are made for real, on objects made for it.
   */
  function callsOf(id: OperationId): { own: Req; other?: Req } {
    const yamlRepo = (name: string, team: string, repo: "ra" | "rb") =>
      `apiVersion: flotilla.dev/v1\nkind: Repo\nmetadata: { name: ${name} }\nspec: ${JSON.stringify(repoSpec(team, repo))}\n`;
    switch (id) {
      case "getHealth":
      case "getReadiness":
      case "getMetrics":
      case "getOpenApi":
      case "getHub":
      case "whoami":
      case "createSession":
      case "deleteSession":
      case "listClusters":
      case "listTeams":
      case "listRepos":
      case "listApps":
      case "listEnvironments":
      case "listRollouts":
      case "listTokens":
      case "getFleetStatus":
      case "streamEvents":
      case "createEventsToken":
      case "getHubKeys":
      case "startKeyRotation":
        return { own: {} };
      case "finishKeyRotation":
        return { own: { body: {} } };
      case "receiveGitWebhook":
        return { own: { params: { repo: "ra" }, body: {} } };
      case "registerAgent":
        return { own: { params: { name: "c1" }, body: { token: "flreg_none", natsUserPublicKey: "U" } } };
      case "createCluster":
        return { own: { body: { name: "c-new", labels: {} } } };
      case "getCluster":
      case "deleteCluster":
      case "rotateClusterCredentials":
        return { own: { params: { name: "c1" } } };
      case "replaceCluster":
        return { own: { params: { name: "c1" }, body: { labels: { env: "prod" } } } };
      case "createRegistrationToken":
        return { own: { params: { name: "c1" }, body: {} } };
      case "revokeRegistrationTokens":
        return { own: { params: { name: "c1" } } };
      case "createTeam":
        return { own: { body: { name: "t-new" } } };
      case "getTeam":
      case "deleteTeam":
        return { own: { params: { name: "a" } }, other: { params: { name: "b" } } };
      case "replaceTeam":
        return { own: { params: { name: "a" }, body: {} }, other: { params: { name: "b" }, body: {} } };
      case "createEnvironment":
        return { own: { body: { name: "staging" } } };
      case "getEnvironment":
      case "deleteEnvironment":
        return { own: { params: { name: "prod" } } };
      case "replaceEnvironment":
        return { own: { params: { name: "prod" }, body: {} } };
      case "createRepo":
        return {
          own: { body: { name: "ra-new", ...repoSpec("a", "ra") } },
          other: { body: { name: "rb-new", ...repoSpec("b", "rb") } },
        };
      case "getRepo":
        return { own: { params: { name: "ra" } }, other: { params: { name: "rb" } } };
      case "replaceRepo":
        return {
          own: { params: { name: "ra" }, body: repoSpec("a", "ra") },
          other: { params: { name: "rb" }, body: repoSpec("b", "rb") },
        };
      case "deleteRepo":
        // ra still has apps: a member of a is let through, and the hub answers 409.
        return { own: { params: { name: "ra" } }, other: { params: { name: "rb" } } };
      case "createApp":
        return {
          own: { body: { name: "aa-new", repo: "ra", path: "deploy", namespace: "a" } },
          other: { body: { name: "ab-new", repo: "rb", path: "deploy", namespace: "b" } },
        };
      case "getApp":
        return { own: { params: { name: "aa" } }, other: { params: { name: "ab" } } };
      case "replaceApp":
        return {
          own: { params: { name: "aa" }, body: { repo: "ra", path: "deploy", namespace: "a" } },
          other: { params: { name: "ab" }, body: { repo: "rb", path: "deploy", namespace: "b" } },
        };
      case "deleteApp":
        return { own: { params: { name: "aa-spare" } }, other: { params: { name: "ab" } } };
      case "getAppStatus":
      case "diffApp":
      case "refreshApp":
        return { own: { params: { app: "aa" } }, other: { params: { app: "ab" } } };
      case "previewPlan":
        return {
          own: { params: { env: "prod" }, body: { app: "aa" } },
          other: { params: { env: "prod" }, body: { app: "ab" } },
        };
      case "getRollout":
        return { own: { params: { id: rollouts.a } }, other: { params: { id: rollouts.b } } };
      case "commandRollout":
        return {
          own: { params: { id: rollouts.a, command: "pause" } },
          other: { params: { id: rollouts.b, command: "pause" } },
        };
      case "apply":
        return { own: { body: yamlRepo("ra", "a", "ra") }, other: { body: yamlRepo("rb", "b", "rb") } };
      case "createToken":
        return { own: { body: { role: "viewer", team: "a" } } };
      case "revokeToken":
        return { own: { params: { id: tokens.memberB.id } } };
      case "listAudit":
        return { own: { query: { team: "a" } }, other: { query: { team: "b" } } };
      case "listFreezes":
      case "unfreezeFleet":
        return { own: {} };
      case "freezeFleet":
        return { own: { body: { reason: "tenancy matrix" } } };
      case "freezeEnvironment":
        return { own: { params: { env: "prod" }, body: { reason: "tenancy matrix" } } };
      case "unfreezeEnvironment":
        return { own: { params: { env: "prod" } } };
      case "overrideRollout":
        return { own: { params: { id: rollouts.a } }, other: { params: { id: rollouts.b } } };
      case "listReceivers":
        return { own: {} };
      case "replaceReceiver":
        return { own: { params: { name: "r-new" }, body: { type: "slack", url: "https://hooks.example.com/x" } } };
      case "getReceiver":
      case "deleteReceiver":
      case "listDeliveries":
        return { own: { params: { name: "r-new" } } };
    }
  }

  it("answers every operation as its declared scope says, for a member of a, a viewer and a viewer of a", async () => {
    const rows: string[] = [];
    for (const [id, op] of Object.entries(operations) as [OperationId, (typeof operations)[OperationId]][]) {
      expect(op.scope, `${id} declares no scope`).toBeDefined();
      const scope = op.scope;
      if (scope === PUBLIC_SCOPE) {
        expect(PUBLIC_OPERATIONS, `${id} is public`).toContain(id);
        continue;
      }
      expect(PUBLIC_OPERATIONS, `${id} needs a token`).not.toContain(id);
      const calls = callsOf(id);
      for (const who of ["memberA", "viewer", "viewerA"] as const) {
        const t = tokens[who];
        for (const target of ["own", "other"] as const) {
          const req = target === "own" ? calls.own : calls.other;
          if (!req) continue;
          const want = expectation(t.role, t.team, scope, target);
          const res = await sendOp(base, id, req, { token: t.token });
          const where = `${who} ${id} on ${target} (${scope.action}:${scope.resource}) answered ${res.status} ${res.text.slice(0, 200)}`;
          if (want === "refused") {
            expect(res.status, where).toBe(403);
            expect(res.json.error, where).toBe("forbidden");
            expect(res.json.message, where).not.toContain("\n");
          } else {
            expect([401, 403, 429], where).not.toContain(res.status);
          }
          rows.push(`${who} ${target} ${id}: ${res.status}`);
        }
      }
    }
    process.stdout.write(`scope matrix: ${rows.length} requests over ${Object.keys(operations).length} operations\n`);
  });

  it("refuses a member of a every write to team b's repos, apps and rollouts, to clusters, environments, teams and tokens", async () => {
    const m = tokens.memberA.token;
    const refused: [OperationId, Req][] = [
      ["createRepo", { body: { name: "rb-2", ...repoSpec("b", "rb") } }],
      ["replaceRepo", { params: { name: "rb" }, body: repoSpec("b", "rb") }],
      // Its own repo, given to team b.
      ["replaceRepo", { params: { name: "ra" }, body: repoSpec("b", "ra") }],
      ["deleteRepo", { params: { name: "rb" } }],
      ["createApp", { body: { name: "ab-2", repo: "rb", namespace: "b" } }],
      ["replaceApp", { params: { name: "ab" }, body: { repo: "rb", namespace: "b" } }],
      // Its own app, moved onto team b's repo.
      ["replaceApp", { params: { name: "aa" }, body: { repo: "rb", namespace: "a" } }],
      ["deleteApp", { params: { name: "ab" } }],
      ...(["pause", "resume", "promote", "abort", "rollback"] as const).map((command): [OperationId, Req] => [
        "commandRollout",
        { params: { id: rollouts.b, command } },
      ]),
      ["createCluster", { body: { name: "c-2", labels: { env: "prod" } } }],
      ["replaceCluster", { params: { name: "c1" }, body: { labels: { env: "prod", mine: "yes" } } }],
      ["rotateClusterCredentials", { params: { name: "c1" } }],
      ["createRegistrationToken", { params: { name: "c1" }, body: { ttlSeconds: 60 } }],
      ["revokeRegistrationTokens", { params: { name: "c1" } }],
      ["deleteCluster", { params: { name: "c1" } }],
      ["createEnvironment", { body: { name: "dev" } }],
      ["replaceEnvironment", { params: { name: "prod" }, body: {} }],
      ["deleteEnvironment", { params: { name: "prod" } }],
      ["createTeam", { body: { name: "c" } }],
      ["replaceTeam", { params: { name: "a" }, body: { description: "ours now" } }],
      ["createToken", { body: { role: "admin" } }],
      ["createToken", { body: { role: "member", team: "a" } }],
      ["apply", { body: "apiVersion: flotilla.dev/v1\nkind: Cluster\nmetadata: { name: c-3 }\nspec: {}\n" }],
    ];
    for (const [id, req] of refused) {
      const res = await sendOp(base, id, req, { token: m });
      expect(res.status, `${id} ${JSON.stringify(req)}: ${res.text}`).toBe(403);
    }

    // A file mixing a's and b's objects is refused whole, naming the document; nothing is written.
    const mixed = `apiVersion: flotilla.dev/v1
kind: App
metadata: { name: aa-mixed }
spec: { repo: ra, namespace: a }
---
apiVersion: flotilla.dev/v1
kind: App
metadata: { name: ab }
spec: { repo: rb, namespace: b, prune: true }
`;
    const res = await sendOp(base, "apply", { body: mixed }, { token: m });
    expect(res.status, res.text).toBe(403);
    expect(res.json.message).toMatch(/^document 2 \(App "ab"\): .*app "ab": it belongs to team "b"$/);
    expect((await admin("GET", "/v1/apps/aa-mixed")).error).toBe("not_found");
    expect((await admin("GET", "/v1/apps/ab", undefined, 200)).prune).toBe(false);
    expect(await admin("GET", "/v1/clusters", undefined, 200)).toMatchObject({ items: [{ name: "c1" }] });
  });

  it("lets a member of a change its own team's repos, apps and rollouts (2xx), and lists only a's", async () => {
    const m = { token: tokens.memberA.token };
    const ok = async (id: OperationId, req: Req, status: number) => {
      const res = await sendOp(base, id, req, m);
      expect(res.status, `${id}: ${res.text}`).toBe(status);
      return res.json;
    };
    await ok("createRepo", { body: { name: "ra-2", ...repoSpec("a", "ra") } }, 201);
    await ok(
      "replaceRepo",
      { params: { name: "ra-2" }, body: { ...repoSpec("a", "ra"), pollIntervalSeconds: 2 } },
      200,
    );
    await ok("createApp", { body: { name: "aa-2", repo: "ra-2", namespace: "a" } }, 201);
    await ok("replaceApp", { params: { name: "aa-2" }, body: { repo: "ra-2", namespace: "a-web" } }, 200);
    await ok("commandRollout", { params: { id: rollouts.a, command: "resume" } }, 200);
    await ok("commandRollout", { params: { id: rollouts.a, command: "pause" } }, 200);
    await ok("commandRollout", { params: { id: rollouts.a, command: "resume" } }, 200);
    const apply = `apiVersion: flotilla.dev/v1
kind: App
metadata: { name: aa-3 }
spec: { repo: ra-3, namespace: a }
---
apiVersion: flotilla.dev/v1
kind: Repo
metadata: { name: ra-3 }
spec: ${JSON.stringify(repoSpec("a", "ra"))}
`;
    const applied = await ok("apply", { body: apply }, 200);
    expect(applied.results.map((r: Json) => r.action)).toEqual(["created", "created"]);
    await ok("deleteApp", { params: { name: "aa-3" } }, 204);
    await ok("deleteRepo", { params: { name: "ra-3" } }, 204);

    const apps = await ok("listApps", {}, 200);
    expect(apps.items.map((a: Json) => a.name).sort()).toEqual(["aa", "aa-2", "aa-new"]);
    const repos = await ok("listRepos", {}, 200);
    expect(repos.items.every((r: Json) => r.team === "a")).toBe(true);
    const list = await ok("listRollouts", {}, 200);
    expect(new Set(list.items.map((r: Json) => r.app))).not.toContain("ab");
    // The fleet is read whole: clusters, environments, teams.
    expect((await ok("listTeams", {}, 200)).items.map((t: Json) => t.name)).toEqual(expect.arrayContaining(["a", "b"]));
    expect(await ok("whoami", {}, 200)).toEqual({ tokenId: tokens.memberA.id, role: "member", team: "a" });
  });

  it("refuses a repo whose URL and an app whose namespace break the team's policy, naming the rule; targets only the team's clusters", async () => {
    const gitBase = fleet.git.baseUrl;
    const policy = { repoUrls: [`${gitBase}/ra.git`], namespaces: ["p", "p-*"], clusterSelector: { tier: "gold" } };
    await admin("POST", "/v1/teams", { name: "p", policy }, 201);
    expect((await admin("GET", "/v1/teams/p", undefined, 200)).policy).toEqual(policy);

    const repo = await sendOp(
      base,
      "createRepo",
      { body: { name: "rp", ...repoSpec("p", "rb") } },
      { token: adminToken },
    );
    expect(repo.status, repo.text).toBe(400);
    expect(repo.json).toMatchObject({ error: "invalid_request", field: "url" });
    expect(repo.json.message).toBe(
      `url: ${fleet.repo("rb").url} is not allowed by team p's policy.repoUrls (${gitBase}/ra.git)`,
    );
    await admin("POST", "/v1/repos", { name: "rp", ...repoSpec("p", "ra") }, 201);

    const app = await sendOp(
      base,
      "createApp",
      { body: { name: "ap", repo: "rp", namespace: "a" } },
      { token: adminToken },
    );
    expect(app.status, app.text).toBe(400);
    expect(app.json).toMatchObject({ error: "invalid_request", field: "namespace" });
    expect(app.json.message).toBe("namespace: namespace a is not allowed by team p's policy.namespaces (p, p-*)");
    // In an apply, naming the document and its field; the default policy of team a is a and a-*.
    const applied = await sendOp(
      base,
      "apply",
      { body: "apiVersion: flotilla.dev/v1\nkind: App\nmetadata: { name: aa-b }\nspec: { repo: ra, namespace: b }\n" },
      { token: tokens.memberA.token },
    );
    expect(applied.status, applied.text).toBe(400);
    expect(applied.json).toMatchObject({ field: "spec.namespace", document: 'document 1 (App "aa-b")' });
    expect(applied.json.message).toMatch(/namespace b is not allowed by team a's policy\.namespaces \(a, a-\*\)$/);

    // Team p's apps may target only clusters labelled tier=gold: c1 is not one.
    await admin("POST", "/v1/apps", { name: "ap", repo: "rp", path: "deploy", namespace: "p" }, 201);
    const plan = await admin("POST", "/v1/environments/prod/plan", { app: "ap" }, 200);
    expect(plan.waves.flatMap((w: Json) => w.clusters)).toEqual([]);
    const planA = await admin("POST", "/v1/environments/prod/plan", { app: "aa" }, 200);
    expect(planA.waves.flatMap((w: Json) => w.clusters)).toEqual(["c1"]);
  });

  it("refuses a viewer every write", async () => {
    let writes = 0;
    for (const [id, op] of Object.entries(operations) as [OperationId, (typeof operations)[OperationId]][]) {
      if (op.scope === PUBLIC_SCOPE || op.scope.action !== "write") continue;
      writes++;
      for (const who of ["viewer", "viewerA"] as const) {
        const res = await sendOp(base, id, callsOf(id).own, { token: tokens[who].token });
        expect(res.status, `${who} ${id}: ${res.text}`).toBe(403);
      }
    }
    expect(writes).toBeGreaterThan(15);
  });

  it("refuses a revoked token on both replicas within a second, and ends its event streams", async () => {
    const t = await mint("member", "a");
    for (const hub of hubs) expect((await send(hub.url, "GET", "/v1/whoami", { token: t.token })).status).toBe(200);
    let streamEnded: Promise<number> | undefined;
    const opened = await send(hubs[1]?.url ?? "", "GET", "/v1/events", {
      token: t.token,
      keep: (_close, ended) => {
        streamEnded = ended.then(() => Date.now());
      },
    });
    expect(opened.status).toBe(200);

    await admin("DELETE", `/v1/tokens/${t.id}`, undefined, 204);
    const revokedAt = Date.now();
    // The replica that revoked forgets the token at once.
    expect((await send(base, "GET", "/v1/whoami", { token: t.token, from: "127.0.0.5" })).status).toBe(401);
    const other = hubs[1]?.url ?? "";
    await until(
      "the other replica to refuse the revoked token",
      async () => (await send(other, "GET", "/v1/whoami", { token: t.token, from: "127.0.0.5" })).status === 401,
      30_000,
    );
    process.stdout.write(`revocation seen by the other replica after ${Date.now() - revokedAt} ms\n`);

    // A second after the revocation, every route of both replicas refuses it.
    await sleep(Math.max(0, revokedAt + 1_000 - Date.now()));
    // Each request from an address of its own: there are more operations than the failure limit.
    for (const [i, hub] of hubs.entries()) {
      for (const [n, [id, op]] of (
        Object.entries(operations) as [OperationId, (typeof operations)[OperationId]][]
      ).entries()) {
        if (op.scope === PUBLIC_SCOPE) continue;
        const params = Object.fromEntries([...op.path.matchAll(/\{(\w+)\}/g)].map((m) => [m[1] ?? "", "x"]));
        const from = `127.0.${3 + i}.${n + 1}`;
        const res = await send(hub.url, op.method, pathOf(id, params), { token: t.token, from });
        expect(res.status, `replica ${i} ${id}: ${res.text}`).toBe(401);
        expect(res.json.message).toContain(`unknown or revoked token ${t.id}`);
      }
    }
    const endedAt = await streamEnded;
    process.stdout.write(
      `the revoked token's event stream ended ${(endedAt ?? 0) - revokedAt} ms after the revocation\n`,
    );
  });

  it("refuses an expired token on both replicas", async () => {
    const t = await mint("viewer", undefined, 2);
    const whoami: Json = (await send(base, "GET", "/v1/whoami", { token: t.token })).json;
    for (const hub of hubs) expect((await send(hub.url, "GET", "/v1/whoami", { token: t.token })).status).toBe(200);
    await sleep(Math.max(0, whoami.expiresAtMs + 50 - Date.now()));
    for (const hub of hubs) {
      const res = await send(hub.url, "GET", "/v1/whoami", { token: t.token, from: "127.0.0.6" });
      expect(res.status, res.text).toBe(401);
      expect(res.json.message).toMatch(new RegExp(`^token ${t.id} expired at `));
    }
  });

  it("records every change with its actor, and no key material", async () => {
    const all: Json = await admin("GET", "/v1/audit", undefined, 200);
    const entries: Json[] = (await admin("GET", "/v1/audit?limit=1000", undefined, 200)).items;
    expect(all.items.length).toBeLessThanOrEqual(100);
    const find = (pred: (e: Json) => boolean, what: string) => {
      const e = entries.find(pred);
      expect(e, what).toBeDefined();
      return e;
    };
    const registration = find((e) => e.action === "createCluster" && e.object === "c1", "the registration of c1");
    expect(registration).toMatchObject({
      kind: "Cluster",
      status: 201,
      actor: { tokenId: "bootstrap", role: "admin" },
    });
    expect(registration.digest).toMatch(/^[0-9a-f]{64}$/);
    find(
      (e) => e.action === "createRepo" && e.object === "ra" && e.actor.tokenId === "bootstrap",
      "repo ra by the admin",
    );
    const memberRepo = find((e) => e.action === "createRepo" && e.object === "ra-2", "repo ra-2 by the member");
    expect(memberRepo).toMatchObject({
      team: "a",
      status: 201,
      actor: { tokenId: tokens.memberA.id, role: "member", team: "a" },
    });
    find(
      (e) =>
        e.action === "commandRollout" &&
        e.detail === "pause" &&
        e.object === rollouts.a &&
        e.actor.tokenId === tokens.memberA.id,
      "the member's pause",
    );
    find(
      (e) => e.action === "apply" && e.kind === "Repo" && e.object === "ra-3" && e.detail === "created",
      "ra-3 applied",
    );
    find(
      (e) => e.action === "createToken" && e.object === tokens.memberA.id && e.team === "a",
      "the member's token minted",
    );
    find((e) => e.action === "revokeToken" && e.kind === "Token", "a token revoked");
    const refusal = find(
      (e) => e.action === "createCluster" && e.status === 403 && e.actor.tokenId === tokens.memberA.id,
      "the member's refused registration",
    );
    // Refused before its body was read: the entry names the kind, not the name it asked for.
    expect(refusal).toMatchObject({ kind: "Cluster", actor: { role: "member", team: "a" } });
    expect(entries.some((e) => e.action.startsWith("get") || e.action.startsWith("list"))).toBe(false);

    // No key material in the trail or in the hub's log; the log has each entry.
    const creds = bundleCreds.split("\n").filter((l: string) => l.length > 20);
    expect(creds.length).toBeGreaterThan(0);
    const trail = JSON.stringify(entries);
    const log = await fleet.hub.process.log();
    expect(log).toMatch(/"audit":.*"action":"createCluster".*"msg":"audit"/);
    for (const text of [trail, log]) {
      expect(text).not.toContain("PRIVATE KEY");
      expect(text).not.toContain(bundleKey.split("\n")[1] ?? "missing");
      for (const line of creds) expect(text).not.toContain(line);
      for (const token of minted) expect(text).not.toContain(token.slice(22));
    }

    // Filters, and a team's token reads only its team's entries.
    const clusters: Json = await admin("GET", "/v1/audit?kind=Cluster&object=c1", undefined, 200);
    expect(clusters.items.length).toBeGreaterThan(0);
    expect(clusters.items.every((e: Json) => e.kind === "Cluster" && e.object === "c1")).toBe(true);
    const later: Json = await admin(
      "GET",
      `/v1/audit?since=${new Date(Date.now() + 60_000).toISOString()}`,
      undefined,
      200,
    );
    expect(later.items).toEqual([]);
    const own = await send(base, "GET", "/v1/audit", { token: tokens.memberA.token });
    expect(own.status).toBe(200);
    expect(own.json.items.length).toBeGreaterThan(0);
    expect(own.json.items.every((e: Json) => e.team === "a" || e.actor.team === "a")).toBe(true);
    expect((await send(base, "GET", "/v1/audit", { token: tokens.memberA.token, query: { team: "b" } })).status).toBe(
      403,
    );
  });

  it("stores no token anywhere in Redis: every key and value scanned", async () => {
    const redis = new Redis(fleet.redis.url);
    try {
      const found: string[] = [];
      let scanned = 0;
      const check = (where: string, text: string) => {
        scanned++;
        for (const token of [...minted, adminToken]) {
          if (text.includes(token) || text.includes(token.slice(22))) found.push(where);
        }
      };
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "COUNT", 500);
        cursor = next;
        for (const key of keys) {
          check(`key ${key}`, key);
          const type = await redis.type(key);
          const values =
            type === "string"
              ? [(await redis.get(key)) ?? ""]
              : type === "hash"
                ? Object.entries(await redis.hgetall(key)).flat()
                : type === "set"
                  ? await redis.smembers(key)
                  : type === "zset"
                    ? await redis.zrange(key, 0, -1)
                    : type === "list"
                      ? await redis.lrange(key, 0, -1)
                      : type === "stream"
                        ? (await redis.xrange(key, "-", "+")).flatMap(([id, fields]) => [id, ...fields])
                        : [];
          for (const v of values) check(`value of ${key}`, v);
        }
      } while (cursor !== "0");
      process.stdout.write(`redis scan: ${scanned} keys and values, ${minted.length + 1} tokens looked for\n`);
      expect(scanned).toBeGreaterThan(50);
      expect(found).toEqual([]);
    } finally {
      redis.disconnect();
    }
  });

  it("cuts off a body trickled one byte a second", async () => {
    const url = new URL(base);
    const socket = netConnect({ host: url.hostname, port: Number(url.port), localAddress: HOME });
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    let answer = "";
    let closed = false;
    socket.on("data", (d) => {
      answer += d.toString();
    });
    socket.on("close", () => {
      closed = true;
    });
    socket.on("error", () => {});
    const length = 60;
    socket.write(
      `POST /v1/apply HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${adminToken}\r\nContent-Type: application/yaml\r\nContent-Length: ${length}\r\n\r\n`,
    );
    let sent = 0;
    while (!closed && sent < length) {
      socket.write("a");
      sent++;
      await sleep(1_000);
    }
    socket.destroy();
    process.stdout.write(`trickled body: cut off after ${sent} of ${length} bytes\n`);
    expect(closed).toBe(true);
    expect(sent).toBeLessThan(length);
    if (answer) expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });

  it("refuses a token's event stream beyond its share", async () => {
    const closers: (() => void)[] = [];
    const open = () =>
      send(base, "GET", "/v1/events", { token: tokens.viewerA.token, keep: (close) => closers.push(close) });
    try {
      for (let i = 0; i < MAX_STREAMS; i++) expect((await open()).status).toBe(200);
      const refused = await open();
      expect(refused.status, refused.text).toBe(429);
      expect(refused.json.error).toBe("too_many_streams");
      // Another token has its own share.
      expect((await send(base, "GET", "/v1/events", { token: tokens.viewer.token })).status).toBe(200);
      closers.shift()?.();
      await until("a closed stream to free its place", async () => (await open()).status === 200);
    } finally {
      for (const close of closers) close();
    }
  });

  // Last: it throttles its address for a minute.
  it("throttles an address that sends 100 wrong tokens, on both replicas, and no other", async () => {
    const from = "127.0.0.2";
    const statuses: number[] = [];
    for (let i = 0; i < 100; i++) {
      const hub = hubs[i % hubs.length]?.url ?? "";
      const wrong = `flt_${"0".repeat(16)}_${String(i).padStart(43, "x")}`;
      statuses.push((await send(hub, "GET", "/v1/whoami", { token: wrong, from })).status);
    }
    const count = (s: number) => statuses.filter((x) => x === s).length;
    process.stdout.write(`100 wrong tokens from one address: ${count(401)} × 401, ${count(429)} × 429\n`);
    expect(count(401)).toBe(AUTH_FAILURE_LIMIT);
    expect(count(429)).toBe(100 - AUTH_FAILURE_LIMIT);
    expect(statuses.slice(AUTH_FAILURE_LIMIT).every((s) => s === 429)).toBe(true);
    // Throttled, the address cannot tell a right token from a wrong one; another address can.
    const right = await send(base, "GET", "/v1/whoami", { token: adminToken, from });
    expect(right.status).toBe(429);
    expect(right.json.error).toBe("too_many_requests");
    expect((await send(base, "GET", "/v1/whoami", { token: adminToken })).status).toBe(200);
  });
});
