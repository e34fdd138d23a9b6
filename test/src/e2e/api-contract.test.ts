/**
 * The HTTP contract end to end. A real hub (its built command, started by @flotilla/devfleet
 * over a real nats-server, redis-server and Git smart-HTTP server) serves `/openapi.json`,
 * generated from `@flotilla/api`. The document must lint clean with Redocly's recommended rules
 * (`redocly.yaml` at the repository root), and every operation it documents is called the
 * way a client would — once for its success code, then again without a token, with bad
 * input and for an unknown name — and each answer's status and body are checked against
 * what the document says for that operation and status. An operation the walk below has no
 * entry for fails the test, so a new route cannot be left out. The test plays the agents: it
 * beats and reports over NATS with the keys of the bootstrap bundles. Every operation that
 * documents 403 is called again, right after its success, with a token its scope refuses: a
 * viewer for what a viewer may not do, else a viewer of another team.
 */
import { createHmac } from "node:crypto";
import { fileURLToPath } from "node:url";
import { type OperationId, operations, PERMISSIONS, PUBLIC_SCOPE } from "@flotilla/api";
import { type FixtureRepo, type Fleet, type GitServer, type HubProcess, startFleet, waitsOf } from "@flotilla/devfleet";
import { KEY_PREFIX } from "@flotilla/hub";
import {
  HEARTBEAT,
  Health,
  heartbeatSubject,
  REPORT,
  STATUS_BUCKET,
  SyncPhase,
  seal,
  signingKeyFromPem,
  stateKey,
} from "@flotilla/proto";
import { getTotals, lintFromString, loadConfig } from "@redocly/openapi-core";
import { Ajv, type ValidateFunction } from "ajv";
import ajvFormats from "ajv-formats";
import { Redis } from "ioredis";
import { connect, credsAuthenticator, type NatsConnection, nkeys } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const WEBHOOK_SECRET = "contract-webhook-secret-0123456789";
const METRICS_TOKEN = "contract-metrics-token-0123456789";
/** Event streams a token may hold open: the walk opens that many and is refused the next. */
const MAX_STREAMS = 2;
const REDOCLY_CONFIG = fileURLToPath(new URL("../../../redocly.yaml", import.meta.url));
/** Bounds every wait for something the test expects; it never asserts on how long things took. */
const until = waitsOf(30_000);

/** A parsed JSON body: the test reads fields and lets the document's schemas judge them. */
type Json = ReturnType<typeof JSON.parse>;

/** One operation as the served document describes it. */
interface DocumentedOperation {
  id: string;
  method: string;
  path: string;
  /** JSON pointer of the operation in the document, for schema references. */
  pointer: string;
  public: boolean;
  /** Request content types, first preferred. */
  consumes: string[];
  /** Documented statuses (and `default`) → response content types. */
  responses: Record<string, string[]>;
  /** Path parameters whose schema is an enum, and its values. */
  enums: Record<string, string[]>;
  queryEnums: Record<string, string[]>;
}

/** What one call sends; the method, path template and content type come from the document. */
interface Call {
  params?: Record<string, string>;
  query?: Record<string, string>;
  /** JSON, or the text of a non-JSON body. */
  body?: unknown;
  headers?: Record<string, string>;
}

/** One request of the walk and the documented status it must answer. */
interface Step extends Call {
  op: OperationId;
  status: number;
  /** Runs before the request, e.g. to wait for the fleet to reach the state it needs. */
  before?: () => Promise<void>;
  /** Reads what later steps need from the answer. */
  after?: (body: Json) => void;
}

/** What a call came back with. */
interface Answer {
  status: number;
  contentType: string;
  text: string;
}

/** A schema with its reference followed, whether bare (`$ref`) or wrapped (`allOf: [{ $ref }]`). */
function resolvedIn(document: Json, schema: Json): Json {
  const ref: string | undefined = schema?.$ref ?? schema?.allOf?.[0]?.$ref;
  return ref ? document.components.schemas[ref.split("/").at(-1) ?? ""] : schema;
}

const pointerSegment = (segment: string) => segment.replaceAll("~", "~0").replaceAll("/", "~1");

function githubSignature(body: string, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

describe("the hub's HTTP contract", () => {
  let fleet: Fleet;
  let git: GitServer;
  let repo: FixtureRepo;
  let hub: HubProcess;
  let nc: NatsConnection;
  let document: Json;
  let documented: Map<string, DocumentedOperation>;
  const ajv = new Ajv({ strict: false, allErrors: true });
  // A CommonJS module: its plugin is the default export's `default`.
  ajvFormats.default(ajv);
  const validators = new Map<string, ValidateFunction>();
  /** `operationId status` of every answer checked against the document. */
  const observed = new Set<string>();
  /** The success call of each operation, reused by the token, bad-input and unknown-name passes. */
  const successCalls = new Map<string, Call>();
  const events: { type: string; data: Json }[] = [];
  const streams = new AbortController();
  let beats: NodeJS.Timeout | undefined;
  let bundle: Json;
  let rolloutId = "";
  let mintedId = "";
  /** What the agent of eu-2 registers with; the token is filled in when minted. */
  const registration = { token: "", natsUserPublicKey: nkeys.createUser().getPublicKey() };
  /** Tokens the refusal calls use: a viewer of every team, and a viewer of team ops only. */
  const refusing = { viewer: "", otherTeam: "" };

  beforeAll(async () => {
    fleet = await startFleet({
      hubReplicas: 0,
      // As in production, so registration tokens have credentials to mint.
      operatorMode: true,
      hubEnv: {
        FLOTILLA_HEARTBEAT_INTERVAL: "500ms",
        FLOTILLA_HUB_LEASE_TTL: "2s",
        FLOTILLA_LOG_LEVEL: "warn",
        FLOTILLA_HUB_METRICS_TOKEN: METRICS_TOKEN,
        FLOTILLA_HUB_MAX_STREAMS_PER_TOKEN: String(MAX_STREAMS),
        // The 401 pass sends ~50 requests without a token from one address.
        FLOTILLA_HUB_AUTH_FAILURE_LIMIT: "1000",
      },
      repos: {
        web: {
          main: {
            "deploy/prod/app.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  v: one\n",
          },
        },
      },
    });
    ({ git } = fleet);
    repo = fleet.repo("web");
    hub = await fleet.startHub({ replica: "contract", waitFor: "leader" });
    // The hub's user may publish what the test plays the agents with.
    const hubCreds = fleet.operatorSetup?.hubUser.creds ?? "";
    nc = await connect({
      ...fleet.nats.clientOptions(),
      authenticator: credsAuthenticator(new TextEncoder().encode(hubCreds)),
    });
  });

  afterAll(async () => {
    if (beats) clearInterval(beats);
    streams.abort();
    await nc?.close();
    await fleet?.stop();
  });

  /**
   * Sends `call` as operation `id` describes it; `token: false` leaves the bearer token out, a
   * string sends that token instead of the admin's.
   */
  async function send(id: string, call: Call, o: { token?: boolean | string; stream?: boolean } = {}): Promise<Answer> {
    const op = documented.get(id);
    if (!op) throw new Error(`the document has no operation ${id}`);
    const path = op.path.replace(/\{(\w+)\}/g, (_m, name: string) => {
      const value = call.params?.[name];
      if (value === undefined) throw new Error(`${id}: give path parameter ${name}`);
      return encodeURIComponent(value);
    });
    const url = new URL(hub.url + path);
    for (const [k, v] of Object.entries(call.query ?? {})) url.searchParams.set(k, v);
    const headers: Record<string, string> = { ...call.headers };
    if (!op.public && o.token !== false) {
      headers.authorization = `Bearer ${typeof o.token === "string" ? o.token : hub.token}`;
    }
    let body: string | undefined;
    if (call.body !== undefined) {
      const type = op.consumes[0] ?? "application/json";
      headers["content-type"] = type;
      body = typeof call.body === "string" ? call.body : JSON.stringify(call.body);
    }
    const res = await fetch(url, {
      method: op.method,
      headers,
      ...(body !== undefined ? { body } : {}),
      ...(o.stream ? { signal: streams.signal } : {}),
    });
    const contentType = (res.headers.get("content-type") ?? "").split(";")[0] ?? "";
    if (o.stream && res.status === 200) {
      void readEvents(res);
      return { status: res.status, contentType, text: "" };
    }
    return { status: res.status, contentType, text: await res.text() };
  }

  /** Collects the SSE events of an open stream, for the last test to check. */
  async function readEvents(res: Response): Promise<void> {
    const reader = res.body?.getReader();
    if (!reader) return;
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        for (let at = buffer.indexOf("\n\n"); at >= 0; at = buffer.indexOf("\n\n")) {
          const block = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          const type = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (type && data) events.push({ type, data: JSON.parse(data) });
        }
      }
    } catch {
      // The stream was closed at the end of the test.
    }
  }

  /** The validator of the schema the document gives for (operation, status, content type). */
  function validatorOf(op: DocumentedOperation, status: string, contentType: string): ValidateFunction {
    const pointer = `${op.pointer}/responses/${status}/content/${pointerSegment(contentType)}/schema`;
    const known = validators.get(pointer);
    if (known) return known;
    const validate = ajv.compile({ $ref: `openapi.json#${pointer}` });
    validators.set(pointer, validate);
    return validate;
  }

  /** Checks an answer against the document: a documented status, its content type, its schema. */
  function check(id: string, answer: Answer, expected: number): Json {
    const op = documented.get(id);
    if (!op) throw new Error(`the document has no operation ${id}`);
    const where = `${op.method} ${op.path} (${id}) answered ${answer.status} ${answer.text.slice(0, 300)}`;
    expect(answer.status, where).toBe(expected);
    const status = String(answer.status);
    expect(Object.keys(op.responses), `${where}: status not documented`).toContain(status);
    observed.add(`${id} ${status}`);
    const types = op.responses[status] ?? [];
    if (types.length === 0) {
      expect(answer.text, `${where}: documented without a body`).toBe("");
      return undefined;
    }
    expect(types, `${where}: content type ${answer.contentType} not documented`).toContain(answer.contentType);
    if (answer.contentType !== "application/json") return answer.text;
    const body: Json = JSON.parse(answer.text);
    const validate = validatorOf(op, status, answer.contentType);
    expect(validate(body), `${where}: ${ajv.errorsText(validate.errors)}`).toBe(true);
    return body;
  }

  it("serves an OpenAPI document that Redocly's recommended rules pass without errors", async () => {
    const res = await fetch(`${hub.url}/openapi.json`, { headers: { authorization: `Bearer ${hub.token}` } });
    expect(res.status).toBe(200);
    document = await res.json();
    expect(document.openapi).toBe("3.0.3");
    expect(document.servers).toEqual([{ url: hub.url, description: "this hub" }]);

    const config = await loadConfig({ configPath: REDOCLY_CONFIG });
    const problems = await lintFromString({ source: JSON.stringify(document), absoluteRef: "openapi.json", config });
    const errors = problems.filter((p) => p.severity === "error");
    const totals = getTotals(problems);
    process.stdout.write(`redocly lint of /openapi.json: ${totals.errors} errors, ${totals.warnings} warnings\n`);
    for (const p of problems)
      process.stdout.write(`  ${p.severity} ${p.ruleId}: ${p.message} ${p.location[0]?.pointer}\n`);
    expect(errors.map((p) => `${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`)).toEqual([]);

    ajv.addSchema(document, "openapi.json");
    const resolved = (schema: Json) => resolvedIn(document, schema);
    documented = new Map();
    for (const [path, item] of Object.entries<Json>(document.paths)) {
      for (const [method, op] of Object.entries<Json>(item)) {
        const parameters: Json[] = op.parameters ?? [];
        const enumsIn = (place: string) =>
          Object.fromEntries(
            parameters
              .filter((p) => p.in === place)
              .map((p) => [p.name, resolved(p.schema).enum])
              .filter(([, values]) => values),
          );
        documented.set(op.operationId, {
          id: op.operationId,
          method: method.toUpperCase(),
          path,
          pointer: `/paths/${pointerSegment(path)}/${method}`,
          public: Array.isArray(op.security) && op.security.length === 0,
          consumes: Object.keys(op.requestBody?.content ?? {}),
          responses: Object.fromEntries(
            Object.entries<Json>(op.responses).map(([status, r]) => [status, Object.keys(r.content ?? {})]),
          ),
          enums: enumsIn("path"),
          queryEnums: enumsIn("query"),
        });
      }
    }
  });

  it("documents every operation of @flotilla/api, each with a schema for its real success code", () => {
    expect([...documented.keys()].sort()).toEqual(Object.keys(operations).sort());
    for (const op of documented.values()) {
      const successes = Object.keys(op.responses).filter((s) => /^2\d\d$/.test(s));
      expect(successes.length, `${op.id} documents no success`).toBeGreaterThan(0);
      for (const status of Object.keys(op.responses)) {
        const types = op.responses[status] ?? [];
        // Only a 204 carries no body; every other response says what it carries.
        expect(types.length > 0 || status === "204", `${op.id} ${status} has no schema`).toBe(true);
        for (const type of types) {
          const schema = document.paths[op.path][op.method.toLowerCase()].responses[status].content[type].schema;
          expect(schema, `${op.id} ${status} ${type}`).toBeTruthy();
        }
      }
    }
    expect(documented.get("apply")?.consumes).toContain("application/yaml");
    expect(documented.get("streamEvents")?.responses["200"]).toEqual(["text/event-stream"]);
  });

  it("mints the tokens the refusals use: a viewer, and a viewer of team ops", async () => {
    expect((await hub.api.request("POST", "/v1/teams", { name: "ops" })).status).toBe(201);
    const mint = async (body: object) => {
      const res = await hub.api.request<{ token: string }>("POST", "/v1/tokens", body);
      expect(res.status, res.text).toBe(201);
      return res.json?.token ?? "";
    };
    refusing.viewer = await mint({ role: "viewer" });
    refusing.otherTeam = await mint({ role: "viewer", team: "ops" });
  });

  /**
   * The walk: every documented operation, in an order that builds the fleet up (a team, an
   * environment, two clusters, a repo, an app, a rollout held by an offline cluster) and takes
   * it down again. Extra entries reach documented statuses a single call cannot (a 201 from a
   * PUT that creates, the 409s, a refused webhook signature).
   */
  function walk(): Step[] {
    const policy = { waves: [{ name: "all", maxConcurrency: "100%", bakeSeconds: 0 }], progressDeadlineSeconds: 3600 };
    // The team's apps use namespaces web and spare, its repos live on the fixture Git server.
    const teamPolicy = { namespaces: ["web", "spare"], repoUrls: [`${git.baseUrl}/*`], clusterSelector: "env" };
    const repoSpec = {
      team: "payments",
      url: repo.url,
      branches: { prod: "main" },
      pollIntervalSeconds: 1,
      credentials: { username: git.username, password: git.password },
      webhookSecret: WEBHOOK_SECRET,
    };
    const appSpec = {
      repo: "web",
      path: "deploy/{env}",
      namespace: "web",
      prune: true,
      overrides: [{ clusterSelector: { tier: "canary" }, path: "deploy/{env}" }],
      healthChecks: [{ group: "example.com", kind: "Widget", current: "status.phase == 'Ready'" }],
      progressDeadlineSeconds: 900,
    };
    const badHealthCheck = { ...appSpec, healthChecks: [{ kind: "Widget", current: "status.phase ==" }] };
    const push = JSON.stringify({ ref: "refs/heads/main" });
    const apply = `apiVersion: flotilla.dev/v1
kind: Team
metadata: { name: ops }
spec: { description: runs the platform }
---
apiVersion: flotilla.dev/v1
kind: Cluster
metadata: { name: eu-2 }
spec: { labels: { env: prod } }
`;
    return [
      { op: "getHealth", status: 200 },
      { op: "getReadiness", status: 200 },
      { op: "getMetrics", status: 200, headers: { authorization: `Bearer ${METRICS_TOKEN}` } },
      { op: "getMetrics", status: 401 },
      { op: "getOpenApi", status: 200 },
      { op: "getHub", status: 200 },
      { op: "getHubKeys", status: 200, after: (body) => expect(body.phase).toBe("steady") },
      { op: "finishKeyRotation", status: 409, body: {} },
      { op: "startKeyRotation", status: 200, after: (body) => expect(body.phase).toBe("announced") },
      { op: "startKeyRotation", status: 409 },
      {
        op: "finishKeyRotation",
        status: 200,
        body: { force: true },
        after: (body) => expect(body.retiredKeyIds).toHaveLength(1),
      },
      { op: "whoami", status: 200, after: (body) => expect(body).toEqual({ tokenId: "bootstrap", role: "admin" }) },
      {
        op: "createSession",
        status: 200,
        after: (body) => expect(body).toEqual({ tokenId: "bootstrap", role: "admin" }),
      },
      { op: "deleteSession", status: 204 },
      {
        op: "createEventsToken",
        status: 200,
        after: (body) => expect(body.token).toMatch(/^fev_[\w-]+\.[\w-]+$/),
      },
      ...Array.from({ length: MAX_STREAMS }, (): Step => ({ op: "streamEvents", status: 200 })),
      { op: "streamEvents", status: 429 },

      { op: "createTeam", status: 201, body: { name: "payments", description: "owns the shop", policy: teamPolicy } },
      { op: "createTeam", status: 409, body: { name: "payments" } },
      { op: "listTeams", status: 200 },
      { op: "getTeam", status: 200, params: { name: "payments" } },
      {
        op: "replaceTeam",
        status: 200,
        params: { name: "payments" },
        body: { description: "owns the web shop", policy: teamPolicy },
      },
      { op: "replaceTeam", status: 201, params: { name: "spare" }, body: {} },
      { op: "deleteTeam", status: 204, params: { name: "spare" } },

      { op: "createEnvironment", status: 201, body: { name: "prod", policy } },
      { op: "createEnvironment", status: 409, body: { name: "prod" } },
      { op: "listEnvironments", status: 200 },
      { op: "getEnvironment", status: 200, params: { name: "prod" } },
      { op: "replaceEnvironment", status: 200, params: { name: "prod" }, body: { policy } },
      { op: "replaceEnvironment", status: 201, params: { name: "staging" }, body: {} },
      { op: "deleteEnvironment", status: 204, params: { name: "staging" } },

      {
        op: "createCluster",
        status: 201,
        body: { name: "eu-1", labels: { env: "prod", tier: "canary" } },
        after: (body) => {
          bundle = body;
          const key = signingKeyFromPem(body.agentSigningKey);
          const beat = () =>
            nc.publish(
              heartbeatSubject("eu-1"),
              seal(HEARTBEAT, { cluster: "eu-1", agentVersion: "contract", kubernetesVersion: "v1.31.0" }, key),
            );
          beat();
          beats = setInterval(beat, 200);
        },
      },
      { op: "createCluster", status: 409, body: { name: "eu-1" } },
      { op: "apply", status: 200, body: apply },
      { op: "listClusters", status: 200 },
      {
        op: "replaceCluster",
        status: 200,
        params: { name: "eu-1" },
        body: { labels: { env: "prod", tier: "canary", region: "eu" } },
      },

      { op: "createRepo", status: 201, body: { name: "web", ...repoSpec } },
      { op: "createRepo", status: 409, body: { name: "web", ...repoSpec } },
      { op: "listRepos", status: 200 },
      { op: "getRepo", status: 200, params: { name: "web" } },
      { op: "replaceRepo", status: 200, params: { name: "web" }, body: repoSpec },
      { op: "replaceRepo", status: 201, params: { name: "spare" }, body: { ...repoSpec, branches: { dev: "main" } } },
      { op: "deleteRepo", status: 204, params: { name: "spare" } },

      { op: "createApp", status: 201, body: { name: "web", ...appSpec } },
      { op: "createApp", status: 409, body: { name: "web", ...appSpec } },
      { op: "listApps", status: 200 },
      { op: "getApp", status: 200, params: { name: "web" } },
      { op: "replaceApp", status: 200, params: { name: "web" }, body: appSpec },
      // A health check's CEL is compiled when the app is saved: a bad one is refused, naming its field.
      {
        op: "replaceApp",
        status: 400,
        params: { name: "web" },
        body: badHealthCheck,
        after: (body) => expect(body.field).toBe("healthChecks.0.current"),
      },
      { op: "replaceApp", status: 201, params: { name: "spare" }, body: { ...appSpec, namespace: "spare" } },
      { op: "deleteApp", status: 204, params: { name: "spare" } },
      { op: "previewPlan", status: 200, params: { env: "prod" }, body: { app: "web" } },

      {
        op: "getCluster",
        status: 200,
        params: { name: "eu-1" },
        // The agent's part: report the revision the rollout wrote to eu-1 as synced and healthy.
        before: async () => {
          const desired = await until("a desired state for eu-1", async () => {
            const view = await (await send("getCluster", { params: { name: "eu-1" } })).text;
            return JSON.parse(view).apps?.[0]?.desired ?? undefined;
          });
          const report = {
            cluster: "eu-1",
            app: "web",
            observedGeneration: desired.generation,
            revision: desired.revision,
            rolloutId: desired.rolloutId,
            phase: SyncPhase.SYNC_PHASE_SYNCED,
            health: Health.HEALTH_HEALTHY,
            resources: [
              {
                ref: { group: "", version: "v1", kind: "ConfigMap", namespace: "web", name: "web" },
                health: Health.HEALTH_HEALTHY,
                message: "",
              },
            ],
            reportedAtMs: Date.now(),
            agentVersion: "contract",
          };
          const statusKv = await nc.jetstream().views.kv(STATUS_BUCKET);
          await statusKv.put(stateKey("eu-1", "web"), seal(REPORT, report, signingKeyFromPem(bundle.agentSigningKey)));
          await until("eu-1's report in its cluster view", async () => {
            const view = JSON.parse((await send("getCluster", { params: { name: "eu-1" } })).text);
            return view.apps?.[0]?.report ?? undefined;
          });
        },
        after: (body) => expect(body.apps[0].report.resources).toHaveLength(1),
      },
      {
        op: "listRollouts",
        status: 200,
        query: { app: "web", environment: "prod" },
        after: (body) => {
          rolloutId = body.items[0].id;
        },
      },
      {
        op: "getRollout",
        status: 200,
        params: { id: "" },
        // A first deploy changes both parts of the target, so the view carries what waves added.
        after: (body) => {
          expect(body.changed).toEqual(["revision", "settings"]);
          expect(body.settingsDiff.map((d: Json) => d.path)).toContain("namespace");
          expect(body.waves[0].clusters.every((c: Json) => c.why.length > 0)).toBe(true);
          expect(body.leadTime.startsAt).toBeDefined();
        },
      },
      { op: "commandRollout", status: 200, params: { id: "", command: "pause" } },
      { op: "overrideRollout", status: 200, params: { id: "" } },
      { op: "freezeFleet", status: 200, body: { reason: "contract walk" } },
      { op: "freezeEnvironment", status: 200, params: { env: "prod" }, body: { reason: "contract walk" } },
      {
        op: "listFreezes",
        status: 200,
        after: (body) => expect(body.items.map((f: Json) => f.reason)).toEqual(["contract walk", "contract walk"]),
      },
      { op: "unfreezeEnvironment", status: 204, params: { env: "prod" } },
      { op: "unfreezeFleet", status: 204 },
      // Nothing awaits approval: the rollout waits for eu-2, which never reported in.
      { op: "commandRollout", status: 409, params: { id: "", command: "promote" } },
      { op: "getFleetStatus", status: 200 },
      { op: "getAppStatus", status: 200, params: { app: "web" } },
      // No agent listens for eu-1 here: its entry says so, and the answer is still whole.
      {
        op: "diffApp",
        status: 200,
        params: { app: "web" },
        after: (body) => expect(body.clusters.map((c: Json) => [c.cluster, c.ok])).toContainEqual(["eu-1", false]),
      },
      { op: "diffApp", status: 404, params: { app: "nope" } },
      { op: "refreshApp", status: 200, params: { app: "web" } },
      {
        op: "replaceReceiver",
        status: 201,
        params: { name: "ops" },
        body: { url: "https://hooks.example.com/flotilla", secret: "0123456789abcdef", events: ["rollout-failed"] },
      },
      {
        op: "replaceReceiver",
        status: 200,
        params: { name: "ops" },
        body: { type: "slack", url: "https://hooks.example.com/services/T0/B0/x" },
      },
      {
        op: "replaceReceiver",
        status: 400,
        params: { name: "ops" },
        body: { url: "https://hooks.example.com/flotilla" },
        after: (body) => expect(body.field).toBe("secret"),
      },
      {
        op: "listReceivers",
        status: 200,
        after: (body) =>
          expect(body.items).toEqual([
            expect.objectContaining({
              name: "ops",
              type: "slack",
              urlOrigin: "https://hooks.example.com",
              hasSecret: false,
            }),
          ]),
      },
      {
        op: "getReceiver",
        status: 200,
        params: { name: "ops" },
        after: (body) => {
          expect(body).toMatchObject({ name: "ops", type: "slack", urlOrigin: "https://hooks.example.com" });
          expect(JSON.stringify(body)).not.toContain("/services/");
        },
      },
      { op: "listDeliveries", status: 200, params: { name: "ops" } },
      { op: "deleteReceiver", status: 204, params: { name: "ops" } },
      { op: "deleteReceiver", status: 404, params: { name: "ops" } },
      { op: "getReceiver", status: 404, params: { name: "ops" } },
      {
        op: "receiveGitWebhook",
        status: 202,
        params: { repo: "web" },
        body: push,
        headers: { "x-hub-signature-256": githubSignature(push, WEBHOOK_SECRET) },
      },
      {
        op: "receiveGitWebhook",
        status: 401,
        params: { repo: "web" },
        body: push,
        headers: { "x-hub-signature-256": githubSignature(push, "not-the-webhook-secret") },
      },

      {
        op: "createToken",
        status: 201,
        body: { role: "member", team: "payments", expiresInSeconds: 3600, description: "contract walk" },
        after: (body) => {
          mintedId = body.id;
          expect(body.token).toMatch(/^flt_[0-9a-f]{16}_/);
        },
      },
      { op: "listTokens", status: 200, after: (body) => expect(body.items.map((t: Json) => t.id)).toContain(mintedId) },
      // The team has a token now, and repos: both hold its deletion back.
      { op: "deleteTeam", status: 409, params: { name: "payments" } },
      { op: "revokeToken", status: 204, params: { id: "" } },
      {
        op: "listAudit",
        status: 200,
        query: { team: "payments", limit: "500" },
        after: (body) => {
          const actions = new Set(body.items.map((e: Json) => e.action));
          for (const action of ["createRepo", "createApp", "commandRollout", "createToken", "revokeToken"]) {
            expect(actions, action).toContain(action);
          }
        },
      },
      { op: "deleteRepo", status: 409, params: { name: "web" } },
      { op: "deleteApp", status: 204, params: { name: "web" } },
      { op: "deleteRepo", status: 204, params: { name: "web" } },
      { op: "deleteTeam", status: 204, params: { name: "payments" } },
      { op: "deleteEnvironment", status: 204, params: { name: "prod" } },
      { op: "rotateClusterCredentials", status: 404, params: { name: "nowhere" } },
      { op: "rotateClusterCredentials", status: 202, params: { name: "eu-2" } },
      { op: "createRegistrationToken", status: 404, params: { name: "nowhere" }, body: {} },
      {
        op: "createRegistrationToken",
        status: 201,
        params: { name: "eu-2" },
        body: { ttlSeconds: 600 },
        after: (body) => {
          expect(body.token).toMatch(/^flreg_/);
          registration.token = body.token;
        },
      },
      // The body is read when sent: the token is there by then.
      { op: "registerAgent", status: 200, params: { name: "eu-2" }, body: registration },
      { op: "registerAgent", status: 401, params: { name: "eu-2" }, body: registration },
      { op: "revokeRegistrationTokens", status: 404, params: { name: "nowhere" } },
      {
        op: "revokeRegistrationTokens",
        status: 200,
        params: { name: "eu-2" },
        after: (body) => expect(body).toEqual({ cluster: "eu-2", revoked: 0 }),
      },
      { op: "deleteCluster", status: 204, params: { name: "eu-2" } },
    ];
  }

  it("walks every documented operation; each answers its documented status with a body its schema describes", async () => {
    const steps = walk();
    const walked = new Set(steps.filter((s) => s.status < 300).map((s) => s.op));
    const missing = [...documented.keys()].filter((id) => !walked.has(id as OperationId));
    expect(missing, "operations without a success call in the walk").toEqual([]);
    for (const step of steps) {
      await step.before?.();
      const { op, status, before: _b, after: _a, ...call } = step;
      // Rollout and token ids are known only once they exist.
      if (call.params?.id === "") call.params = { ...call.params, id: op === "revokeToken" ? mintedId : rolloutId };
      const answer = await send(op, call, { stream: op === "streamEvents" });
      const body = check(op, answer, status);
      step.after?.(body);
      if (status >= 300 || successCalls.has(op)) continue;
      successCalls.set(op, call);
      // The same call with a token its scope refuses: a viewer where viewers may do nothing, else
      // a viewer of another team, for an object of team payments.
      if (documented.get(op)?.responses["403"]) {
        const scope = operations[op].scope;
        if (scope === PUBLIC_SCOPE) throw new Error(`${op} is public but documents 403`);
        const token =
          PERMISSIONS.viewer[scope.resource][scope.action] === "none" ? refusing.viewer : refusing.otherTeam;
        const refused = check(op, await send(op, call, { token }), 403);
        expect(refused.error, op).toBe("forbidden");
      }
    }
    process.stdout.write(`contract walk: ${steps.length} requests over ${walked.size} operations\n`);
  });

  it("an events token opens the event stream (in the URL, as an EventSource sends it) and nothing else", async () => {
    const mint = await fetch(`${hub.url}/v1/events/token`, {
      method: "POST",
      headers: { authorization: `Bearer ${refusing.viewer}` },
    });
    expect(mint.status).toBe(200);
    const { token, expiresAtMs } = (await mint.json()) as { token: string; expiresAtMs: number };
    expect(expiresAtMs).toBeGreaterThan(0);
    const open = async (path: string, headers: Record<string, string> = {}) => {
      const stop = new AbortController();
      const res = await fetch(`${hub.url}${path}`, { headers, signal: stop.signal });
      const first = res.status === 200 ? await res.body?.getReader().read() : undefined;
      stop.abort();
      return { status: res.status, type: res.headers.get("content-type") ?? "", first };
    };
    const stream = await open(`/v1/events?access_token=${encodeURIComponent(token)}`);
    expect(stream.status).toBe(200);
    expect(stream.type).toMatch(/^text\/event-stream/);
    expect(new TextDecoder().decode(stream.first?.value)).toMatch(/^: connected/);
    // Nothing else takes it, in the URL or as a bearer token.
    expect((await open(`/v1/clusters?access_token=${encodeURIComponent(token)}`)).status).toBe(401);
    expect((await open("/v1/clusters", { authorization: `Bearer ${token}` })).status).toBe(401);
    expect((await open("/v1/fleet/status", { authorization: `Bearer ${token}` })).status).toBe(401);
    // No API token is taken from a URL; a forged events token is refused.
    expect((await open(`/v1/events?access_token=${encodeURIComponent(refusing.viewer)}`)).status).toBe(401);
    expect((await open(`/v1/events?access_token=${encodeURIComponent(`${token}x`)}`)).status).toBe(401);
  });

  it("refuses every operation that needs the token without it: 401 with the documented error body", async () => {
    for (const op of documented.values()) {
      if (op.public) continue;
      check(op.id, await send(op.id, successCalls.get(op.id) ?? {}, { token: false }), 401);
    }
  });

  it("answers 400 with the documented error body to every operation that documents bad input", async () => {
    for (const op of documented.values()) {
      if (!op.responses["400"]) continue;
      const call = { ...successCalls.get(op.id) };
      // Break what the operation reads: an enum parameter, the body, or a query enum.
      call.params = { ...call.params, ...Object.fromEntries(Object.keys(op.enums).map((k) => [k, "bogus"])) };
      call.query = { ...call.query, ...Object.fromEntries(Object.keys(op.queryEnums).map((k) => [k, "bogus"])) };
      if (op.id === "streamEvents") call.query = { types: "bogus" };
      if (op.id === "listClusters") call.query = { limit: "0" };
      if (op.consumes[0] === "application/json") call.body = { bogus: true };
      else if (op.consumes.length > 0) call.body = "apiVersion: flotilla.dev/v1\nkind: Bogus\n";
      const body = check(op.id, await send(op.id, call), 400);
      expect(body.error, op.id).toBe("invalid_request");
    }
  });

  it("answers 404 with the documented error body for an unknown name, id or repo", async () => {
    for (const op of documented.values()) {
      if (!op.responses["404"]) continue;
      const call = { ...successCalls.get(op.id) };
      call.params = Object.fromEntries(
        Object.keys(call.params ?? {}).map((k) => [k, op.enums[k]?.[0] ?? "missing-object"]),
      );
      check(op.id, await send(op.id, call), 404);
    }
  });

  it("serves a rollout stored before targets existed (version 1) through the reader, as documented", async () => {
    const id = "stored-as-v1";
    const [from, to] = ["a".repeat(40), "b".repeat(40)];
    const v1 = {
      version: 1,
      id,
      app: "web",
      environment: "prod",
      fromRevision: from,
      toRevision: to,
      state: "Succeeded",
      progressDeadlineSeconds: 600,
      autoRollback: true,
      offlineClusters: "block",
      waves: [
        {
          name: "all",
          implicit: false,
          maxConcurrency: 1,
          failureBudget: 0,
          bakeSeconds: 0,
          requireApproval: false,
          status: "succeeded",
          clusters: [{ name: "eu-1", state: "healthy", generation: 1, writtenAtMs: 1_100, healthyAtMs: 2_000 }],
          startedAtMs: 1_000,
          completedAtMs: 2_000,
        },
      ],
      commitAtMs: 500,
      detectedAtMs: 900,
      startedAtMs: 1_000,
      convergedAtMs: 2_000,
      finishedAtMs: 2_000,
    };
    // Written as a hub of version 1 left it: the rollout's JSON and its place in the list.
    const redis = new Redis(fleet.redis.url);
    try {
      await redis
        .multi()
        .set(`${KEY_PREFIX}rollout:${id}`, JSON.stringify(v1))
        .zadd(`${KEY_PREFIX}rollouts`, v1.detectedAtMs, id)
        .exec();
    } finally {
      redis.disconnect();
    }
    const view = check("getRollout", await send("getRollout", { params: { id } }), 200);
    // An ended rollout takes no override.
    check("overrideRollout", await send("overrideRollout", { params: { id } }), 409);
    expect(view).toMatchObject({
      version: 2,
      from: { revision: from, settings: "" },
      to: { revision: to, settings: "" },
      changed: ["revision"],
      settled: true,
    });
    const list = check("listRollouts", await send("listRollouts", {}), 200);
    expect(list.items.find((r: Json) => r.id === id)).toMatchObject({ to: { revision: to }, changed: ["revision"] });
  });

  it("reached every documented status but a hub without Redis", () => {
    const unreached = [...documented.values()].flatMap((op) =>
      Object.keys(op.responses)
        .filter((s) => s !== "default" && !observed.has(`${op.id} ${s}`))
        .map((s) => `${op.id} ${s}`),
    );
    // Registration tokens are refused (409) only by a hub without an operator setup.
    expect(unreached).toEqual(["getReadiness 503", "createRegistrationToken 409"]);
  });

  it("streamed events of every type, each one a HubEvent as documented", async () => {
    const op = documented.get("streamEvents");
    if (!op) throw new Error("streamEvents is not documented");
    await until("events of every type", () => new Set(events.map((e) => e.type)).size >= 6);
    const validate = validatorOf(op, "200", "text/event-stream");
    for (const e of events) {
      expect(e.data.type).toBe(e.type);
      expect(validate(e.data), `${e.type} event ${JSON.stringify(e.data)}: ${ajv.errorsText(validate.errors)}`).toBe(
        true,
      );
    }
    const created = events.find((e) => e.type === "rollout" && e.data.event === "Created");
    expect(created?.data.changed).toEqual(["revision", "settings"]);
    expect([...new Set(events.map((e) => e.type))].sort()).toEqual([
      "cluster-state",
      "desired",
      "heartbeat",
      "registry",
      "report",
      "rollout",
    ]);
  });
});
