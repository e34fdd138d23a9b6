/**
 * Rollout waves end to end on a fleet from @flotilla/devfleet: the hub and three agents as
 * their built commands (processes, so one can be frozen with SIGSTOP), real nats-server,
 * redis-server and Git smart-HTTP server, and three Kubernetes fixture clusters of environment
 * `prod`: `canary` (tier=canary) in the first wave, `eu-1` and `eu-2` in the second. Build
 * first: `npx turbo run build`.
 *
 * The bad commit is a Deployment with an unknown field (`replicaz`): the API server's strict
 * field validation refuses it in the agent's server-side dry run, so the agent applies nothing
 * and reports the apply failed. (An image that does not exist would not do: kwok marks every
 * Pod Running whatever its image.)
 *
 * Nothing here asserts on how long anything took: only on the order of timestamps the hub
 * recorded, on states, and on what reached the desired-state bucket and the clusters.
 */
import { type FixtureRepo, type Fleet, type HubProcess, startFleet, waitsOf } from "@flotilla/devfleet";
import { DESIRED_BUCKET, DESIRED_STATE, isHubKeySetKey, KeyRing, open, publicKeyFromPem } from "@flotilla/proto";
import { CoreV1Api } from "@kubernetes/client-node";
import { connect, type KvEntry, type NatsConnection, type QueuedIterator } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const WAIT_MS = 120_000;
const CANARY_BAKE_SECONDS = 3;
const MAIN_BAKE_SECONDS = 1;
const CLUSTERS = [
  { name: "canary", labels: { env: "prod", tier: "canary" } },
  { name: "eu-1", labels: { env: "prod" } },
  { name: "eu-2", labels: { env: "prod" } },
] as const;

type Json = ReturnType<typeof JSON.parse>;

const until = waitsOf(WAIT_MS, 100);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every desired state the hub wrote, verified against its key, in bucket order. */
interface Written {
  key: string;
  generation: number;
  revision: string;
  rolloutId: string;
}

function manifests(version: string, extraDeploymentSpec = ""): Record<string, string> {
  return {
    "deploy/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
    "deploy/config.yaml": `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop-config\ndata:\n  version: "${version}"\n`,
    "deploy/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
spec:
  replicas: 2
${extraDeploymentSpec}  selector:
    matchLabels: { app: shop }
  template:
    metadata:
      labels: { app: shop }
    spec:
      containers:
        - name: main
          image: registry.invalid/shop:${version}
`,
  };
}

function environmentPolicy(requireApproval: boolean) {
  return {
    policy: {
      waves: [
        { name: "canary", selector: { tier: "canary" }, maxConcurrency: 1, bakeSeconds: CANARY_BAKE_SECONDS },
        { name: "main", selector: {}, maxConcurrency: 1, bakeSeconds: MAIN_BAKE_SECONDS, requireApproval },
      ],
      progressDeadlineSeconds: 90,
      autoRollback: true,
      offlineClusters: "block",
    },
  };
}

describe("rollout waves on three real clusters", () => {
  let fleet: Fleet;
  let hub: HubProcess;
  let repo: FixtureRepo;
  let nc: NatsConnection;
  let watch: QueuedIterator<KvEntry> | undefined;
  const written: Written[] = [];
  const revisions: Record<string, string> = {};

  const dump = async () => process.stderr.write(await fleet.logTails(100));

  const api = async (method: string, path: string, body?: unknown) => hub.api.request<Json>(method, path, body);

  /** The newest rollout of shop in prod going to `revision`. */
  async function rolloutTo(revision: string): Promise<Json | undefined> {
    const list = (await api("GET", "/v1/rollouts?app=shop&environment=prod")).json;
    const summary = list.items.find((r: Json) => r.to.revision === revision);
    return summary ? (await api("GET", `/v1/rollouts/${summary.id}`)).json : undefined;
  }

  async function waitRollout(revision: string, what: string, test: (r: Json) => boolean): Promise<Json> {
    return until(`rollout to ${revision.slice(0, 7)}: ${what}`, async () => {
      const r = await rolloutTo(revision);
      return r && test(r) ? r : undefined;
    });
  }

  const cluster = (r: Json, name: string): Json =>
    r.waves.flatMap((w: Json) => w.clusters).find((c: Json) => c.name === name);
  const writesOf = (revision: string, name: string) =>
    written.filter((w) => w.key === `${name}.shop` && w.revision === revision);

  async function configVersion(name: string): Promise<string | undefined> {
    const core = fleet.cluster(name).kube.kubeConfig().makeApiClient(CoreV1Api);
    try {
      return (await core.readNamespacedConfigMap({ name: "shop-config", namespace: "shop" })).data?.version;
    } catch {
      return undefined;
    }
  }

  beforeAll(async () => {
    fleet = await startFleet({
      repos: { shop: { main: manifests("v1") } },
      clusters: CLUSTERS,
      hubEnv: {
        FLOTILLA_HUB_POLL_INTERVAL: "1s",
        FLOTILLA_HEARTBEAT_INTERVAL: "1s",
        // Slow to call a silent cluster Offline, so a frozen agent's cluster stays Ready (stale-health case).
        FLOTILLA_HUB_OFFLINE_AFTER_MISSED: "30",
        FLOTILLA_HUB_LEASE_TTL: "2s",
      },
      agentEnv: {
        FLOTILLA_HEARTBEAT_INTERVAL: "1",
        FLOTILLA_HEALTH_POLL: "1",
        FLOTILLA_HEALTH_IDLE_POLL: "5",
        FLOTILLA_DRIFT_INTERVAL: "60",
      },
    });
    hub = fleet.hub;
    repo = fleet.repo("shop");
    revisions.v1 = await repo.head("main");

    const info = (await api("GET", "/v1/hub")).json;
    const ring = new KeyRing([publicKeyFromPem(info.hubPublicKey)]);
    nc = await connect(fleet.nats.clientOptions());
    const kv = await nc.jetstream().views.kv(DESIRED_BUCKET);
    watch = await kv.watch({ key: ">" });
    const iter = watch;
    void (async () => {
      for await (const e of iter) {
        if (e.operation !== "PUT" || isHubKeySetKey(e.key)) continue;
        const m = open(DESIRED_STATE, e.value, ring).message;
        written.push({
          key: e.key,
          generation: Number(m.generation),
          revision: m.source?.revision ?? "",
          rolloutId: m.rolloutId,
        });
      }
    })();

    expect((await api("PUT", "/v1/environments/prod", environmentPolicy(false))).status).toBe(201);
    expect((await api("POST", "/v1/teams", { name: "shop" })).status).toBe(201);
    expect(
      (
        await api("POST", "/v1/repos", {
          name: "shop",
          team: "shop",
          url: repo.url,
          branches: { prod: "main" },
          pollIntervalSeconds: 0.5,
          credentials: { username: fleet.git.username, password: fleet.git.password },
        })
      ).status,
    ).toBe(201);
    expect(
      (await api("POST", "/v1/apps", { name: "shop", repo: "shop", path: "deploy", namespace: "shop" })).status,
    ).toBe(201);
  }, 300_000);

  afterAll(async () => {
    watch?.stop();
    await nc?.close();
    await fleet?.stop();
  });

  it("validates policies and previews the wave plan without changing anything", async () => {
    try {
      const bad = await api("PUT", "/v1/environments/prod", {
        policy: { waves: [{ name: "canary", maxConcurrency: "150%" }] },
      });
      expect(bad.status).toBe(400);
      expect(bad.json.field).toBe("policy.waves.0.maxConcurrency");
      const plan = await api("POST", "/v1/environments/prod/plan", { app: "shop" });
      expect(plan.status).toBe(200);
      expect(plan.json.waves.map((w: Json) => [w.name, w.clusters])).toEqual([
        ["canary", ["canary"]],
        ["main", ["eu-1", "eu-2"]],
      ]);
      expect((await api("POST", "/v1/environments/prod/plan", { app: "nope" })).status).toBe(404);
      const openapi = (await api("GET", "/openapi.json")).json;
      expect(Object.keys(openapi.paths)).toEqual(
        expect.arrayContaining([
          "/v1/rollouts",
          "/v1/rollouts/{id}",
          "/v1/rollouts/{id}/{command}",
          "/v1/environments/{env}/plan",
        ]),
      );
      // The first deploy (no previous revision) goes through the same waves.
      const first = await waitRollout(revisions.v1!, "Succeeded", (r) => r.state === "Succeeded");
      expect(first.from).toBeUndefined();
      for (const c of CLUSTERS) expect(await configVersion(c.name)).toBe("v1");
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("takes a good commit canary → bake → second wave, one cluster at a time", async () => {
    try {
      revisions.v2 = await repo.commit("main", manifests("v2"));
      const r = await waitRollout(revisions.v2, "Succeeded", (x) => x.state === "Succeeded");
      expect(r.from.revision).toBe(revisions.v1);
      const [canaryWave, mainWave] = r.waves;
      expect(canaryWave.clusters.map((c: Json) => c.name)).toEqual(["canary"]);
      expect(mainWave.clusters.map((c: Json) => c.name)).toEqual(["eu-1", "eu-2"]);
      const canary = cluster(r, "canary");
      const [eu1, eu2] = [cluster(r, "eu-1"), cluster(r, "eu-2")];
      // The canary turned healthy, the bake ran its full time, and only then the next wave began.
      expect(canary.healthyAtMs).toBeGreaterThanOrEqual(canary.writtenAtMs);
      expect(canaryWave.bakeStartedAtMs).toBeGreaterThanOrEqual(canary.healthyAtMs);
      expect(canaryWave.completedAtMs - canaryWave.bakeStartedAtMs).toBeGreaterThanOrEqual(CANARY_BAKE_SECONDS * 1000);
      expect(mainWave.startedAtMs).toBeGreaterThanOrEqual(canaryWave.completedAtMs);
      for (const c of [eu1, eu2]) {
        expect(c.dispatchedAtMs).toBeGreaterThanOrEqual(canaryWave.completedAtMs);
        expect(c.dispatchedAtMs).toBeGreaterThanOrEqual(canary.healthyAtMs + CANARY_BAKE_SECONDS * 1000);
      }
      // maxConcurrency 1: eu-2 was written only after eu-1 turned healthy.
      expect(eu2.dispatchedAtMs).toBeGreaterThanOrEqual(eu1.healthyAtMs);
      // The bucket agrees: canary first, then eu-1, then eu-2, each written exactly once, at the
      // generation the rollout recorded.
      const order = written.filter((w) => w.revision === revisions.v2).map((w) => w.key);
      expect(order).toEqual(["canary.shop", "eu-1.shop", "eu-2.shop"]);
      for (const c of [canary, eu1, eu2])
        expect(writesOf(revisions.v2, c.name).map((w) => w.generation)).toEqual([c.generation]);
      for (const c of CLUSTERS) expect(await configVersion(c.name)).toBe("v2");
      expect(r.leadTime.commitToConvergedSeconds).toBeGreaterThan(0);
      expect(r.leadTime.waves.map((w: Json) => w.wave)).toEqual(["canary", "main"]);
      process.stdout.write(
        `good commit: detected→converged ${r.leadTime.detectedToConvergedSeconds}s (canary wave ${r.leadTime.waves[0].durationSeconds}s incl. ${CANARY_BAKE_SECONDS}s bake, main wave ${r.leadTime.waves[1].durationSeconds}s)\n`,
      );
      const metrics = (await api("GET", "/metrics")).text;
      expect(metrics).toMatch(/flotilla_commit_to_converged_seconds_count\{environment="prod"\} [1-9]/);
      expect(metrics).toMatch(/flotilla_rollout_wave_duration_seconds_count\{environment="prod"\} [1-9]/);
      const fleet = (await api("GET", "/v1/fleet/status")).json;
      expect(fleet.rollouts.inFlight).toBe(0);
      const status = (await api("GET", "/v1/apps/shop/status")).json;
      expect(status.rollouts).toEqual([expect.objectContaining({ id: r.id, state: "Succeeded" })]);
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("fails a bad commit in the canary wave, rolls the canary back, and never reaches the second wave", async () => {
    try {
      const before = cluster(await rolloutTo(revisions.v2!), "canary").generation;
      revisions.v3 = await repo.commit("main", manifests("v3", "  replicaz: 5\n"));
      const r = await waitRollout(revisions.v3, "RolledBack and settled", (x) => x.state === "RolledBack" && x.settled);
      expect(r.failure.kind).toBe("budget-exceeded");
      expect(r.failure.wave).toBe("canary");
      expect(r.failure.reason).toMatch(/canary: apply failed/);
      expect(r.failure.reason).toMatch(/replicaz/);
      const canary = cluster(r, "canary");
      expect(canary.state).toBe("rolled-back");
      expect(canary.rollback.generation).toBeGreaterThan(canary.generation);
      expect(canary.generation).toBeGreaterThan(before);
      for (const name of ["eu-1", "eu-2"]) {
        expect(cluster(r, name).state).toBe("pending");
        expect(cluster(r, name).dispatchedAtMs).toBeUndefined();
        expect(writesOf(revisions.v3, name)).toEqual([]);
      }
      // The canary runs the previous revision again, at a new generation, and reports it healthy.
      const back = written.filter((w) => w.key === "canary.shop").at(-1)!;
      expect(back).toMatchObject({ revision: revisions.v2, generation: canary.rollback.generation });
      await until("the canary to report the rollback healthy", async () => {
        const apps = (await api("GET", "/v1/clusters/canary")).json.apps;
        const rep = apps.find((a: Json) => a.app === "shop")?.report;
        return rep?.observedGeneration === back.generation && rep.revision === revisions.v2 && rep.health === "healthy"
          ? true
          : undefined;
      });
      for (const c of CLUSTERS) expect(await configVersion(c.name)).toBe("v2");
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("does not complete a wave on a stale Healthy report: the frozen canary holds it until it reports the new generation", async () => {
    const canaryAgent = fleet.cluster("canary").agent!.process;
    try {
      canaryAgent.signal("SIGSTOP");
      revisions.v4 = await repo.commit("main", manifests("v4"));
      const written4 = await waitRollout(
        revisions.v4,
        "canary written",
        (x) => cluster(x, "canary").generation !== undefined,
      );
      const gen = cluster(written4, "canary").generation;
      // Give the engine several steps with only the old report to look at.
      await sleep(4000);
      const held = await rolloutTo(revisions.v4);
      const report = (await api("GET", "/v1/clusters/canary")).json.apps.find((a: Json) => a.app === "shop").report;
      expect(report.health).toBe("healthy");
      expect(report.observedGeneration).toBeLessThan(gen);
      expect(held.state).toBe("Progressing");
      expect(held.waves[0].status).toBe("progressing");
      expect(cluster(held, "canary").state).toBe("progressing");
      expect(writesOf(revisions.v4, "eu-1")).toEqual([]);

      canaryAgent.signal("SIGCONT");
      const r = await waitRollout(revisions.v4, "Succeeded", (x) => x.state === "Succeeded");
      expect(cluster(r, "canary").healthyAtMs).toBeGreaterThan(cluster(held, "canary").writtenAtMs);
      for (const c of CLUSTERS) expect(await configVersion(c.name)).toBe("v4");
    } catch (err) {
      canaryAgent.signal("SIGCONT");
      await dump();
      throw err;
    }
  });

  it("holds a manual gate until promote; pause, resume and abort do what they say", async () => {
    try {
      expect((await api("PUT", "/v1/environments/prod", environmentPolicy(true))).status).toBe(200);
      revisions.v5 = await repo.commit("main", manifests("v5"));
      const waiting = await waitRollout(
        revisions.v5,
        "awaiting approval",
        (x) => x.waves[1].status === "awaiting-approval",
      );
      expect(waiting.state).toBe("Progressing");
      await sleep(2000);
      const still = await rolloutTo(revisions.v5);
      expect(still.waves[1].status).toBe("awaiting-approval");
      expect(writesOf(revisions.v5, "eu-1")).toEqual([]);

      const id = waiting.id;
      expect((await api("POST", `/v1/rollouts/${id}/pause`)).json.state).toBe("Paused");
      const promoted = await api("POST", `/v1/rollouts/${id}/promote`);
      expect(promoted.status).toBe(200);
      expect(promoted.json.waves[1].approvedAtMs).toBeGreaterThan(0);
      await sleep(2000);
      const paused = await rolloutTo(revisions.v5);
      expect(paused.state).toBe("Paused");
      expect(paused.waves[1].status).toBe("awaiting-approval");
      expect(writesOf(revisions.v5, "eu-1")).toEqual([]);

      expect((await api("POST", `/v1/rollouts/${id}/resume`)).json.state).toBe("Progressing");
      await until("eu-1 to get v5 after resume", () => (writesOf(revisions.v5!, "eu-1").length > 0 ? true : undefined));
      const aborted = await api("POST", `/v1/rollouts/${id}/abort`);
      expect(aborted.status).toBe(200);
      expect(aborted.json.state).toBe("Failed");
      expect(aborted.json.failure).toMatchObject({ kind: "aborted", reason: "aborted by api" });
      const untouched = aborted.json.waves[1].clusters
        .filter((c: Json) => c.state === "pending")
        .map((c: Json) => c.name);
      await sleep(2000);
      for (const name of untouched) expect(writesOf(revisions.v5, name)).toEqual([]);

      const again = await api("POST", `/v1/rollouts/${id}/promote`);
      expect(again.status).toBe(409);
      expect(again.json.message).toMatch(/already ended Failed/);
      expect((await api("POST", "/v1/rollouts/nope/pause")).status).toBe(404);
      expect((await api("POST", `/v1/rollouts/${id}/explode`)).status).toBe(400);
      const failed = (await api("GET", "/v1/rollouts?app=shop&state=Failed")).json.items.map((x: Json) => x.id);
      expect(failed).toContain(id);
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("supersedes a rollout in flight with a newer commit, which starts over from the first wave", async () => {
    try {
      revisions.v6 = await repo.commit("main", manifests("v6"));
      const v6 = await waitRollout(
        revisions.v6,
        "canary written",
        (x) => cluster(x, "canary").generation !== undefined,
      );
      revisions.v7 = await repo.commit("main", manifests("v7"));
      const v7 = await waitRollout(revisions.v7, "created", () => true);
      const old = await waitRollout(revisions.v6, "Superseded", (x) => x.state === "Superseded");
      expect(old.supersededBy).toBe(v7.id);
      expect(v7.from.revision).toBe(revisions.v4);
      for (const name of ["eu-1", "eu-2"]) expect(writesOf(revisions.v6, name)).toEqual([]);
      expect(v6.id).not.toBe(v7.id);
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("resumes after the hub is SIGKILLed mid-rollout without skipping or repeating a wave", async () => {
    try {
      const waiting = await waitRollout(
        revisions.v7!,
        "awaiting approval",
        (x) => x.waves[1].status === "awaiting-approval",
      );
      expect((await api("POST", `/v1/rollouts/${waiting.id}/promote`)).status).toBe(200);
      await until("eu-1 to get v7", () => (writesOf(revisions.v7!, "eu-1").length > 0 ? true : undefined));
      await hub.kill();
      hub = await fleet.startHub({ replica: "hub-b", waitFor: "leader" });
      const r = await waitRollout(revisions.v7!, "Succeeded", (x) => x.state === "Succeeded");
      expect(r.waves.map((w: Json) => w.status)).toEqual(["succeeded", "succeeded"]);
      expect(r.waves[1].startedAtMs).toBeGreaterThanOrEqual(r.waves[0].completedAtMs);
      for (const c of CLUSTERS) {
        const progress = cluster(r, c.name);
        expect(writesOf(revisions.v7!, c.name).map((w) => w.generation)).toEqual([progress.generation]);
        expect(await configVersion(c.name)).toBe("v7");
      }
      expect(written.filter((w) => w.revision === revisions.v7).map((w) => w.key)).toEqual([
        "canary.shop",
        "eu-1.shop",
        "eu-2.shop",
      ]);
    } catch (err) {
      await dump();
      throw err;
    }
  });
});
