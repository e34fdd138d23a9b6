/**
 * Waves that know more than health, against real servers: nats-server, redis-server, the Git
 * smart-HTTP server, the hub's built command, and a real Prometheus (scripts/fixtures.sh builds
 * it) scraping a small exporter this test serves. Three simulated agents (@flotilla/loadgen:
 * signed reports over real NATS, no Kubernetes) stand for the clusters, since what is under test
 * is the hub's decision, not the agent's apply; `sim-canary` is the first wave.
 *
 * The exporter's `app_error_ratio{cluster}` is 0.5 while a cluster runs a revision the test
 * marked bad, else 0.01, so a bad release really makes its canary's metric cross the threshold.
 * Prometheus requires basic auth (its web config file); environment `prod` carries the
 * credentials, sealed by the hub, and the hub's own settings carry none.
 * Nothing asserts on how long anything took, only on the order of the hub's own timestamps.
 */
import { createHmac } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PlanPreview, RolloutSummary, RolloutView } from "@flotilla/api";
import {
  type FixtureRepo,
  type GitServer,
  type HubProcess,
  type NatsServer,
  PROMETHEUS_FIXTURE_PASSWORD,
  PROMETHEUS_FIXTURE_USER,
  type PrometheusServer,
  type RedisServer,
  startGitServer,
  startHubProcess,
  startNats,
  startPrometheus,
  startRedis,
  waitsOf,
} from "@flotilla/devfleet";
import { GITHUB_SIGNATURE_HEADER } from "@flotilla/hub";
import { registerClusters, SimulatedFleet } from "@flotilla/loadgen";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const SECRET = "gates-e2e-webhook-secret-012345";
const CLUSTERS: { name: string; labels: Record<string, string> }[] = [
  { name: "sim-canary", labels: { env: "prod", tier: "canary" } },
  { name: "sim-eu", labels: { env: "prod", region: "eu" } },
  { name: "sim-us", labels: { env: "prod", region: "us" } },
];
const until = waitsOf(90_000, 100);
const PROMETHEUS_AUTH = `Basic ${Buffer.from(`${PROMETHEUS_FIXTURE_USER}:${PROMETHEUS_FIXTURE_PASSWORD}`).toString("base64")}`;
/** How prod's documents give the hub its Prometheus credentials (write-only). */
const PROMETHEUS_CREDENTIALS = { username: PROMETHEUS_FIXTURE_USER, password: PROMETHEUS_FIXTURE_PASSWORD };

const config = (app: string, version: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${app}\ndata:\n  v: "${version}"\n`;

describe("analysis gates, freezes and windows, app dependencies", () => {
  let dir: string;
  let nats: NatsServer;
  let redis: RedisServer;
  let git: GitServer;
  let repo: FixtureRepo;
  let hub: HubProcess;
  let prometheus: PrometheusServer;
  let exporter: Server;
  let fleet: SimulatedFleet;
  /** Revisions whose clusters the exporter reports as failing. */
  const bad = new Set<string>();

  const api = <T>(method: string, path: string, body?: unknown) => hub.api.request<T>(method, path, body);

  /** Commits, lets `mark` see the new revision before the hub does, then sends the signed webhook. */
  async function push(files: Record<string, string>, message: string, mark?: (sha: string) => void): Promise<string> {
    const sha = await repo.commit("main", files, message);
    mark?.(sha);
    const body = JSON.stringify({ ref: "refs/heads/main", after: sha });
    const res = await hub.api.request("POST", "/v1/webhooks/git/shop", body, {
      token: null,
      headers: { [GITHUB_SIGNATURE_HEADER]: `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}` },
    });
    expect(res.status).toBe(202);
    return sha;
  }

  /** The rollout of `app` to `revision` (its newest when undefined), once `done` holds. */
  async function rolloutOf(
    app: string,
    revision: string | undefined,
    done: (r: RolloutView) => boolean,
  ): Promise<RolloutView> {
    return until(`a rollout of ${app} to ${revision?.slice(0, 7) ?? "anything"}`, async () => {
      const list = await api<{ items: RolloutSummary[] }>("GET", `/v1/rollouts?app=${app}&environment=prod`);
      const id = list.json?.items.find((r) => revision === undefined || r.to.revision === revision)?.id;
      if (!id) return undefined;
      const r = (await api<RolloutView>("GET", `/v1/rollouts/${id}`)).json;
      return r && done(r) ? r : undefined;
    });
  }
  const settled = (r: RolloutView) => r.settled;
  const clusterOf = (r: RolloutView, name: string) => r.waves.flatMap((w) => w.clusters).find((c) => c.name === name);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "flotilla-gates-e2e-"));
    exporter = createServer((_req, res) => {
      const lines = CLUSTERS.map((c) => {
        const revision = fleet?.progress(c.name, "web")?.revision ?? "";
        return `app_error_ratio{cluster="${c.name}"} ${bad.has(revision) ? 0.5 : 0.01}`;
      });
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      res.end(`# TYPE app_error_ratio gauge\n${lines.join("\n")}\n`);
    });
    await new Promise<void>((resolve) => exporter.listen(0, "127.0.0.1", resolve));
    const { port } = exporter.address() as AddressInfo;
    [nats, redis, git, prometheus] = await Promise.all([
      startNats({ dir }),
      startRedis({ dir }),
      startGitServer({ dir }),
      startPrometheus({ targets: [`127.0.0.1:${port}`], dir, basicAuth: true }),
    ]);
    repo = await git.createRepo("shop", {
      main: {
        "web/config.yaml": config("web", "0"),
        "db/config.yaml": config("db", "0"),
        "api/config.yaml": config("api", "0"),
      },
    });
    hub = await startHubProcess({
      dir: join(dir, "hub"),
      natsUrl: nats.url,
      natsTls: nats.tls,
      redisUrl: redis.url,
      waitFor: "leader",
      env: {
        ...git.clientEnv,
        FLOTILLA_HEARTBEAT_INTERVAL: "1s",
        FLOTILLA_HUB_PROMETHEUS_URL: prometheus.url,
        FLOTILLA_HUB_PROMETHEUS_TIMEOUT: "2s",
      },
    });
    const bundles = await registerClusters(hub.api, CLUSTERS);
    fleet = await SimulatedFleet.start({ natsUrl: nats.url, bundles, heartbeatIntervalMs: 1_000 });
    await hub.api.waitClustersReady(
      CLUSTERS.map((c) => c.name),
      60_000,
    );
    // A first measurement before Prometheus's first scrape would find no data (noData: failure).
    await until("Prometheus to have scraped the exporter", async () => {
      const res = await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent("app_error_ratio")}`, {
        headers: { authorization: PROMETHEUS_AUTH },
      });
      const body = (await res.json()) as { data?: { result?: unknown[] } };
      return (body.data?.result?.length ?? 0) >= CLUSTERS.length ? true : undefined;
    });
  }, 120_000);

  afterAll(async () => {
    await fleet?.stop();
    await hub?.stop();
    await prometheus?.stop();
    await git?.stop();
    await redis?.stop();
    await nats?.stop();
    await new Promise((resolve) => exporter?.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it("a canary whose error ratio crosses the threshold fails its analysis and is rolled back; a healthy ratio passes", async () => {
    await hub.api.apply(`apiVersion: flotilla.dev/v1
kind: Environment
metadata: { name: prod }
spec:
  prometheusCredentials: { username: ${PROMETHEUS_FIXTURE_USER}, password: ${PROMETHEUS_FIXTURE_PASSWORD} }
  policy:
    progressDeadlineSeconds: 60
    waves:
      - name: canary
        selector: { tier: canary }
        bakeSeconds: 0
        analysis:
          - name: errors
            query: 'app_error_ratio{cluster="{{cluster}}"}'
            successCondition: { operator: "<", threshold: 0.1 }
            noData: failure
            intervalSeconds: 1
            count: 2
    remaining: { maxConcurrency: 2, bakeSeconds: 0 }
---
apiVersion: flotilla.dev/v1
kind: Team
metadata: { name: shop }
spec: { policy: { namespaces: [shop] } }
---
apiVersion: flotilla.dev/v1
kind: Repo
metadata: { name: shop }
spec:
  team: shop
  url: ${repo.url}
  branches: { prod: main }
  pollIntervalSeconds: 3600
  credentials: { username: ${git.username}, password: ${git.password} }
  webhookSecret: ${SECRET}
---
apiVersion: flotilla.dev/v1
kind: App
metadata: { name: web }
spec: { repo: shop, path: web, namespace: shop }
`);
    // Prometheus refuses a query without credentials; the environment's own are sealed at rest and never shown.
    const anonymous = await fetch(`${prometheus.url}/api/v1/query?query=up`);
    expect(anonymous.status).toBe(401);
    const env = await api<Record<string, unknown>>("GET", "/v1/environments/prod");
    expect(env.json?.hasPrometheusCredentials).toBe(true);
    expect(JSON.stringify(env.json)).not.toContain(PROMETHEUS_FIXTURE_PASSWORD);
    expect(env.json).not.toHaveProperty("prometheusCredentials");

    const first = await rolloutOf("web", await repo.head("main"), settled);
    expect(first.state, JSON.stringify(first.failure)).toBe("Succeeded");
    expect(first.waves[0]?.analyses?.[0]).toMatchObject({ status: "succeeded" });

    const badSha = await push({ "web/config.yaml": config("web", "1") }, "web 1", (sha) => bad.add(sha));
    const failed = await rolloutOf("web", badSha, settled);
    expect(failed.state).toBe("RolledBack");
    expect(failed.failure?.kind).toBe("analysis-failed");
    expect(failed.failure?.reason).toMatch(
      /^wave "canary": analysis "errors" failed 1 measurement\(s\), over its failure limit of 0: app_error_ratio\{cluster="\{\{cluster\}\}"\} on sim-canary = 0.5, wanted < 0.1/,
    );
    // The rest never received it; the canary is back on the last good revision.
    for (const name of ["sim-eu", "sim-us"]) expect(fleet.progress(name, "web")?.revision).toBe(first.to.revision);
    await until("the canary back on the last good revision", async () =>
      fleet.progress("sim-canary", "web")?.revision === first.to.revision ? true : undefined,
    );

    const good = await push({ "web/config.yaml": config("web", "2") }, "web 2");
    const passed = await rolloutOf("web", good, settled);
    expect(passed.state).toBe("Succeeded");
    const run = passed.waves[0]?.analyses?.[0];
    expect(run?.measurements.map((m) => m.verdict)).toEqual(["success", "success"]);
    expect(run?.measurements[0]?.message).toContain("on sim-canary = 0.01, wanted < 0.1");

    // Measured with the environment's credentials, which neither Redis nor the hub's log holds in the clear.
    const redisClient = new Redis(redis.url);
    try {
      let found = 0;
      for await (const batch of redisClient.scanStream({ count: 500 }) as AsyncIterable<string[]>)
        for (const key of batch) {
          const type = await redisClient.type(key);
          const text =
            type === "string"
              ? await redisClient.get(key)
              : type === "hash"
                ? JSON.stringify(await redisClient.hgetall(key))
                : type === "stream"
                  ? JSON.stringify(await redisClient.xrange(key, "-", "+"))
                  : type === "list"
                    ? JSON.stringify(await redisClient.lrange(key, 0, -1))
                    : type === "zset"
                      ? JSON.stringify(await redisClient.zrange(key, 0, -1))
                      : type === "set"
                        ? JSON.stringify(await redisClient.smembers(key))
                        : "";
          if (text?.includes(PROMETHEUS_FIXTURE_PASSWORD)) found++;
        }
      expect(found).toBe(0);
    } finally {
      redisClient.disconnect();
    }
    expect(await hub.process.log()).not.toContain(PROMETHEUS_FIXTURE_PASSWORD);
  });

  it("a frozen environment holds a wave and says why; an opening window starts one; an override starts one at once", async () => {
    const freeze = await api("PUT", "/v1/environments/prod/freeze", { reason: "incident 4711" });
    expect(freeze.status).toBe(200);
    const plan = await api<PlanPreview>("POST", "/v1/environments/prod/plan", { app: "web" });
    expect(plan.json?.holds).toEqual([{ kind: "freeze", reason: expect.stringContaining("incident 4711") }]);
    const sha = await push({ "web/config.yaml": config("web", "3") }, "web 3");
    const held = await rolloutOf("web", sha, (r) => r.hold !== undefined);
    expect(held.hold).toMatchObject({ kind: "freeze" });
    expect(held.hold?.reason).toMatch(/^environment prod is frozen by admin token .*: incident 4711$/);
    expect(clusterOf(held, "sim-canary")?.why).toBe(`waiting: held, ${held.hold?.reason}`);
    expect(fleet.progress("sim-canary", "web")?.revision).not.toBe(sha);

    // An override needs the admin's scope and is recorded; the held rollout then runs.
    const overridden = await api<RolloutView>("POST", `/v1/rollouts/${held.id}/override`);
    expect(overridden.status).toBe(200);
    expect(overridden.json?.holdOverride?.by).toMatch(/^admin token/);
    const done = await rolloutOf("web", sha, settled);
    expect(done.state).toBe("Succeeded");
    const audit = await api<{ items: { action: string; status: number }[] }>("GET", "/v1/audit?limit=20");
    expect(audit.json?.items.find((e) => e.action === "overrideRollout")?.status).toBe(200);
    expect((await api("DELETE", "/v1/environments/prod/freeze")).status).toBe(204);
    expect((await api("DELETE", "/v1/environments/prod/freeze")).status).toBe(404);

    // A window that opens a few seconds from now (cron with seconds, UTC).
    const opens = new Date(Date.now() + 6_000);
    const schedule = `${opens.getUTCSeconds()} ${opens.getUTCMinutes()} ${opens.getUTCHours()} * * *`;
    const env = (await api<{ policy: Record<string, unknown> }>("GET", "/v1/environments/prod")).json;
    const policy = { ...env?.policy, windows: [{ kind: "allow", schedule, durationSeconds: 600 }] };
    const prometheusCredentials = PROMETHEUS_CREDENTIALS;
    expect((await api("PUT", "/v1/environments/prod", { policy, prometheusCredentials })).status).toBe(200);
    const later = await push({ "web/config.yaml": config("web", "4") }, "web 4");
    const waiting = await rolloutOf("web", later, (r) => r.hold !== undefined);
    expect(waiting.hold?.kind).toBe("window");
    expect(waiting.hold?.reason).toContain(
      `the next opens at ${new Date(Math.floor(opens.getTime() / 1000) * 1000).toISOString()}`,
    );
    const opened = await rolloutOf("web", later, settled);
    expect(opened.state).toBe("Succeeded");
    expect(opened.startedAtMs).toBeDefined();
    const firstWrite = Math.min(...opened.waves.flatMap((w) => w.clusters.map((c) => c.dispatchedAtMs ?? Infinity)));
    expect(firstWrite).toBeGreaterThanOrEqual(Math.floor(opens.getTime() / 1000) * 1000);
    const windowless = { ...env?.policy, windows: [] };
    expect((await api("PUT", "/v1/environments/prod", { policy: windowless, prometheusCredentials })).status).toBe(200);
  });

  it("app api depending on db is written on each cluster only after db is healthy there; a cycle is refused", async () => {
    fleet.setBehaviour({ reportDelayMs: 1_500 });
    await hub.api.apply(`apiVersion: flotilla.dev/v1
kind: App
metadata: { name: db }
spec: { repo: shop, path: db, namespace: shop }
---
apiVersion: flotilla.dev/v1
kind: App
metadata: { name: api }
spec: { repo: shop, path: api, namespace: shop, dependsOn: [db] }
`);
    const cycle = await api<{ message: string }>("PUT", "/v1/apps/db", {
      repo: "shop",
      path: "db",
      namespace: "shop",
      dependsOn: ["api"],
    });
    expect(cycle.status).toBe(400);
    expect(cycle.json?.message).toContain("cycle: db → api → db");

    const plan = await api<PlanPreview>("POST", "/v1/environments/prod/plan", { app: "api" });
    expect(plan.json?.dependsOn).toEqual(["db"]);
    const blocked = await rolloutOf("api", undefined, (r) =>
      (clusterOf(r, "sim-canary")?.why ?? "").includes("blocked by"),
    );
    expect(clusterOf(blocked, "sim-canary")?.why).toMatch(/^waiting: blocked by app db on cluster sim-canary/);
    const [db, apiRollout] = await Promise.all([
      rolloutOf("db", undefined, settled),
      rolloutOf("api", undefined, settled),
    ]);
    expect([db.state, apiRollout.state]).toEqual(["Succeeded", "Succeeded"]);
    for (const { name } of CLUSTERS) {
      const healthyAt = clusterOf(db, name)?.healthyAtMs;
      const writtenAt = clusterOf(apiRollout, name)?.dispatchedAtMs;
      expect(healthyAt, name).toBeDefined();
      expect(writtenAt, name).toBeGreaterThanOrEqual(healthyAt ?? Infinity);
    }
  });

  it("a window and a freeze limited to a selector hold only their clusters; a pre-promotion check measures the next wave first", async () => {
    fleet.setBehaviour({ reportDelayMs: 0 });
    const env = (await api<{ policy: Record<string, unknown> }>("GET", "/v1/environments/prod")).json;
    // Far enough ahead that the canary wave and the pre-promotion check are done before it opens.
    const opens = new Date(Date.now() + 30_000);
    const schedule = `${opens.getUTCSeconds()} ${opens.getUTCMinutes()} ${opens.getUTCHours()} * * *`;
    const opensAt = Math.floor(opens.getTime() / 1000) * 1000;
    const policy = {
      ...env?.policy,
      windows: [{ kind: "allow", schedule, durationSeconds: 600, selector: { region: "eu" } }],
      remaining: {
        maxConcurrency: 2,
        bakeSeconds: 0,
        analysis: [
          {
            name: "calm",
            phase: "prePromotion",
            query: 'app_error_ratio{cluster="{{cluster}}"}',
            successCondition: { operator: "<", threshold: 0.1 },
            noData: "failure",
            intervalSeconds: 1,
            count: 1,
          },
        ],
      },
    };
    const prometheusCredentials = PROMETHEUS_CREDENTIALS;
    expect((await api("PUT", "/v1/environments/prod", { policy, prometheusCredentials })).status).toBe(200);
    const freeze = await api("PUT", "/v1/environments/prod/freeze", { reason: "us rack swap", selector: "region=us" });
    expect(freeze.status).toBe(200);
    expect(freeze.json).toMatchObject({ selector: "region=us", reason: "us rack swap" });
    const plan = await api<PlanPreview>("POST", "/v1/environments/prod/plan", { app: "web" });
    expect(plan.json?.holds).toEqual([
      {
        kind: "window",
        reason: expect.stringMatching(/^clusters region=eu: outside every allow window/),
        clusters: ["sim-eu"],
      },
      {
        kind: "freeze",
        reason: expect.stringMatching(
          /^clusters region=us of environment prod are frozen by admin token .*: us rack swap$/,
        ),
        clusters: ["sim-us"],
      },
    ]);

    const sha = await push({ "web/config.yaml": config("web", "5") }, "web 5");
    const waiting = await rolloutOf(
      "web",
      sha,
      (r) =>
        (clusterOf(r, "sim-us")?.why ?? "").includes("us rack swap") &&
        (clusterOf(r, "sim-eu")?.why ?? "").includes("allow window"),
    );
    expect(waiting.hold).toBeUndefined();
    expect(clusterOf(waiting, "sim-canary")?.state).toBe("healthy");
    expect(clusterOf(waiting, "sim-eu")?.why).toMatch(/^waiting: held, clusters region=eu: outside every allow window/);
    expect(clusterOf(waiting, "sim-us")?.why).toMatch(
      /^waiting: held, clusters region=us of environment prod are frozen/,
    );
    // The pre-promotion check measured the wave's clusters before it wrote any of them.
    const remaining = waiting.waves.find((w) => w.name === "remaining");
    const calm = remaining?.analyses?.find((a) => a.name === "calm");
    expect(calm?.status).toBe("succeeded");
    expect(calm?.measurements[0]?.message).toMatch(/on sim-eu = 0\.01, wanted < 0\.1.*on sim-us = 0\.01/);
    expect(calm?.measurements[0]?.atMs).toBeLessThanOrEqual(remaining?.startedAtMs ?? -1);

    // The window opens: sim-eu is written then, sim-us still waits for its freeze.
    const euDone = await rolloutOf("web", sha, (r) => clusterOf(r, "sim-eu")?.state === "healthy");
    expect(clusterOf(euDone, "sim-eu")?.dispatchedAtMs).toBeGreaterThanOrEqual(opensAt);
    expect(clusterOf(euDone, "sim-us")?.state).toBe("pending");
    expect(fleet.progress("sim-us", "web")?.revision).not.toBe(sha);
    expect((await api("DELETE", "/v1/environments/prod/freeze")).status).toBe(204);
    const done = await rolloutOf("web", sha, settled);
    expect(done.state).toBe("Succeeded");
    expect(clusterOf(done, "sim-us")?.dispatchedAtMs).toBeGreaterThan(
      clusterOf(done, "sim-eu")?.dispatchedAtMs ?? Infinity,
    );
    const plain = { ...env?.policy, windows: [] };
    expect((await api("PUT", "/v1/environments/prod", { policy: plain, prometheusCredentials })).status).toBe(200);
  });
});
