/**
 * A cluster asks for a freeze itself, on real parts: a fleet from @flotilla/devfleet (hub, real
 * agents, three Kubernetes fixture clusters of environment `prod`, NATS, Redis, Git). The
 * cluster's operator labels a ConfigMap `flotilla.io/freeze` in the agent's namespace; the agent
 * reads it and says so in every heartbeat; the hub holds that cluster as its environment's
 * `offlineClusters` policy says for an offline one: `skip` leaves it behind and reports it,
 * `block` makes the wave wait with the reason until the ConfigMap is gone.
 * Nothing asserts on how long anything took, only on the order of the hub's own timestamps.
 */
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { RolloutSummary, RolloutView } from "@flotilla/api";
import { binPath, type FixtureRepo, type Fleet, type HubProcess, startFleet, waitsOf } from "@flotilla/devfleet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const AGENT_NAMESPACE = "flotilla-system";
const CLUSTERS = [
  { name: "canary", labels: { env: "prod", tier: "canary" } },
  { name: "eu-1", labels: { env: "prod", region: "eu" } },
  { name: "us-1", labels: { env: "prod", region: "us" } },
] as const;
type ClusterName = (typeof CLUSTERS)[number]["name"];
const until = waitsOf(180_000, 200);

const config = (version: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  version: "${version}"\n`;

const FREEZE_REQUEST = `apiVersion: v1
kind: Namespace
metadata: { name: ${AGENT_NAMESPACE} }
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: maintenance
  namespace: ${AGENT_NAMESPACE}
  labels: { flotilla.io/freeze: "true" }
data:
  reason: etcd defrag
`;

describe("a cluster that asks for a freeze through its agent", () => {
  let fleet: Fleet;
  let hub: HubProcess;
  let repo: FixtureRepo;
  const api = <T>(method: string, path: string, body?: unknown) => hub.api.request<T>(method, path, body);
  const dump = async () => process.stderr.write(await fleet.logTails(80));

  async function kubectl(name: ClusterName, ...args: string[]): Promise<string> {
    const { stdout } = await run(binPath("kubectl"), [
      "--kubeconfig",
      fleet.cluster(name).kube.kubeconfigPath,
      ...args,
    ]);
    return stdout;
  }

  /** The rollout of `revision`, once `done` holds. */
  const rolloutOf = (revision: string, what: string, done: (r: RolloutView) => boolean) =>
    until(`rollout to ${revision.slice(0, 7)}: ${what}`, async () => {
      const list = await api<{ items: RolloutSummary[] }>("GET", "/v1/rollouts?app=web&environment=prod");
      const id = list.json?.items.find((r) => r.to.revision === revision)?.id;
      if (!id) return undefined;
      const r = (await api<RolloutView>("GET", `/v1/rollouts/${id}`)).json;
      return r && done(r) ? r : undefined;
    });
  const clusterOf = (r: RolloutView, name: string) => r.waves.flatMap((w) => w.clusters).find((c) => c.name === name);
  /** The revision of the app's last report from `name`. */
  const reported = async (name: ClusterName): Promise<string | undefined> => {
    const view = (await api<{ apps: { app: string; report?: { revision: string } }[] }>("GET", `/v1/clusters/${name}`))
      .json;
    return view?.apps.find((a) => a.app === "web")?.report?.revision;
  };
  const freezeOf = async (name: ClusterName) =>
    (await api<{ status: { freeze?: { reason: string; source: string } } }>("GET", `/v1/clusters/${name}`)).json?.status
      .freeze;
  const setPolicy = async (offlineClusters: "block" | "skip") => {
    const policy = {
      waves: [{ name: "canary", selector: { tier: "canary" }, maxConcurrency: 1, bakeSeconds: 0 }],
      remaining: { maxConcurrency: 2, bakeSeconds: 0 },
      progressDeadlineSeconds: 120,
      offlineClusters,
    };
    const res = await api("PUT", "/v1/environments/prod", { policy });
    expect([200, 201]).toContain(res.status);
  };
  const push = (version: string) => repo.commit("main", { "web/config.yaml": config(version) }, `web ${version}`);

  beforeAll(async () => {
    fleet = await startFleet({
      repos: { shop: { main: { "web/config.yaml": config("1") } } },
      clusters: CLUSTERS,
      hubEnv: { FLOTILLA_HUB_POLL_INTERVAL: "1s", FLOTILLA_HEARTBEAT_INTERVAL: "1s" },
      agentEnv: { FLOTILLA_HEARTBEAT_INTERVAL: "1", FLOTILLA_HEALTH_POLL: "1", FLOTILLA_HEALTH_IDLE_POLL: "2" },
    });
    hub = fleet.hub;
    repo = fleet.repo("shop");
    await setPolicy("skip");
    expect((await api("POST", "/v1/teams", { name: "shop" })).status).toBe(201);
    const repoBody = {
      name: "shop",
      team: "shop",
      url: repo.url,
      branches: { prod: "main" },
      pollIntervalSeconds: 0.5,
      credentials: { username: fleet.git.username, password: fleet.git.password },
    };
    expect((await api("POST", "/v1/repos", repoBody)).status).toBe(201);
    expect((await api("POST", "/v1/apps", { name: "web", repo: "shop", path: "web", namespace: "shop" })).status).toBe(
      201,
    );
    try {
      await rolloutOf(await repo.head("main"), "Succeeded", (r) => r.state === "Succeeded");
    } catch (err) {
      await dump();
      throw err;
    }
  }, 420_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  it("skip: the frozen cluster is left behind and reported while the others receive the release", async () => {
    try {
      const file = join(fleet.dir, "freeze.yaml");
      await writeFile(file, FREEZE_REQUEST);
      await kubectl("eu-1", "apply", "-f", file);
      // The agent reads the ConfigMap and says so in its heartbeat; the hub keeps it in the status.
      const freeze = await until(
        "eu-1's heartbeat to ask for a freeze",
        async () => (await freezeOf("eu-1")) ?? undefined,
      );
      expect(freeze).toMatchObject({ reason: "etcd defrag", source: `configmap ${AGENT_NAMESPACE}/maintenance` });
      const before = await reported("eu-1");
      const sha = await push("2");
      const done = await rolloutOf(sha, "settled", (r) => r.settled);
      expect(done.state).toBe("Succeeded");
      expect(clusterOf(done, "eu-1")).toMatchObject({ state: "skipped" });
      expect(clusterOf(done, "eu-1")?.dispatchedAtMs).toBeUndefined();
      expect(clusterOf(done, "eu-1")?.why).toBe(
        "skipped: cluster requested a freeze: etcd defrag when its turn came (offlineClusters: skip)",
      );
      expect(clusterOf(done, "us-1")?.state).toBe("healthy");
      expect(await reported("us-1")).toBe(sha);
      expect(await reported("eu-1")).toBe(before);
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("block: the wave waits for the frozen cluster with the reason, and goes on once the ConfigMap is deleted", async () => {
    try {
      await setPolicy("block");
      const sha = await push("3");
      const waiting = await rolloutOf(sha, "eu-1 waiting for its freeze", (r) =>
        (clusterOf(r, "eu-1")?.why ?? "").includes("cluster requested a freeze"),
      );
      expect(clusterOf(waiting, "eu-1")?.why).toBe(
        "waiting: cluster requested a freeze: etcd defrag (offlineClusters: block)",
      );
      const others = await rolloutOf(sha, "us-1 healthy", (r) => clusterOf(r, "us-1")?.state === "healthy");
      expect(others.state).toBe("Progressing");
      expect(clusterOf(others, "eu-1")?.state).toBe("pending");
      expect(await reported("eu-1")).not.toBe(sha);

      await kubectl("eu-1", "-n", AGENT_NAMESPACE, "delete", "configmap", "maintenance");
      await until("eu-1's freeze to be lifted", async () =>
        (await freezeOf("eu-1")) === undefined ? true : undefined,
      );
      const done = await rolloutOf(sha, "settled", (r) => r.settled);
      expect(done.state).toBe("Succeeded");
      expect(clusterOf(done, "eu-1")?.state).toBe("healthy");
      expect(clusterOf(done, "eu-1")?.dispatchedAtMs).toBeGreaterThan(clusterOf(done, "us-1")?.healthyAtMs ?? Infinity);
      expect(await reported("eu-1")).toBe(sha);
    } catch (err) {
      await dump();
      throw err;
    }
  });
});
