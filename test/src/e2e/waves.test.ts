/**
 * Every change reaches a cluster through the waves, and only real changes roll: a fleet from
 * @flotilla/devfleet (hub, three agents, three Kubernetes fixture clusters of environment
 * `prod`: `canary` in the first wave, `eu-1` and `us-1` in the second), one repo with a Helm
 * app `web` and two Kustomize apps `a` and `b` sharing a base. Build first: `npx turbo run build`.
 *
 * The bad value is `replicaCount=abc`: the chart renders `replicas: abc`, which the API server's
 * strict decoding refuses in the agent's server-side dry run, so the canary's apply fails.
 * Nothing here asserts on how long anything took, only on the order of the hub's timestamps
 * and, for lead time, on a lower bound the test itself introduced.
 */
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { type FixtureRepo, type Fleet, type HubProcess, startFleet, waitsOf } from "@flotilla/devfleet";
import { AppsV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const WAIT_MS = 180_000;
const CANARY_BAKE_SECONDS = 3;
const POLL_SECONDS = 5;
const CLUSTERS = [
  { name: "canary", labels: { env: "prod", tier: "canary", region: "us" } },
  { name: "eu-1", labels: { env: "prod", region: "eu" } },
  { name: "us-1", labels: { env: "prod", region: "us" } },
] as const;

type Json = ReturnType<typeof JSON.parse>;
const until = waitsOf(WAIT_MS, 200);

const CHART = {
  "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
  "charts/web/values.yaml": "replicaCount: 1\n",
  "charts/web/templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
      containers:
        - name: main
          image: registry.invalid/web:1
`,
};

const kustomizeApp = (name: string, version: string) => ({
  [`apps/${name}/kustomization.yaml`]: "resources: [../../base, config.yaml]\n",
  [`apps/${name}/config.yaml`]: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}-config\ndata:\n  version: "${version}"\n`,
});
const base = (version: string) => ({
  "base/kustomization.yaml": "resources: [shared.yaml]\n",
  "base/shared.yaml": `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  version: "${version}"\n`,
});

describe("settings and commits through the waves, only changed apps rolling", () => {
  let fleet: Fleet;
  let hub: HubProcess;
  let repo: FixtureRepo;
  const dump = async () => process.stderr.write(await fleet.logTails(120));
  const api = async (method: string, path: string, body?: unknown) => hub.api.request<Json>(method, path, body);

  const rollouts = async (app: string): Promise<Json[]> =>
    (await api("GET", `/v1/rollouts?app=${app}&environment=prod`)).json.items;
  const rollout = async (id: string): Promise<Json> => (await api("GET", `/v1/rollouts/${id}`)).json;
  /** The first rollout of `app` not in `known`, once it satisfies `test`. */
  async function nextRollout(app: string, known: Set<string>, what: string, test: (r: Json) => boolean): Promise<Json> {
    return until(`a new rollout of ${app}: ${what}`, async () => {
      const fresh = (await rollouts(app)).find((r) => !known.has(r.id));
      if (!fresh) return undefined;
      const r = await rollout(fresh.id);
      return test(r) ? r : undefined;
    });
  }
  const ids = async (app: string) => new Set((await rollouts(app)).map((r) => r.id));
  const ended = (r: Json) => r.settled === true;
  const clusterOf = (r: Json, name: string): Json =>
    r.waves.flatMap((w: Json) => w.clusters).find((c: Json) => c.name === name);
  /** Desired generation per cluster of `app`, from the hub's app status. */
  async function generations(app: string): Promise<Record<string, number>> {
    const s = (await api("GET", `/v1/apps/${app}/status`)).json;
    return Object.fromEntries(s.clusters.map((c: Json) => [c.cluster, c.desired?.generation]));
  }
  async function replicas(cluster: string): Promise<number | undefined> {
    const apps = fleet.cluster(cluster).kube.kubeConfig().makeApiClient(AppsV1Api);
    try {
      return (await apps.readNamespacedDeployment({ name: "web", namespace: "web" })).spec?.replicas;
    } catch {
      return undefined;
    }
  }
  const putWeb = (set: Record<string, string>, overrides?: Json[]) =>
    api("PUT", "/v1/apps/web", {
      repo: "shop",
      path: "charts/web",
      source: "helm",
      namespace: "web",
      helm: { set },
      ...(overrides ? { overrides } : {}),
    });

  beforeAll(async () => {
    fleet = await startFleet({
      repos: { shop: { main: { ...CHART, ...base("1"), ...kustomizeApp("a", "1"), ...kustomizeApp("b", "1") } } },
      clusters: CLUSTERS,
      hubEnv: { FLOTILLA_HEARTBEAT_INTERVAL: "1s", FLOTILLA_HUB_LEASE_TTL: "2s" },
      agentEnv: { FLOTILLA_HEARTBEAT_INTERVAL: "1", FLOTILLA_HEALTH_POLL: "1", FLOTILLA_HEALTH_IDLE_POLL: "5" },
    });
    hub = fleet.hub;
    repo = fleet.repo("shop");
    const policy = {
      policy: {
        waves: [{ name: "canary", selector: { tier: "canary" }, maxConcurrency: 1, bakeSeconds: CANARY_BAKE_SECONDS }],
        remaining: { maxConcurrency: 1, bakeSeconds: 1 },
        progressDeadlineSeconds: 60,
        autoRollback: true,
      },
    };
    expect((await api("PUT", "/v1/environments/prod", policy)).status).toBe(201);
    // Its apps use namespace web and shop-<name>.
    const teamPolicy = { namespaces: ["web", "shop-*"] };
    expect((await api("POST", "/v1/teams", { name: "shop", policy: teamPolicy })).status).toBe(201);
    const repoSpec = {
      name: "shop",
      team: "shop",
      url: repo.url,
      branches: { prod: "main" },
      // No webhook: a new commit is seen on the next poll only.
      pollIntervalSeconds: POLL_SECONDS,
      credentials: { username: fleet.git.username, password: fleet.git.password },
    };
    expect((await api("POST", "/v1/repos", repoSpec)).status).toBe(201);
    expect((await putWeb({ replicaCount: "1" })).status).toBe(201);
    for (const name of ["a", "b"])
      expect(
        (
          await api("POST", "/v1/apps", {
            name,
            repo: "shop",
            path: `apps/${name}`,
            source: "kustomize",
            namespace: `shop-${name}`,
          })
        ).status,
      ).toBe(201);
    for (const app of ["web", "a", "b"])
      await until(`${app}'s first deploy to succeed`, async () => {
        const [r] = await rollouts(app);
        return r?.state === "Succeeded" ? r : undefined;
      });
  }, 400_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  it("rolls a change of Helm values canary first, then the rest after the canary's bake", async () => {
    try {
      const known = await ids("web");
      const before = await generations("web");
      expect((await putWeb({ replicaCount: "2" })).status).toBe(200);
      const r = await nextRollout("web", known, "Succeeded", (x) => x.state === "Succeeded");
      expect(r.changed).toEqual(["settings"]);
      expect(r.to.revision).toBe(r.from.revision);
      expect(r.settingsDiff).toEqual([{ path: "helm.set.replicaCount", from: '"1"', to: '"2"' }]);
      const canary = clusterOf(r, "canary");
      const [canaryWave] = r.waves;
      expect(canaryWave.completedAtMs - canary.healthyAtMs).toBeGreaterThanOrEqual(CANARY_BAKE_SECONDS * 1000);
      for (const name of ["eu-1", "us-1"]) {
        const c = clusterOf(r, name);
        expect(c.generation).toBe(before[name]! + 1);
        expect(c.dispatchedAtMs).toBeGreaterThanOrEqual(canaryWave.completedAtMs);
      }
      for (const c of CLUSTERS) await until(`${c.name} to run 2 replicas`, async () => (await replicas(c.name)) === 2);
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("fails a value the API server refuses at the canary and rolls it back; the rest never receive it", async () => {
    try {
      const known = await ids("web");
      const before = await generations("web");
      expect((await putWeb({ replicaCount: "abc" })).status).toBe(200);
      const r = await nextRollout("web", known, "rolled back", (x) => x.state === "RolledBack" && ended(x));
      expect(r.failure.reason).toMatch(/canary/);
      const canary = clusterOf(r, "canary");
      expect(canary.state).toBe("rolled-back");
      expect(canary.rollback.generation).toBeGreaterThan(canary.generation);
      for (const name of ["eu-1", "us-1"]) expect(clusterOf(r, name).state).toBe("pending");
      const after = await generations("web");
      expect(after["eu-1"]).toBe(before["eu-1"]);
      expect(after["us-1"]).toBe(before["us-1"]);
      // The canary is back on the previous settings, and applies them.
      expect(
        (await api("GET", "/v1/apps/web/status")).json.clusters.find((c: Json) => c.cluster === "canary").desired
          .generation,
      ).toBe(canary.rollback.generation);
      expect(await replicas("canary")).toBe(2);
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("an override by label reaches only the matching clusters, through the waves", async () => {
    try {
      const known = await ids("web");
      const before = await generations("web");
      const override = [{ clusterSelector: { region: "eu" }, helm: { set: { replicaCount: "3" } } }];
      expect((await putWeb({ replicaCount: "2" }, override)).status).toBe(200);
      const r = await nextRollout("web", known, "Succeeded", (x) => x.state === "Succeeded");
      expect(r.changed).toEqual(["settings"]);
      const after = await generations("web");
      expect(after["eu-1"]).toBe(before["eu-1"]! + 1);
      // The canary's desired state is the one it had (rolled back to the same settings); us-1's too.
      expect(clusterOf(r, "us-1")).toMatchObject({ state: "healthy", unchanged: true, generation: before["us-1"] });
      expect(after["us-1"]).toBe(before["us-1"]);
      expect(clusterOf(r, "eu-1").dispatchedAtMs).toBeGreaterThanOrEqual(r.waves[0].completedAtMs);
      await until("eu-1 to run 3 replicas", async () => (await replicas("eu-1")) === 3);
      expect(await replicas("us-1")).toBe(2);
      expect(await replicas("canary")).toBe(2);
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("a commit touching only a's directory rolls a alone; one touching the shared base rolls a and b", async () => {
    try {
      const known = { a: await ids("a"), b: await ids("b"), web: await ids("web") };
      const before = { b: await generations("b"), web: await generations("web") };
      const onlyA = await repo.commit("main", kustomizeApp("a", "2"), "a: version 2");
      const ra = await nextRollout("a", known.a, "Succeeded", (x) => x.state === "Succeeded");
      expect(ra.to.revision).toBe(onlyA);
      expect(ra.changed).toEqual(["revision"]);
      expect(ra.commit.message).toBe("a: version 2");
      // One more poll after it: still no rollout of b or web, and no new generation on their clusters.
      await new Promise((r) => setTimeout(r, (POLL_SECONDS + 1) * 1000));
      expect(await ids("b")).toEqual(known.b);
      expect(await ids("web")).toEqual(known.web);
      expect(await generations("b")).toEqual(before.b);
      expect(await generations("web")).toEqual(before.web);

      const known2 = { a: await ids("a"), b: await ids("b") };
      const shared = await repo.commit("main", base("2"), "base: version 2");
      for (const app of ["a", "b"] as const) {
        const r = await nextRollout(app, known2[app], "Succeeded", (x) => x.state === "Succeeded");
        expect(r.to.revision).toBe(shared);
      }
      expect(await ids("web")).toEqual(known.web);
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("counts lead time from the commit, so the wait for the poll shows", async () => {
    try {
      const known = await ids("b");
      // Commit now, push later: the hub cannot see it before the push, and the lead time must still count it.
      const delayMs = 4000;
      const work = repo.workTree;
      await run("git", ["-C", work, "checkout", "--quiet", "main"]);
      for (const [path, content] of Object.entries(kustomizeApp("b", "3"))) {
        await mkdir(dirname(join(work, path)), { recursive: true });
        await writeFile(join(work, path), content);
      }
      await run("git", ["-C", work, "add", "--all"]);
      await run("git", ["-C", work, "commit", "--quiet", "-m", "b: version 3"]);
      await new Promise((r) => setTimeout(r, delayMs));
      await run("git", ["-C", work, "push", "--quiet", "origin", "main:main"]);
      const r = await nextRollout("b", known, "Succeeded", (x) => x.state === "Succeeded");
      expect(r.leadTime.startsAt).toBe("commit");
      expect(r.commitAtMs).toBe(r.commit.committedAtMs);
      expect(r.leadTime.commitToDetectedSeconds).toBeGreaterThanOrEqual(delayMs / 1000);
      expect(r.leadTime.commitToConvergedSeconds).toBeGreaterThanOrEqual(delayMs / 1000);
      expect(r.leadTime.commitToConvergedSeconds).toBeGreaterThan(r.leadTime.detectedToConvergedSeconds);
      const metrics = await (await fetch(`${hub.url}/metrics`)).text();
      expect(metrics).toMatch(/flotilla_commit_to_converged_seconds_count\{environment="prod"\} [1-9]/);
    } catch (err) {
      await dump();
      throw err;
    }
  });
});
