/**
 * The fault on the Kubernetes side: real agents applying to real fixture API servers (a fleet
 * from @flotilla/devfleet: one hub, NATS, Redis, Git, two clusters in two waves), and the
 * canary's kube-apiserver SIGKILLed while its agent applies a release and started again.
 */
import type { ClusterDetail, RolloutSummary, RolloutView } from "@flotilla/api";
import { binPath, type Fleet, startFleet, until } from "@flotilla/devfleet";
import { DESIRED_BUCKET, DESIRED_STATE, isHubKeySetKey, KeyRing, open, publicKeyFromPem } from "@flotilla/proto";
import { CoreV1Api } from "@kubernetes/client-node";
import { connect, type NatsConnection } from "nats";
import { type FaultFigures, ROLLOUT_WAIT_MS, seconds } from "./world.js";

/** ConfigMaps of the app: enough that applying them all takes a window the restart can land in. */
export const OBJECTS = 60;
const NAMESPACE = "shop";
const CLUSTERS = [
  { name: "canary", labels: { env: "prod", tier: "canary" } },
  { name: "main-1", labels: { env: "prod" } },
] as const;

/** Why the case cannot run here, or false: it needs the fixture cluster's binaries. */
export function kubeFixturesMissing(): string | false {
  for (const tool of ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"] as const) {
    try {
      binPath(tool);
    } catch {
      return `${tool} is not built yet (scripts/setup builds it)`;
    }
  }
  return false;
}

function manifests(version: string): Record<string, string> {
  const docs = Array.from(
    { length: OBJECTS },
    (_, i) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-${i}\ndata:\n  version: "${version}"\n`,
  );
  return { "web/config.yaml": docs.join("---\n") };
}

/** A fleet of real agents on two fixture clusters, the app rolled out once. */
export async function startKubeFleet(): Promise<Fleet> {
  const fleet = await startFleet({
    repos: { shop: { main: manifests("1") } },
    clusters: CLUSTERS,
    hubEnv: { FLOTILLA_HUB_POLL_INTERVAL: "1s", FLOTILLA_HEARTBEAT_INTERVAL: "1s" },
    agentEnv: { FLOTILLA_HEARTBEAT_INTERVAL: "1", FLOTILLA_HEALTH_POLL: "1", FLOTILLA_HEALTH_IDLE_POLL: "2" },
  });
  try {
    const api = fleet.hub.api;
    const policy = {
      waves: [{ name: "canary", selector: { tier: "canary" }, maxConcurrency: 1, bakeSeconds: 1 }],
      remaining: { maxConcurrency: 1, bakeSeconds: 0 },
      progressDeadlineSeconds: 120,
      offlineClusters: "skip",
    };
    const ok = (what: string, status: number) => {
      if (status >= 300) throw new Error(`${what}: HTTP ${status}`);
    };
    ok("environment prod", (await api.request("PUT", "/v1/environments/prod", { policy })).status);
    ok("team shop", (await api.request("POST", "/v1/teams", { name: "shop" })).status);
    const repo = fleet.repo("shop");
    ok(
      "repo shop",
      (
        await api.request("POST", "/v1/repos", {
          name: "shop",
          team: "shop",
          url: repo.url,
          branches: { prod: "main" },
          pollIntervalSeconds: 0.5,
          credentials: { username: fleet.git.username, password: fleet.git.password },
        })
      ).status,
    );
    ok(
      "app web",
      (await api.request("POST", "/v1/apps", { name: "web", repo: "shop", path: "web", namespace: NAMESPACE })).status,
    );
    await rolloutOf(fleet, await repo.head("main"), (r) => r.state === "Succeeded");
    return fleet;
  } catch (err) {
    process.stderr.write(await fleet.logTails(80));
    await fleet.stop();
    throw err;
  }
}

async function rolloutOf(fleet: Fleet, revision: string, done: (r: RolloutView) => boolean): Promise<RolloutView> {
  const api = fleet.hub.api;
  return until(
    `the rollout to ${revision.slice(0, 7)} to settle`,
    async () => {
      const list = await api.request<{ items: RolloutSummary[] }>("GET", "/v1/rollouts?app=web&environment=prod");
      const id = list.json?.items.find((r) => r.to.revision === revision)?.id;
      if (!id) return undefined;
      const r = (await api.request<RolloutView>("GET", `/v1/rollouts/${id}`)).json;
      return r && done(r) ? r : undefined;
    },
    ROLLOUT_WAIT_MS,
    200,
  );
}

/** Writes to the desired-state bucket, as a watch sees them. */
async function watchWrites(
  fleet: Fleet,
  writes: { cluster: string; generation: number; rolloutId: string }[],
): Promise<NatsConnection> {
  const info = (await fleet.hub.api.request<{ hubPublicKey: string }>("GET", "/v1/hub")).json;
  const ring = new KeyRing([publicKeyFromPem(info?.hubPublicKey ?? "")]);
  const nc = await connect(fleet.nats.clientOptions());
  const kv = await nc.jetstream().views.kv(DESIRED_BUCKET);
  const watch = await kv.watch({ key: ">" });
  void (async () => {
    for await (const e of watch) {
      if (e.operation !== "PUT" || isHubKeySetKey(e.key)) continue;
      const m = open(DESIRED_STATE, e.value, ring).message;
      writes.push({ cluster: e.key.split(".")[0] ?? "", generation: Number(m.generation), rolloutId: m.rolloutId });
    }
  })();
  return nc;
}

/**
 * The canary's kube-apiserver SIGKILLed while its agent applies a release of {@link OBJECTS}
 * ConfigMaps (the restart lands once some, not all, carry the new version), down 2 s, started
 * again on the same port and etcd. The agent must apply the release whole once the API server
 * is back, report it, and the rollout complete in wave order with one write per cluster; every
 * object on both clusters must carry the new version (nothing half-applied).
 */
export async function apiserverRestartedMidApply(fleet: Fleet): Promise<FaultFigures & { landed: boolean }> {
  const writes: { cluster: string; generation: number; rolloutId: string }[] = [];
  const nc = await watchWrites(fleet, writes);
  const canary = fleet.cluster("canary");
  const core = (name: string) => fleet.cluster(name).kube.kubeConfig().makeApiClient(CoreV1Api);
  const versions = async (name: string, version: string) =>
    (await core(name).listNamespacedConfigMap({ namespace: NAMESPACE })).items.filter(
      (c) => c.metadata?.name?.startsWith("web-") && c.data?.version === version,
    ).length;
  // Report generations as the hub's status shows them, sampled through the case.
  const seen = new Map<string, number>();
  let regressions = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      for (const { name } of CLUSTERS) {
        const d = (await fleet.hub.api.request<ClusterDetail>("GET", `/v1/clusters/${name}`).catch(() => undefined))
          ?.json;
        const g = d?.apps.find((a) => a.app === "web")?.report?.observedGeneration;
        if (g === undefined) continue;
        if (g < (seen.get(name) ?? 0)) regressions++;
        seen.set(name, Math.max(g, seen.get(name) ?? 0));
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  try {
    const pushedAtMs = Date.now();
    const sha = await fleet.repo("shop").commit("main", manifests("2"), "web 2");
    // Poll the canary's API server until the agent has applied part of the release.
    const partial = await until(
      "the canary's agent to start applying",
      async () => {
        const n = await versions("canary", "2");
        return n > 0 ? n : undefined;
      },
      ROLLOUT_WAIT_MS,
      10,
    );
    const landed = partial < OBJECTS;
    const faultAtMs = Date.now();
    await canary.kube.restartApiServer({ kill: true, downMs: 2_000 });
    const backAtMs = Date.now();
    const r = await rolloutOf(fleet, sha, (v) => v.settled);
    const settledAtMs = Date.now();
    sampling = false;
    await sampler;
    const clusterOf = (name: string) => r.waves.flatMap((w) => w.clusters).find((c) => c.name === name);
    const canaryStep = clusterOf("canary");
    const mainStep = clusterOf("main-1");
    const orderViolations =
      mainStep?.dispatchedAtMs !== undefined &&
      (canaryStep?.healthyAtMs === undefined || mainStep.dispatchedAtMs < canaryStep.healthyAtMs)
        ? 1
        : 0;
    const mine = writes.filter((w) => w.rolloutId === r.id);
    const duplicateWrites = CLUSTERS.reduce(
      (n, { name }) => n + Math.max(mine.filter((w) => w.cluster === name).length - 1, 0),
      0,
    );
    // Lost: a cluster whose agent does not report what the hub last published, or an object not at the release.
    let lostWrites = 0;
    const stale: string[] = [];
    for (const { name } of CLUSTERS) {
      const d = (await fleet.hub.api.request<ClusterDetail>("GET", `/v1/clusters/${name}`)).json;
      const app = d?.apps.find((a) => a.app === "web");
      const applied = await versions(name, "2");
      if (!app?.current || app.report?.revision !== sha) lostWrites++;
      if (applied !== OBJECTS) {
        lostWrites++;
        stale.push(`${name}: ${applied} of ${OBJECTS} objects at the release`);
      }
    }
    return {
      fault: "kube-apiserver SIGKILLed under its agent mid-apply, restarted",
      rollouts: 1,
      completed: r.state === "Succeeded" ? 1 : 0,
      orderViolations,
      duplicateWrites,
      lostWrites,
      generationRegressions: regressions,
      detectSeconds: seconds(faultAtMs, backAtMs),
      recoverSeconds: seconds(faultAtMs, settledAtMs),
      landed,
      notes: [
        r.state,
        landed
          ? `killed with ${partial} of ${OBJECTS} objects applied`
          : `the apply had finished (${partial} of ${OBJECTS}) before the kill`,
        `push → kill ${seconds(pushedAtMs, faultAtMs)} s`,
        "detect = API server ready again",
        ...stale,
      ].join("; "),
    };
  } finally {
    sampling = false;
    await sampler;
    await nc.close();
  }
}
