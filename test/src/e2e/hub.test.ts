/**
 * The hub end to end, run as its built command (`npx turbo run build` first) by
 * @flotilla/devfleet, against a real nats-server, redis-server and Git smart-HTTP server. The test plays the agents:
 * it watches `flotilla_desired`, verifies what the hub signed, and writes sealed reports and
 * heartbeats with the agent keys from the bootstrap bundles.
 */
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import {
  entryPoint,
  type FixtureRepo,
  type Fleet,
  freePort,
  type GitServer,
  type HubProcess,
  type HubRequestOptions,
  type NatsServer,
  newAdminToken,
  newEncryptionKey,
  programEnv,
  startFleet,
  waitsOf,
} from "@flotilla/devfleet";
import { KEY_PREFIX, mintClusterUser, type OperatorSetup, revokedUsers } from "@flotilla/hub";
import {
  DESIRED_BUCKET,
  DESIRED_STATE,
  HEARTBEAT,
  Health,
  heartbeatSubject,
  inboxPrefix,
  isHubKeySetKey,
  KeyRing,
  open,
  publicKeyFromPem,
  REPORT,
  STATUS_BUCKET,
  SyncPhase,
  seal,
  signingKeyFromPem,
  stateKey,
} from "@flotilla/proto";
import { Redis } from "ioredis";
import {
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  headers,
  type JetStreamClient,
  type KV,
  type KvEntry,
  type NatsConnection,
  type QueuedIterator,
  StorageType,
} from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/** The hubs' paces here: fast polls and beats, a short lease, Offline after three missed beats. */
const HUB_ENV = {
  FLOTILLA_HUB_POLL_INTERVAL: "1s",
  FLOTILLA_HEARTBEAT_INTERVAL: "500ms",
  FLOTILLA_HUB_OFFLINE_AFTER_MISSED: "3",
  FLOTILLA_HUB_LEASE_TTL: "2s",
};
const WEBHOOK_SECRET = "e2e-webhook-secret-0123456789";
/** The repo's poll interval while the poll path is under test. */
const POLL_SECONDS = 1;
/** Bounds every wait for something the test expects; it never asserts on how long things took. */
const DEADLINE_MS = 20_000;

/** A parsed JSON response body: the test reads fields and lets expect() judge them. */
type Json = ReturnType<typeof JSON.parse>;

interface Bundle {
  cluster: string;
  natsUrl: string;
  natsCreds: string;
  natsCa?: string;
  hubPublicKey: string;
  agentSigningKey: string;
}

const until = waitsOf(DEADLINE_MS);

/**
 * Puts `key` into `bucket` with `Nats-Rollup: all`, which on a stream that allows rollups
 * purges every other key of the bucket. Resolves to the server's refusal, or undefined when it
 * took the put.
 */
async function rollupPut(js: JetStreamClient, bucket: string, key: string): Promise<string | undefined> {
  const h = headers();
  h.set("Nats-Rollup", "all");
  try {
    await js.publish(`$KV.${bucket}.${key}`, new TextEncoder().encode("rollup"), { headers: h });
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** One call to a hub's API, as the admin unless `options.token` says otherwise. */
function api(
  hub: HubProcess,
  method: string,
  path: string,
  body?: unknown,
  options: HubRequestOptions = {},
): Promise<{ status: number; json: Json; text: string }> {
  return hub.api.request<Json>(method, path, body, options);
}

/** Sum of a metric's samples (all label sets) in the Prometheus text format. */
async function metric(hub: HubProcess, name: string, labels = ""): Promise<number> {
  const text = (await api(hub, "GET", "/metrics", undefined, { token: null })).text;
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const [series, value] = line.split(" ");
    if (series === undefined || value === undefined) continue;
    if (series !== name && !series.startsWith(`${name}{`)) continue;
    if (labels && !series.includes(labels)) continue;
    sum += Number(value);
  }
  return sum;
}

// ---- the test as agents ----

interface SeenDesired {
  key: string;
  generation: number;
  revision: string;
  environment: string;
  path: string;
  remove: boolean;
}

/** Watches every desired state and keeps the ones that verify against the hub's key. */
class DesiredWatcher {
  readonly seen: SeenDesired[] = [];
  readonly unverified: string[] = [];
  #iter: QueuedIterator<KvEntry> | undefined;

  async start(kv: KV, hubPublicKey: string): Promise<void> {
    const ring = new KeyRing([publicKeyFromPem(hubPublicKey)]);
    this.#iter = await kv.watch({ key: ">" });
    const iter = this.#iter;
    void (async () => {
      for await (const e of iter) {
        if (e.operation !== "PUT" || isHubKeySetKey(e.key)) continue;
        try {
          const m = open(DESIRED_STATE, e.value, ring).message;
          this.seen.push({
            key: e.key,
            generation: Number(m.generation),
            revision: m.source?.revision ?? "",
            environment: m.environment,
            path: m.source?.path ?? "",
            remove: m.remove,
          });
        } catch {
          this.unverified.push(e.key);
        }
      }
    })();
  }

  latest(key: string): SeenDesired | undefined {
    return this.seen.filter((s) => s.key === key).at(-1);
  }

  stop(): void {
    this.#iter?.stop();
  }
}

/** Collects SSE events from `/v1/events`. */
class EventStream {
  readonly events: { type: string; data: Json }[] = [];
  readonly #abort = new AbortController();

  async open(hub: HubProcess): Promise<void> {
    const res = await fetch(`${hub.url}/v1/events`, {
      headers: { authorization: `Bearer ${hub.token}` },
      signal: this.#abort.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buffer += decoder.decode(value, { stream: true });
          let at = buffer.indexOf("\n\n");
          while (at >= 0) {
            const block = buffer.slice(0, at);
            buffer = buffer.slice(at + 2);
            const type = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (type && data) this.events.push({ type, data: JSON.parse(data) });
            at = buffer.indexOf("\n\n");
          }
        }
      } catch {
        // aborted
      }
    })();
  }

  close(): void {
    this.#abort.abort();
  }
}

function githubSignature(body: string, secret = WEBHOOK_SECRET): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

function manifest(name: string, value: string): string {
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;
}

function fleetYaml(git: GitServer, repo: FixtureRepo, pollSeconds: number): string {
  return `apiVersion: flotilla.dev/v1
kind: Team
metadata: { name: payments }
spec: { description: owns the web shop, policy: { namespaces: [web] } }
---
apiVersion: flotilla.dev/v1
kind: Environment
metadata: { name: dev }
spec:
  policy: { waves: [{ name: all, selector: {}, maxConcurrency: "100%" }], progressDeadlineSeconds: 3600 }
---
apiVersion: flotilla.dev/v1
kind: Repo
metadata: { name: web }
spec:
  team: payments
  url: ${repo.url}
  branches: { dev: develop, prod: main }
  pollIntervalSeconds: ${pollSeconds}
  credentials: { username: ${git.username}, password: ${git.password} }
  webhookSecret: ${WEBHOOK_SECRET}
---
apiVersion: flotilla.dev/v1
kind: App
metadata: { name: web }
spec:
  repo: web
  path: deploy/{env}
  source: manifests
  namespace: web
  prune: true
`;
}

describe("hub end to end (NATS without auth)", () => {
  let fleet: Fleet;
  let nats: NatsServer;
  let git: GitServer;
  let repo: FixtureRepo;
  let nc: NatsConnection;
  let desiredKv: KV;
  let statusKv: KV;
  let hub: HubProcess;
  const watcher = new DesiredWatcher();
  const bundles: Record<string, Bundle> = {};
  /**
   * Clusters the test keeps beating for. Rollouts write only to Ready clusters (offline ones
   * wait, by the default policy), so every cluster that must receive desired states beats.
   */
  const beating = new Set<string>();
  let beats: NodeJS.Timeout | undefined;
  const beatAll = () => {
    for (const name of beating) {
      const key = signingKeyFromPem(bundles[name]!.agentSigningKey);
      nc.publish(heartbeatSubject(name), seal(HEARTBEAT, { cluster: name, agentVersion: "e2e" }, key));
    }
  };

  const dump = async () => process.stderr.write(await fleet.logTails(100));

  beforeAll(async () => {
    fleet = await startFleet({
      hubReplicas: 0,
      hubEnv: HUB_ENV,
      repos: {
        web: {
          develop: { "deploy/dev/app.yaml": manifest("web", "dev-1") },
          main: { "deploy/prod/app.yaml": manifest("web", "prod-1") },
        },
      },
    });
    ({ nats, git } = fleet);
    repo = fleet.repo("web");
    // The buckets as an older hub created them (the nats.js way, rollups allowed): this hub
    // must turn rollups off on start.
    nc = await connect(nats.clientOptions());
    await nc.jetstream().views.kv(DESIRED_BUCKET, { history: 5, storage: StorageType.File });
    await nc.jetstream().views.kv(STATUS_BUCKET, { history: 1, storage: StorageType.File });
    hub = await fleet.startHub({ replica: "hub-a" });
    desiredKv = await nc.jetstream().views.kv(DESIRED_BUCKET);
    statusKv = await nc.jetstream().views.kv(STATUS_BUCKET);
  });

  afterAll(async () => {
    if (beats) clearInterval(beats);
    watcher.stop();
    await nc?.close();
    await fleet?.stop();
  });

  it("registers clusters, returning each agent's bootstrap bundle once", async () => {
    try {
      for (const [name, envName] of [
        ["dev-1", "dev"],
        ["dev-2", "dev"],
        ["prod-1", "prod"],
      ] as const) {
        const res = await api(hub, "POST", "/v1/clusters", { name, labels: { env: envName } });
        expect(res.status).toBe(201);
        bundles[name] = res.json as Bundle;
      }
      const info = (await api(hub, "GET", "/v1/hub")).json;
      const dev1 = bundles["dev-1"]!;
      expect(dev1).toMatchObject({
        cluster: "dev-1",
        natsUrl: nats.url,
        natsCreds: "",
        // The hub's own NATS CA, so the agent needs no file besides the bundle.
        natsCa: nats.tls?.ca,
        hubPublicKey: info.hubPublicKey,
      });
      expect(dev1.agentSigningKey).toContain("BEGIN PRIVATE KEY");
      const view = (await api(hub, "GET", "/v1/clusters/dev-1")).json;
      expect(view.agentKeyId).toBe(signingKeyFromPem(dev1.agentSigningKey).keyId);
      expect(JSON.stringify(view)).not.toContain("PRIVATE KEY");
      expect(view.status.state).toBe("Pending");
      const listed = (await api(hub, "GET", "/v1/clusters")).json.items;
      expect(listed.map((c: Json) => [c.name, c.status])).toEqual([
        ["dev-1", { state: "Pending" }],
        ["dev-2", { state: "Pending" }],
        ["prod-1", { state: "Pending" }],
      ]);

      expect((await api(hub, "POST", "/v1/clusters", { name: "dev-1", labels: {} })).status).toBe(409);
      const bad = await api(hub, "POST", "/v1/clusters", { name: "Dev_1" });
      expect(bad.status).toBe(400);
      expect(bad.json.field).toBe("name");
      expect((await api(hub, "GET", "/v1/clusters", undefined, { token: null })).status).toBe(401);
      expect((await api(hub, "GET", "/v1/clusters", undefined, { token: "wrong-token-0123456789" })).status).toBe(401);
      expect((await api(hub, "GET", "/v1/clusters/nope")).status).toBe(404);
      expect((await api(hub, "GET", "/healthz", undefined, { token: null })).status).toBe(200);
      const openapi = await api(hub, "GET", "/openapi.json");
      expect(openapi.json.openapi).toMatch(/^3\./);
      expect(Object.keys(openapi.json.paths)).toEqual(
        expect.arrayContaining(["/v1/clusters", "/v1/apply", "/v1/fleet/status"]),
      );
      const resolved = (schema: Json): Json =>
        schema.$ref ? openapi.json.components.schemas[schema.$ref.split("/").at(-1)] : schema;
      const listSchema = openapi.json.paths["/v1/clusters"].get.responses["200"].content["application/json"].schema;
      const itemSchema = resolved(resolved(listSchema).properties.items.items);
      expect(Object.keys(resolved(itemSchema.properties.status).properties).sort()).toEqual([
        "agentVersion",
        "freeze",
        "lastHeartbeatMs",
        "state",
      ]);
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("applies a fleet file; the same file again changes nothing; bad documents get 400 naming document and field", async () => {
    const config = fleetYaml(git, repo, POLL_SECONDS);
    const first = await api(hub, "POST", "/v1/apply", config, { contentType: "application/yaml" });
    expect(first.status).toBe(200);
    expect(first.json.results.map((r: Json) => `${r.kind}/${r.name}:${r.action}`)).toEqual([
      "Team/payments:created",
      "Environment/dev:created",
      "Repo/web:created",
      "App/web:created",
    ]);
    const second = await api(hub, "POST", "/v1/apply", config, { contentType: "application/yaml" });
    expect(second.status).toBe(200);
    expect(second.json.results.map((r: Json) => r.action)).toEqual([
      "unchanged",
      "unchanged",
      "unchanged",
      "unchanged",
    ]);

    const repoView = await api(hub, "GET", "/v1/repos/web");
    expect(repoView.json).toMatchObject({ hasCredentials: true, hasWebhookSecret: true });
    expect(repoView.text).not.toContain(git.password);
    expect(repoView.text).not.toContain(WEBHOOK_SECRET);
    expect(await hub.process.log()).not.toContain(git.password);

    const bad = `${config}---\napiVersion: flotilla.dev/v1\nkind: App\nmetadata: { name: api }\nspec: { repo: web, path: /abs, namespace: web }\n`;
    const refused = await api(hub, "POST", "/v1/apply", bad, { contentType: "application/yaml" });
    expect(refused.status).toBe(400);
    expect(refused.json).toMatchObject({ field: "spec.path", document: 'document 5 (App "api")' });
    expect(refused.json.message).toMatch(/^document 5 \(App "api"\): spec\.path: /);
    expect((await api(hub, "GET", "/v1/apps/api")).status).toBe(404);

    const dangling = `apiVersion: flotilla.dev/v1\nkind: App\nmetadata: { name: api }\nspec: { repo: nope, namespace: web }\n`;
    const refused2 = await api(hub, "POST", "/v1/apply", dangling, { contentType: "application/yaml" });
    expect(refused2.status).toBe(400);
    expect(refused2.json.field).toBe("spec.repo");
  });

  it("rolls each environment's branch head out, signed, to every cluster of that environment", async () => {
    try {
      for (const name of ["dev-1", "dev-2", "prod-1"]) beating.add(name);
      beatAll();
      beats = setInterval(beatAll, 200);
      await watcher.start(desiredKv, bundles["dev-1"]!.hubPublicKey);
      const devHead = await repo.head("develop");
      const prodHead = await repo.head("main");
      await until("first desired states", () =>
        watcher.latest("dev-1.web") && watcher.latest("dev-2.web") && watcher.latest("prod-1.web") ? true : undefined,
      );
      expect(watcher.latest("dev-1.web")).toMatchObject({ revision: devHead, environment: "dev", path: "deploy/dev" });
      expect(watcher.latest("dev-2.web")).toMatchObject({ revision: devHead, environment: "dev" });
      expect(watcher.latest("prod-1.web")).toMatchObject({
        revision: prodHead,
        environment: "prod",
        path: "deploy/prod",
      });
      expect(watcher.unverified).toEqual([]);
      // The list carries each cluster's liveness, so a client needs no request per cluster.
      const listed = (await api(hub, "GET", "/v1/clusters")).json.items;
      for (const c of listed) {
        expect(c.status).toMatchObject({ state: "Ready", agentVersion: "e2e" });
        expect(c.status.lastHeartbeatMs).toBeGreaterThan(0);
      }
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("rolls a new dev commit out to every dev cluster on the next poll (one wave at 100%), and nothing to prod", async () => {
    try {
      const before = {
        dev1: watcher.latest("dev-1.web")!,
        dev2: watcher.latest("dev-2.web")!,
        prod: watcher.latest("prod-1.web")!,
      };
      const webhooks = await metric(hub, "flotilla_hub_webhook_deliveries_total");
      const pushedAt = Date.now();
      const sha = await repo.commit("develop", { "deploy/dev/app.yaml": manifest("web", "dev-2") });
      const dev1 = await until("dev-1 to get the new commit", () =>
        watcher.latest("dev-1.web")?.revision === sha ? watcher.latest("dev-1.web") : undefined,
      );
      const dev2 = await until("dev-2 to get the new commit", () =>
        watcher.latest("dev-2.web")?.revision === sha ? watcher.latest("dev-2.web") : undefined,
      );
      process.stdout.write(
        `poll path: new dev commit published ${Date.now() - pushedAt} ms after the push (poll interval ${POLL_SECONDS * 1000} ms)\n`,
      );
      expect(dev1.generation).toBe(before.dev1.generation + 1);
      expect(dev2.generation).toBe(before.dev2.generation + 1);
      // It went through a rollout: one wave of both dev clusters, written together.
      const rollout = (await api(hub, "GET", "/v1/rollouts?app=web&environment=dev")).json.items[0];
      expect(rollout).toMatchObject({ to: { revision: sha }, waves: [{ name: "all", clusters: 2 }] });
      const detail = (await api(hub, "GET", `/v1/rollouts/${rollout.id}`)).json;
      expect(detail.waves[0].clusters.map((c: Json) => [c.name, c.generation])).toEqual([
        ["dev-1", dev1.generation],
        ["dev-2", dev2.generation],
      ]);
      expect(watcher.latest("prod-1.web")).toEqual(before.prod);
      expect(watcher.seen.filter((s) => s.key === "prod-1.web" && s.revision === sha)).toEqual([]);
      // No webhook was sent: this came from polling alone.
      expect(await metric(hub, "flotilla_hub_webhook_deliveries_total")).toBe(webhooks);
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("publishes at once on a signed webhook; a bad signature gets 401 and changes nothing", async () => {
    try {
      // Polling effectively off, so only the webhook can bring the next commit in.
      const polls = await metric(hub, "flotilla_hub_git_poll_duration_seconds_count");
      const slow = await api(hub, "POST", "/v1/apply", fleetYaml(git, repo, 3600), { contentType: "application/yaml" });
      expect(slow.json.results.find((r: Json) => r.kind === "Repo").action).toBe("configured");
      await until("the nudged pass after the repo change", async () =>
        (await metric(hub, "flotilla_hub_git_poll_duration_seconds_count")) > polls ? true : undefined,
      );
      await new Promise((r) => setTimeout(r, 500));
      const before = watcher.latest("dev-1.web")!;
      const sha = await repo.commit("develop", { "deploy/dev/app.yaml": manifest("web", "dev-3") });
      const body = JSON.stringify({ ref: "refs/heads/develop", after: sha });

      const forged: Record<string, string>[] = [
        { "x-hub-signature-256": githubSignature(body, "not-the-secret-0123456789") },
        { "x-gitlab-token": "not-the-secret-0123456789" },
        { "x-flotilla-signature": "sha256=00" },
        {},
      ];
      for (const headers of forged) {
        const refused = await api(hub, "POST", "/v1/webhooks/git/web", body, { token: null, headers });
        expect(refused.status).toBe(401);
      }
      expect(await metric(hub, "flotilla_hub_webhook_deliveries_total", 'result="bad_signature"')).toBe(4);
      expect(watcher.latest("dev-1.web")).toEqual(before);
      // An unknown repo answers exactly as a bad signature does: no repo enumeration.
      const unknown = await api(hub, "POST", "/v1/webhooks/git/nope", body, { token: null, headers: forged[0] });
      const badSignature = await api(hub, "POST", "/v1/webhooks/git/web", body, { token: null, headers: forged[0] });
      expect(unknown.status).toBe(401);
      expect(JSON.stringify(unknown.json).replace(/"nope"|\\"nope\\"/g, "R")).toBe(
        JSON.stringify(badSignature.json).replace(/"web"|\\"web\\"/g, "R"),
      );

      const sentAt = Date.now();
      const accepted = await api(hub, "POST", "/v1/webhooks/git/web", body, {
        token: null,
        headers: { "x-hub-signature-256": githubSignature(body), "x-github-event": "push" },
      });
      expect(accepted.status).toBe(202);
      await until("dev clusters to get the webhook's commit", () =>
        watcher.latest("dev-1.web")?.revision === sha && watcher.latest("dev-2.web")?.revision === sha
          ? true
          : undefined,
      );
      process.stdout.write(`webhook path: new dev commit published ${Date.now() - sentAt} ms after the webhook\n`);
      expect(watcher.latest("dev-1.web")!.generation).toBe(before.generation + 1);
      expect(watcher.seen.filter((s) => s.revision === sha && s.key === "prod-1.web")).toEqual([]);

      const gitlab = await api(hub, "POST", "/v1/webhooks/git/web", body, {
        token: null,
        headers: { "x-gitlab-token": WEBHOOK_SECRET },
      });
      expect(gitlab.status).toBe(202);
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("shows agent reports through fleet, cluster and app status and as SSE events; drops forged ones", async () => {
    try {
      // dev-1 falls silent first, so the stream below sees it come back (Offline → Ready).
      beating.delete("dev-1");
      await until("dev-1 to turn Offline", async () =>
        (await api(hub, "GET", "/v1/clusters/dev-1")).json.status.state === "Offline" ? true : undefined,
      );
      const sse = new EventStream();
      await sse.open(hub);
      const dev1Key = signingKeyFromPem(bundles["dev-1"]!.agentSigningKey);
      const dev2Key = signingKeyFromPem(bundles["dev-2"]!.agentSigningKey);
      const desired = watcher.latest("dev-1.web")!;

      const beat = () =>
        nc.publish(
          heartbeatSubject("dev-1"),
          seal(
            HEARTBEAT,
            { cluster: "dev-1", agentVersion: "e2e", kubernetesVersion: "v1.31.0", sentAtMs: Date.now() },
            dev1Key,
          ),
        );
      beat();
      const pump = setInterval(beat, 200);
      await until("dev-1 to turn Ready", async () =>
        (await api(hub, "GET", "/v1/clusters/dev-1")).json.status.state === "Ready" ? true : undefined,
      );

      const report = {
        cluster: "dev-1",
        app: "web",
        observedGeneration: desired.generation,
        revision: desired.revision,
        phase: SyncPhase.SYNC_PHASE_SYNCED,
        health: Health.HEALTH_HEALTHY,
        reportedAtMs: Date.now(),
        agentVersion: "e2e",
      };
      await statusKv.put(stateKey("dev-1", "web"), seal(REPORT, report, dev1Key));
      const cluster = await until("dev-1's report in its cluster view", async () => {
        const view = (await api(hub, "GET", "/v1/clusters/dev-1")).json;
        return view.apps?.[0]?.report ? view : undefined;
      });
      expect(cluster.apps[0]).toMatchObject({
        app: "web",
        environment: "dev",
        current: true,
        desired: { generation: desired.generation, revision: desired.revision },
        report: {
          revision: desired.revision,
          observedGeneration: desired.generation,
          phase: "synced",
          health: "healthy",
        },
      });

      const fleet = (await api(hub, "GET", "/v1/fleet/status")).json;
      expect(fleet.clusters).toMatchObject({ total: 3, Ready: 3, Pending: 0 });
      expect(fleet.rollouts.inFlight).toBe(2);
      expect(fleet.environments.dev).toMatchObject({
        sync: { synced: 1, unknown: 1 },
        health: { healthy: 1, unknown: 1 },
        current: 1,
        apps: 2,
      });
      expect(fleet.environments.prod).toMatchObject({ apps: 1, current: 0 });

      const matrix = (await api(hub, "GET", "/v1/apps/web/status")).json;
      expect(matrix.clusters.map((r: Json) => [r.cluster, r.clusterState, r.report?.health ?? null])).toEqual([
        ["dev-1", "Ready", "healthy"],
        ["dev-2", "Ready", null],
        ["prod-1", "Ready", null],
      ]);
      expect(matrix.rollouts.map((r: Json) => [r.environment, r.state])).toEqual(
        expect.arrayContaining([
          ["dev", "Progressing"],
          ["prod", "Progressing"],
        ]),
      );
      expect((await api(hub, "GET", "/v1/apps/nope/status")).status).toBe(404);

      // Forged: dev-2's key writing dev-1's key, and a dev-2 report claiming to be dev-1's.
      const rejected = await metric(hub, "flotilla_hub_reports_rejected_total");
      await statusKv.put(
        stateKey("dev-1", "web"),
        seal(REPORT, { ...report, phase: SyncPhase.SYNC_PHASE_FAILED }, dev2Key),
      );
      await statusKv.put(
        stateKey("dev-2", "web"),
        seal(REPORT, { ...report, health: Health.HEALTH_DEGRADED }, dev2Key),
      );
      await until("both forged reports to be rejected", async () =>
        (await metric(hub, "flotilla_hub_reports_rejected_total")) >= rejected + 2 ? true : undefined,
      );
      const after = (await api(hub, "GET", "/v1/clusters/dev-1")).json;
      expect(after.apps[0].report).toEqual(cluster.apps[0].report);
      expect((await api(hub, "GET", "/v1/clusters/dev-2")).json.apps[0].report).toBeNull();

      await until("SSE events", () =>
        ["cluster-state", "heartbeat", "report"].every((t) => sse.events.some((e) => e.type === t)) ? true : undefined,
      );
      expect(sse.events.find((e) => e.type === "cluster-state")?.data).toMatchObject({
        cluster: "dev-1",
        previous: "Offline",
        state: "Ready",
      });
      expect(sse.events.filter((e) => e.type === "report").map((e) => e.data.cluster)).toEqual(["dev-1"]);
      sse.close();
      clearInterval(pump);

      // Silence: dev-1 turns Offline after the configured missed beats, and back on a beat.
      await until("dev-1 to turn Offline", async () =>
        (await api(hub, "GET", "/v1/clusters/dev-1")).json.status.state === "Offline" ? true : undefined,
      );
      nc.publish(heartbeatSubject("dev-1"), seal(HEARTBEAT, { cluster: "dev-1", agentVersion: "e2e" }, dev1Key));
      await until("dev-1 to be Ready again", async () =>
        (await api(hub, "GET", "/v1/clusters/dev-1")).json.status.state === "Ready" ? true : undefined,
      );
      beating.add("dev-1");
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("loses nothing when SIGKILLed: registry, generations and status intact, no generation goes backwards", async () => {
    try {
      const before = {
        clusters: (await api(hub, "GET", "/v1/clusters")).json,
        repos: (await api(hub, "GET", "/v1/repos")).json,
        apps: (await api(hub, "GET", "/v1/apps/web/status")).json,
        hubKey: (await api(hub, "GET", "/v1/hub")).json.hubPublicKey,
      };
      await hub.kill();
      hub = await fleet.startHub({ replica: "hub-a2" });
      // Statuses move with every beat; everything else must be as it was.
      const withoutStatus = (list: Json) => list.items.map(({ status: _s, ...c }: Json) => c);
      expect(withoutStatus((await api(hub, "GET", "/v1/clusters")).json)).toEqual(withoutStatus(before.clusters));
      expect((await api(hub, "GET", "/v1/repos")).json).toEqual(before.repos);
      expect((await api(hub, "GET", "/v1/hub")).json.hubPublicKey).toBe(before.hubKey);
      const apps = (await api(hub, "GET", "/v1/apps/web/status")).json;
      const strip = (rows: Json[]) => rows.map(({ clusterState: _s, ...r }) => r);
      expect(strip(apps.clusters)).toEqual(strip(before.apps.clusters));

      // The restarted hub re-reads the same heads and publishes nothing new.
      await until("a poll pass on the restarted hub", async () =>
        (await metric(hub, "flotilla_hub_git_poll_duration_seconds_count")) > 0 ? true : undefined,
      );
      const gens = Object.fromEntries(before.apps.clusters.map((r: Json) => [r.cluster, r.desired.generation]));
      const sha = await repo.commit("develop", { "deploy/dev/app.yaml": manifest("web", "dev-4") });
      const body = JSON.stringify({ after: sha });
      expect(
        (
          await api(hub, "POST", "/v1/webhooks/git/web", body, {
            token: null,
            headers: { "x-flotilla-signature": githubSignature(body) },
          })
        ).status,
      ).toBe(202);
      await until("the commit after the restart", () =>
        watcher.latest("dev-1.web")?.revision === sha && watcher.latest("dev-2.web")?.revision === sha
          ? true
          : undefined,
      );
      expect(watcher.latest("dev-1.web")!.generation).toBe(gens["dev-1"] + 1);
      expect(watcher.latest("dev-2.web")!.generation).toBe(gens["dev-2"] + 1);
      expect(watcher.latest("prod-1.web")!.generation).toBe(gens["prod-1"]);
      for (const key of ["dev-1.web", "dev-2.web", "prod-1.web"]) {
        const gens = watcher.seen.filter((s) => s.key === key).map((s) => s.generation);
        expect(gens).toEqual([...gens].sort((a, b) => a - b));
        expect(new Set(gens).size).toBe(gens.length);
      }
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("moves leadership when the leader is SIGKILLed, and publishes the next commit exactly once", async () => {
    try {
      const other = await fleet.startHub({ replica: "hub-b" });
      const infos = await Promise.all([hub, other].map(async (h) => (await api(h, "GET", "/v1/hub")).json));
      expect(infos.filter((i) => i.leader)).toHaveLength(1);
      const [leader, follower] = infos[0].leader ? [hub, other] : [other, hub];
      const oldToken = infos[0].leaderToken;

      // Every replica serves the API and the SSE stream.
      expect((await api(follower, "GET", "/v1/fleet/status")).json.clusters.total).toBe(3);

      await leader.kill();
      const newInfo = await until("the follower to take the lease", async () => {
        const info = (await api(follower, "GET", "/v1/hub")).json;
        return info.leader ? info : undefined;
      });
      expect(newInfo.leaderToken).toBeGreaterThan(oldToken);
      hub = follower;

      const before = { dev1: watcher.latest("dev-1.web")!, dev2: watcher.latest("dev-2.web")! };
      const sha = await repo.commit("develop", { "deploy/dev/app.yaml": manifest("web", "dev-5") });
      const body = JSON.stringify({ after: sha });
      const send = () =>
        api(follower, "POST", "/v1/webhooks/git/web", body, {
          token: null,
          headers: { "x-hub-signature-256": githubSignature(body) },
        });
      expect((await send()).status).toBe(202);
      await until("the commit after failover", () =>
        watcher.latest("dev-1.web")?.revision === sha && watcher.latest("dev-2.web")?.revision === sha
          ? true
          : undefined,
      );
      // Two more full passes over the same head must publish nothing.
      const polls = await metric(follower, "flotilla_hub_git_poll_duration_seconds_count");
      await send();
      await until("one more pass", async () =>
        (await metric(follower, "flotilla_hub_git_poll_duration_seconds_count")) > polls ? true : undefined,
      );
      await send();
      await until("another pass", async () =>
        (await metric(follower, "flotilla_hub_git_poll_duration_seconds_count")) > polls + 1 ? true : undefined,
      );
      for (const [key, prev] of [
        ["dev-1.web", before.dev1],
        ["dev-2.web", before.dev2],
      ] as const) {
        const published = watcher.seen.filter((s) => s.key === key && s.revision === sha);
        expect(published).toHaveLength(1);
        expect(published[0]!.generation).toBe(prev.generation + 1);
        const entry = await desiredKv.get(key);
        expect(
          Number(
            open(DESIRED_STATE, entry!.value, new KeyRing([publicKeyFromPem(bundles["dev-1"]!.hubPublicKey)])).message
              .generation,
          ),
        ).toBe(prev.generation + 1);
      }
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("removes the app from clusters it no longer targets: relabelled out, or the app deleted", async () => {
    try {
      const removed = (key: string) => watcher.latest(key)?.remove === true;
      expect(removed("dev-2.web")).toBe(false);
      const relabel = await api(hub, "PUT", "/v1/clusters/dev-2", { labels: { env: "staging" } });
      expect(relabel.status).toBe(200);
      const gone = await until("dev-2 to be told to remove web", () =>
        removed("dev-2.web") ? watcher.latest("dev-2.web") : undefined,
      );
      expect(gone.revision).toBe("");
      expect(removed("dev-1.web")).toBe(false);
      expect(removed("prod-1.web")).toBe(false);

      expect((await api(hub, "DELETE", "/v1/repos/web")).status).toBe(409);
      expect((await api(hub, "DELETE", "/v1/apps/web")).status).toBe(204);
      await until("every cluster to be told to remove web", () =>
        removed("dev-1.web") && removed("prod-1.web") ? true : undefined,
      );
      expect(watcher.seen.filter((s) => s.key === "dev-2.web" && s.remove)).toHaveLength(1);
      const matrix = await api(hub, "GET", "/v1/apps/web/status");
      expect(matrix.status).toBe(404);
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("refuses a Nats-Rollup put on buckets an older hub created with rollups allowed; other keys survive", async () => {
    const js = nc.jetstream();
    const jsm = await nc.jetstreamManager();
    for (const bucket of [STATUS_BUCKET, DESIRED_BUCKET]) {
      expect((await jsm.streams.info(`KV_${bucket}`)).config.allow_rollup_hdrs).toBe(false);
      expect(await rollupPut(js, bucket, "dev-1.web")).toMatch(/rollup/i);
    }
    expect(await statusKv.get(stateKey("dev-1", "web"))).not.toBeNull();
    expect(await statusKv.get(stateKey("dev-2", "web"))).not.toBeNull();
    for (const cluster of ["dev-1", "dev-2", "prod-1"]) {
      expect(await desiredKv.get(stateKey(cluster, "web"))).not.toBeNull();
    }
  });

  it("clears a deregistered cluster's desired and status keys, and only that cluster's", async () => {
    try {
      expect(await desiredKv.get(stateKey("dev-2", "web"))).not.toBeNull();
      expect(await statusKv.get(stateKey("dev-2", "web"))).not.toBeNull();
      beating.delete("dev-2");
      expect((await api(hub, "DELETE", "/v1/clusters/dev-2")).status).toBe(204);
      await until("dev-2's keys to be cleared", async () =>
        (await desiredKv.get(stateKey("dev-2", "web"))) === null &&
        (await statusKv.get(stateKey("dev-2", "web"))) === null
          ? true
          : undefined,
      );
      expect(await desiredKv.get(stateKey("dev-1", "web"))).not.toBeNull();
      expect(await desiredKv.get(stateKey("prod-1", "web"))).not.toBeNull();
      expect(await statusKv.get(stateKey("dev-1", "web"))).not.toBeNull();
    } catch (err) {
      await dump();
      throw err;
    }
  });
});

describe("hub start without Redis", () => {
  it("exits with one line naming the Redis URL without its password, and no unhandled-error noise", async () => {
    const port = await freePort();
    const stdout: string[] = [];
    const stderr: string[] = [];
    const proc = spawn(process.execPath, [entryPoint("hub")], {
      env: programEnv({
        FLOTILLA_HUB_ADMIN_TOKEN: newAdminToken(),
        FLOTILLA_HUB_ENCRYPTION_KEY: newEncryptionKey(),
        FLOTILLA_HUB_LISTEN: "127.0.0.1:0",
        FLOTILLA_REDIS_URL: `redis://flotilla:not-to-be-printed@127.0.0.1:${port}/0`,
        FLOTILLA_NATS_URL: "nats://127.0.0.1:1",
      }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    proc.stdout?.on("data", (d: Buffer) => stdout.push(d.toString()));
    proc.stderr?.on("data", (d: Buffer) => stderr.push(d.toString()));
    const code = await new Promise<number | null>((resolve) => proc.once("exit", resolve));
    const errText = stderr.join("");
    const all = `${stdout.join("")}${errText}`;
    expect(code).toBe(1);
    expect(errText.trim().split("\n")).toHaveLength(1);
    expect(errText).toMatch(new RegExp(`^flotilla-hub: cannot reach Redis at redis://127\\.0\\.0\\.1:${port}/0 `));
    expect(errText).toContain("FLOTILLA_REDIS_URL");
    expect(all).not.toContain("not-to-be-printed");
    expect(all).not.toMatch(/Unhandled error event|Connection is closed/);
  });
});

describe("hub while Redis refuses writes", () => {
  let fleet: Fleet;
  let hub: HubProcess;
  let nc: NatsConnection | undefined;
  let admin: Redis | undefined;

  beforeAll(async () => {
    fleet = await startFleet({ hubReplicas: 0, hubEnv: HUB_ENV });
    // A lease far longer than the test: the leader keeps leading through the write outage, so
    // no new term's watch replays the report and hides a report the first term dropped.
    hub = await fleet.startHub({ replica: "hub-oom", env: { FLOTILLA_HUB_LEASE_TTL: "120s" } });
  });

  afterAll(async () => {
    await admin?.config("SET", "maxmemory", "0").catch(() => {});
    admin?.disconnect();
    await nc?.close();
    await fleet?.stop();
  });

  it("stores a report that arrived while Redis refused writes once Redis takes them again", async () => {
    const created = await api(hub, "POST", "/v1/clusters", { name: "oom-1", labels: { env: "dev" } });
    expect(created.status).toBe(201);
    const key = signingKeyFromPem((created.json as Bundle).agentSigningKey);
    await until("hub-oom to lead", async () => ((await api(hub, "GET", "/v1/hub")).json.leader ? true : undefined));
    nc = await connect(fleet.nats.clientOptions());
    const statusKv = await nc.jetstream().views.kv(STATUS_BUCKET);
    admin = new Redis(fleet.redis.url);
    // The hub keeps only reports of apps it assigned to the cluster: a value in the desired
    // bucket is its assignment (the record in Redis follows it), so web counts as oom-1's app.
    const desiredKv = await nc.jetstream().views.kv(DESIRED_BUCKET);
    await desiredKv.put(stateKey("oom-1", "web"), new Uint8Array([0]));

    // Every write is refused (OOM, noeviction) while reads and the lease renewal still work.
    await admin.config("SET", "maxmemory", "1");
    const report = {
      cluster: "oom-1",
      app: "web",
      observedGeneration: 3,
      revision: "a".repeat(40),
      phase: SyncPhase.SYNC_PHASE_SYNCED,
      health: Health.HEALTH_HEALTHY,
      reportedAtMs: Date.now(),
      agentVersion: "e2e",
    };
    await statusKv.put(stateKey("oom-1", "web"), seal(REPORT, report, key));
    await until("the hub to fail storing the report", async () =>
      (await hub.process.log()).includes("could not store reports") ? true : undefined,
    );
    await admin.config("SET", "maxmemory", "0");

    const stored = await until("the report in Redis", async () => {
      const text = await admin?.get(`${KEY_PREFIX}report:oom-1.web`);
      return text ? (JSON.parse(text) as Json) : undefined;
    });
    expect(stored).toMatchObject({ cluster: "oom-1", app: "web", observedGeneration: 3, health: "healthy" });
  });
});

describe("hub with NATS in operator mode", () => {
  let fleet: Fleet;
  let hub: HubProcess;
  let setup: OperatorSetup;
  /** edge-1's bundle, kept to prove its revoked credentials stay refused. */
  let revokedBundle: Bundle | undefined;

  beforeAll(async () => {
    fleet = await startFleet({ operatorMode: true, hubReplicas: 0, hubEnv: HUB_ENV });
    setup = fleet.operatorSetup!;
    hub = await fleet.startHub({ replica: "hub-op" });
  });

  afterAll(async () => {
    await fleet?.stop();
  });

  const agentOptions = (bundle: Bundle): ConnectionOptions => ({
    servers: bundle.natsUrl,
    tls: { ca: bundle.natsCa ?? "" },
    inboxPrefix: inboxPrefix(bundle.cluster),
    authenticator: credsAuthenticator(new TextEncoder().encode(bundle.natsCreds)),
    reconnect: false,
  });

  it("refuses a cluster's Nats-Rollup put to its own status key, which would purge every other cluster's", async () => {
    const agents: NatsConnection[] = [];
    try {
      const bundles: Bundle[] = [];
      for (const name of ["edge-a", "edge-b"]) {
        const res = await api(hub, "POST", "/v1/clusters", { name, labels: { env: "dev" } });
        expect(res.status).toBe(201);
        bundles.push(res.json as Bundle);
      }
      for (const bundle of bundles) {
        // A user granted web's status key (the bundle's grants no app until one is assigned), so
        // the bucket, not the permissions, is what refuses the roll-up below.
        const user = await mintClusterUser(setup, bundle.cluster, { apps: ["web"] });
        const agent = await connect({
          ...agentOptions(bundle),
          authenticator: credsAuthenticator(new TextEncoder().encode(user.creds)),
        });
        agents.push(agent);
        const report = seal(
          REPORT,
          { cluster: bundle.cluster, app: "web", reportedAtMs: Date.now(), agentVersion: "e2e" },
          signingKeyFromPem(bundle.agentSigningKey),
        );
        await agent.jetstream().publish(`$KV.${STATUS_BUCKET}.${stateKey(bundle.cluster, "web")}`, report);
      }
      const [a] = agents;
      expect(await rollupPut(a!.jetstream(), STATUS_BUCKET, stateKey("edge-a", "web"))).toMatch(/rollup/i);
      const hubSide = await connect({
        ...fleet.nats.clientOptions(),
        authenticator: credsAuthenticator(new TextEncoder().encode(setup.hubUser.creds)),
      });
      try {
        const status = await hubSide.jetstream().views.kv(STATUS_BUCKET);
        expect(await status.get(stateKey("edge-b", "web"))).not.toBeNull();
        expect(await status.get(stateKey("edge-a", "web"))).not.toBeNull();
      } finally {
        await hubSide.close();
      }
    } catch (err) {
      process.stderr.write(await hub.process.tail(100));
      throw err;
    } finally {
      for (const agent of agents) await agent.close();
    }
  });

  it("mints per-cluster NATS credentials at registration and revokes them at deregistration", async () => {
    try {
      const res = await api(hub, "POST", "/v1/clusters", { name: "edge-1", labels: { env: "dev" } });
      expect(res.status).toBe(201);
      const bundle = res.json as Bundle;
      expect(bundle.natsCreds).toContain("BEGIN NATS USER JWT");
      expect((await api(hub, "GET", "/v1/clusters/edge-1")).json.hasNatsCredentials).toBe(true);

      // The agent's credentials work for its own subjects: the hub hears its heartbeat.
      const agent = await connect(agentOptions(bundle));
      const key = signingKeyFromPem(bundle.agentSigningKey);
      agent.publish(heartbeatSubject("edge-1"), seal(HEARTBEAT, { cluster: "edge-1", agentVersion: "e2e" }, key));
      await agent.flush();
      await until("edge-1 to turn Ready", async () =>
        (await api(hub, "GET", "/v1/clusters/edge-1")).json.status.state === "Ready" ? true : undefined,
      );

      const closed = agent.closed();
      expect((await api(hub, "DELETE", "/v1/clusters/edge-1")).status).toBe(204);
      expect((await api(hub, "GET", "/v1/clusters/edge-1")).status).toBe(404);
      await closed;
      await expect(connect(agentOptions(bundle))).rejects.toThrow(/authoriz|revoked/i);
      revokedBundle = bundle;
    } catch (err) {
      process.stderr.write(await hub.process.tail(100));
      throw err;
    }
  });

  it("adopts the server's newer account JWT at start when Redis lost it, so later revocations keep earlier ones", async () => {
    const bundle = revokedBundle;
    expect(bundle).toBeDefined();
    const client = new Redis(fleet.redis.url);
    try {
      const revoked = revokedUsers((await client.get(`${KEY_PREFIX}nats-account-jwt`))!);
      expect(Object.keys(revoked)).toHaveLength(1);
      // Redis loses the JWT with edge-1's revocation; only nats-server still holds it.
      await hub.kill();
      await client.del(`${KEY_PREFIX}nats-account-jwt`);
      hub = await fleet.startHub({ replica: "hub-op2" });
      const adopted = await client.get(`${KEY_PREFIX}nats-account-jwt`);
      expect(adopted).not.toBeNull();
      expect(revokedUsers(adopted!)).toEqual(revoked);

      // The next revocation builds on the adopted JWT: edge-1 stays revoked.
      const res = await api(hub, "POST", "/v1/clusters", { name: "edge-2", labels: { env: "dev" } });
      expect(res.status).toBe(201);
      expect((await api(hub, "DELETE", "/v1/clusters/edge-2")).status).toBe(204);
      expect(Object.keys(revokedUsers((await client.get(`${KEY_PREFIX}nats-account-jwt`))!))).toHaveLength(2);
      await expect(connect(agentOptions(bundle!))).rejects.toThrow(/authoriz|revoked/i);
      await expect(connect(agentOptions(res.json as Bundle))).rejects.toThrow(/authoriz|revoked/i);
    } catch (err) {
      process.stderr.write(await hub.process.tail(100));
      throw err;
    } finally {
      client.disconnect();
    }
  });
});
