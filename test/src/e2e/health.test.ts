/**
 * Health you can gate a wave on, end to end: the hub and two agents as their real binaries
 * (`services/hub/dist/main.js`, `agents/kubernetes/dist/main.js`) in a devfleet, real nats-server,
 * redis-server and Git smart-HTTP server, and two Kubernetes fixture clusters of environment
 * `prod`: `canary` (tier=canary) in the first wave, `main` in the second. Build first:
 * `npx turbo run build`.
 *
 * The test plays the controllers the clusters lack: it writes the status of the custom
 * resources (Widget with Reconciling/Ready conditions, Gadget with a `status.phase` only a
 * CEL rule can read) and deletes the Pods of the OnDelete DaemonSet, as an operator would.
 * kwok plays a crash loop for Pods labelled CRASH_LOOP_LABEL (packages/devfleet/src/kube/stages.ts).
 * The CRDs are installed by the test, as a cluster's administrator would: the team's apps may
 * hold no cluster-scoped kind (its team's default policy allows none).
 *
 * The rollout deadline and the agents' progress deadline are 10 minutes, so any failure seen
 * here within a run of a few minutes came from the health verdict, not a deadline. Nothing
 * asserts on how long anything took: only on reasons, states and the order of timestamps.
 */
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  binPath,
  CRASH_LOOP_LABEL,
  type FileChanges,
  type FixtureRepo,
  type Fleet,
  type HubProcess,
  startFleet,
  waitsOf,
} from "@flotilla/devfleet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const DEADLINE_SECONDS = 600;
const CLUSTERS = [
  { name: "canary", labels: { env: "prod", tier: "canary" } },
  { name: "main", labels: { env: "prod" } },
] as const;
type ClusterName = (typeof CLUSTERS)[number]["name"];

type Json = ReturnType<typeof JSON.parse>;

const until = waitsOf(180_000, 200);

const crd = (kind: string, plural: string) => `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${plural}.example.com
spec:
  group: example.com
  scope: Namespaced
  names: { plural: ${plural}, singular: ${kind.toLowerCase()}, kind: ${kind}, listKind: ${kind}List }
  versions:
    - name: v1
      served: true
      storage: true
      subresources: { status: {} }
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: { type: object, x-kubernetes-preserve-unknown-fields: true }
            status: { type: object, x-kubernetes-preserve-unknown-fields: true }
`;

/** The CRDs of the custom resources, installed by the cluster's administrator. */
const CRDS = `${crd("Widget", "widgets")}---\n${crd("Gadget", "gadgets")}`;

/** The app at one version: an OnDelete DaemonSet and a Widget whose spec follows the version. */
function manifests(version: string): FileChanges {
  return {
    "deploy/daemonset.yaml": `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: node-agent
spec:
  selector:
    matchLabels: { app: node-agent }
  updateStrategy: { type: OnDelete }
  template:
    metadata:
      labels: { app: node-agent }
      annotations: { version: "${version}" }
    spec:
      containers:
        - name: agent
          image: registry.invalid/node-agent:${version}
`,
    "deploy/widget.yaml": `apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
spec:
  version: "${version}"
`,
  };
}

const crashingDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 1
  selector:
    matchLabels: { app: api }
  template:
    metadata:
      labels: { app: api, ${CRASH_LOOP_LABEL}: "true" }
    spec:
      containers:
        - name: api
          image: registry.invalid/api:broken
`;

const gadget = `apiVersion: example.com/v1
kind: Gadget
metadata:
  name: g
spec:
  size: 1
`;

const GADGET_RULE = {
  group: "example.com",
  kind: "Gadget",
  current: "status.phase == 'Ready'",
  failed: "status.phase == 'Failed'",
};

describe("health gates waves on real clusters", () => {
  let fleet: Fleet;
  let hub: HubProcess;
  let repo: FixtureRepo;
  const revisions: Record<string, string> = {};

  const api = async (method: string, path: string, body?: unknown) => hub.api.request<Json>(method, path, body);

  const dump = async () => {
    process.stderr.write(await fleet.logTails(100));
    for (const c of CLUSTERS) {
      const r = await report(c.name).catch(() => undefined);
      process.stderr.write(`---- last report from ${c.name} ----\n${JSON.stringify(r, null, 1)}\n`);
    }
  };

  async function kubectl(name: ClusterName, ...args: string[]): Promise<string> {
    const kubeconfig = fleet.cluster(name).kube.kubeconfigPath;
    const { stdout } = await run(binPath("kubectl"), ["--kubeconfig", kubeconfig, "-n", "shop", ...args]);
    return stdout;
  }

  /** Writes a custom resource's status, as its controller would, through the status subresource. */
  async function writeStatus(name: ClusterName, resource: string, status: (generation: number) => Json) {
    const generation = Number(await kubectl(name, "get", resource, "-o", "jsonpath={.metadata.generation}"));
    await kubectl(
      name,
      "patch",
      resource,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status: status(generation) }),
    );
  }

  /** The Widget controller: done (Ready) or still at work (Reconciling, Ready left True from before). */
  const markWidget = (name: ClusterName, reconciling: boolean) =>
    writeStatus(name, "widget/w", (generation) => ({
      observedGeneration: generation,
      conditions: [
        { type: "Ready", status: "True", reason: "Succeeded" },
        { type: "Reconciling", status: reconciling ? "True" : "False", reason: reconciling ? "Progressing" : "Done" },
      ],
    }));

  /** The objects of the app's last report from one cluster. */
  async function report(name: ClusterName): Promise<Json | undefined> {
    const apps = (await api("GET", `/v1/clusters/${name}`)).json?.apps ?? [];
    return apps.find((a: Json) => a.app === "shop")?.report;
  }

  /** Waits for a report of `revision` in which `kind/name` has `health` and a message matching `message`. */
  function resourceReported(cluster: ClusterName, revision: string, kind: string, health: string, message: RegExp) {
    return until(`${cluster} to report ${kind} ${health} (${message})`, async () => {
      const r = await report(cluster);
      if (r?.revision !== revision) return undefined;
      const res = (r.resources ?? []).find((x: Json) => x.kind === kind);
      return res?.health === health && message.test(res.message) ? res : undefined;
    });
  }

  async function rolloutTo(revision: string): Promise<Json | undefined> {
    const list = (await api("GET", "/v1/rollouts?app=shop&environment=prod")).json;
    const summary = list.items.find((r: Json) => r.to.revision === revision);
    return summary ? (await api("GET", `/v1/rollouts/${summary.id}`)).json : undefined;
  }

  const waitRollout = (revision: string, what: string, test: (r: Json) => boolean) =>
    until(`rollout to ${revision.slice(0, 7)}: ${what}`, async () => {
      const r = await rolloutTo(revision);
      return r && test(r) ? r : undefined;
    });

  const clusterOf = (r: Json, name: ClusterName): Json =>
    r.waves.flatMap((w: Json) => w.clusters).find((c: Json) => c.name === name);

  /** Waits until `cluster` has applied `revision` (its report is past the apply). */
  const applied = (name: ClusterName, revision: string) =>
    until(`${name} to apply ${revision.slice(0, 7)}`, async () => {
      const r = await report(name);
      return r?.revision === revision && r.phase === "synced" ? true : undefined;
    });

  /** Lets a cluster's DaemonSet and Widget converge to what was applied. */
  async function converge(name: ClusterName, revision: string) {
    await applied(name, revision);
    await kubectl(name, "delete", "pods", "-l", "app=node-agent", "--wait=false");
    await markWidget(name, false);
  }

  /** The revision a test commits, known once it is pushed. */
  const rev = (name: string): string => {
    const r = revisions[name];
    if (!r) throw new Error(`revision ${name} was not committed`);
    return r;
  };

  beforeAll(async () => {
    fleet = await startFleet({
      repos: { shop: { main: manifests("v1") } },
      clusters: CLUSTERS,
      hubEnv: { FLOTILLA_HUB_POLL_INTERVAL: "1s", FLOTILLA_HEARTBEAT_INTERVAL: "1s" },
      agentEnv: {
        FLOTILLA_HEARTBEAT_INTERVAL: "1",
        FLOTILLA_HEALTH_POLL: "1",
        FLOTILLA_HEALTH_IDLE_POLL: "2",
        FLOTILLA_PROGRESS_DEADLINE: `${DEADLINE_SECONDS}s`,
      },
    });
    hub = fleet.hub;
    repo = fleet.repo("shop");
    revisions.v1 = await repo.head("main");
    const policy = {
      policy: {
        waves: [
          { name: "canary", selector: { tier: "canary" }, maxConcurrency: 1, bakeSeconds: 1 },
          { name: "main", selector: {}, maxConcurrency: 1, bakeSeconds: 1 },
        ],
        progressDeadlineSeconds: DEADLINE_SECONDS,
        autoRollback: true,
        offlineClusters: "block",
      },
    };
    expect((await api("PUT", "/v1/environments/prod", policy)).status).toBe(201);
    const crds = join(fleet.dir, "crds.yaml");
    writeFileSync(crds, CRDS);
    for (const c of CLUSTERS) {
      await kubectl(c.name, "apply", "-f", crds);
      await kubectl(c.name, "wait", "--for=condition=Established", "-f", crds, "--timeout=60s");
    }
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
    const app = { name: "shop", repo: "shop", path: "deploy", namespace: "shop", prune: true };
    expect((await api("POST", "/v1/apps", app)).status).toBe(201);
    // The first revision goes through the same waves: the Widgets need their controller.
    try {
      for (const c of CLUSTERS) await converge(c.name, rev("v1"));
      await waitRollout(rev("v1"), "Succeeded", (r) => r.state === "Succeeded");
    } catch (err) {
      await dump();
      throw err;
    }
  }, 420_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  it("holds the canary wave while an OnDelete DaemonSet and a Reconciling custom resource converge", async () => {
    try {
      const v2 = await repo.commit("main", manifests("v2"));
      revisions.v2 = v2;
      // The new template waits for its Pods to be deleted; the Widget's controller is at work
      // and leaves Ready True from the last generation.
      await applied("canary", v2);
      await markWidget("canary", true);
      await resourceReported("canary", v2, "DaemonSet", "suspended", /run the latest template.*delete the others/);
      await resourceReported("canary", v2, "Widget", "progressing", /^reconciling: Progressing/);
      let r = await rolloutTo(v2);
      expect(clusterOf(r, "canary").state).toBe("progressing");
      expect(clusterOf(r, "main").dispatchedAtMs).toBeUndefined();

      // The DaemonSet's Pods are replaced and turn available: the Widget still holds the wave.
      await kubectl("canary", "delete", "pods", "-l", "app=node-agent", "--wait=false");
      await resourceReported("canary", v2, "DaemonSet", "healthy", /pods available/);
      const held = await resourceReported("canary", v2, "Widget", "progressing", /^reconciling/);
      expect(held.health).toBe("progressing");
      r = await rolloutTo(v2);
      expect(clusterOf(r, "canary").state).toBe("progressing");
      expect(clusterOf(r, "main").dispatchedAtMs).toBeUndefined();

      // The controller finishes: only now does the canary turn healthy and the wave pass.
      const doneAtMs = Date.now();
      await markWidget("canary", false);
      r = await waitRollout(v2, "canary healthy", (x) => clusterOf(x, "canary").healthyAtMs !== undefined);
      expect(clusterOf(r, "canary").healthyAtMs).toBeGreaterThanOrEqual(doneAtMs);
      await converge("main", v2);
      r = await waitRollout(v2, "Succeeded", (x) => x.state === "Succeeded");
      expect(clusterOf(r, "main").dispatchedAtMs).toBeGreaterThanOrEqual(clusterOf(r, "canary").healthyAtMs);
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("fails the canary on a crash loop well before the deadline and rolls it back", async () => {
    try {
      revisions.v3 = await repo.commit("main", { "deploy/api.yaml": crashingDeployment });
      const r = await waitRollout(rev("v3"), "RolledBack and settled", (x) => x.state === "RolledBack" && x.settled);
      const canary = clusterOf(r, "canary");
      expect(r.failure.wave).toBe("canary");
      expect(canary.state).toBe("rolled-back");
      // The verdict came from the Pods, named, not from a deadline.
      expect(r.failure.reason).toMatch(
        /canary: degraded: Deployment\/api degraded: pod api-[a-z0-9-]+: container api is crash-looping \(5 restarts; last exit 1, Error\)/,
      );
      expect(r.failure.reason).not.toMatch(/deadline/);
      expect(clusterOf(r, "main").dispatchedAtMs).toBeUndefined();
      // The canary runs v2 again, healthy, and the crashing Deployment is pruned.
      await until("the canary to report the rollback healthy", async () => {
        const rep = await report("canary");
        return rep?.observedGeneration === canary.rollback.generation &&
          rep.revision === rev("v2") &&
          rep.health === "healthy"
          ? true
          : undefined;
      });
      expect(await kubectl("canary", "get", "deployments", "-o", "name")).not.toContain("deployment.apps/api");
      // Undo the commit so the next test starts from v2's objects.
      revisions.v4 = await repo.commit("main", { "deploy/api.yaml": null });
      await waitRollout(rev("v4"), "Succeeded", (x) => x.state === "Succeeded");
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("turns a wave Healthy on a custom kind only when its CEL health rule holds", async () => {
    try {
      const app = { repo: "shop", path: "deploy", namespace: "shop", prune: true };
      const bad = await api("PUT", "/v1/apps/shop", {
        ...app,
        healthChecks: [{ ...GADGET_RULE, current: "phase == 'Ready'" }],
      });
      expect(bad.status).toBe(400);
      expect(bad.json.field).toBe("healthChecks.0.current");
      expect(bad.json.message).toMatch(
        /^healthChecks\.0\.current: is not a CEL bool expression: Unknown variable: phase$/,
      );
      expect((await api("PUT", "/v1/apps/shop", { ...app, healthChecks: [GADGET_RULE] })).status).toBe(200);

      const v5 = await repo.commit("main", { "deploy/gadget.yaml": gadget });
      // No status yet, then a phase that is not Ready: the rule does not hold, the wave waits.
      await resourceReported(
        "canary",
        v5,
        "Gadget",
        "progressing",
        /^health rule example\.com\/Gadget: (failed|current) cannot be evaluated yet: No such key: phase$/,
      );
      await writeStatus("canary", "gadget/g", () => ({ phase: "Provisioning" }));
      await resourceReported(
        "canary",
        v5,
        "Gadget",
        "progressing",
        /current does not hold yet \(status\.phase == 'Ready'\)/,
      );
      let r = await rolloutTo(v5);
      expect(clusterOf(r, "canary").state).toBe("progressing");

      const readyAtMs = Date.now();
      await writeStatus("canary", "gadget/g", () => ({ phase: "Ready" }));
      r = await waitRollout(v5, "canary healthy", (x) => clusterOf(x, "canary").healthyAtMs !== undefined);
      expect(clusterOf(r, "canary").healthyAtMs).toBeGreaterThanOrEqual(readyAtMs);
      const healthy = await resourceReported("canary", v5, "Gadget", "healthy", /current holds/);
      expect(healthy.message).toBe("health rule example.com/Gadget: current holds (status.phase == 'Ready')");

      await applied("main", v5);
      await writeStatus("main", "gadget/g", () => ({ phase: "Ready" }));
      await waitRollout(v5, "Succeeded", (x) => x.state === "Succeeded");
    } catch (err) {
      await dump();
      throw err;
    }
  });
});
