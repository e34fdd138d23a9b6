import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ApiextensionsV1Api,
  AppsV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  type V1CustomResourceDefinition,
  type V1Deployment,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Cluster,
  ClusterStartError,
  isAlive,
  ReadinessTimeoutError,
  startCluster,
  startClusters,
} from "../src/index.js";

const FIELD_MANAGER = "flotilla-e2e";
const NAMESPACE = "demo";
const POLL = { timeout: 120_000, interval: 250 } as const;

const namespace: KubernetesObject = {
  apiVersion: "v1",
  kind: "Namespace",
  metadata: { name: NAMESPACE },
};

const deployment: V1Deployment = {
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web", namespace: NAMESPACE },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: "web" } },
    template: {
      metadata: { labels: { app: "web" } },
      spec: { containers: [{ name: "web", image: "registry.invalid/web:1", ports: [{ containerPort: 8080 }] }] },
    },
  },
};

const service: KubernetesObject & { spec: object } = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "web", namespace: NAMESPACE },
  spec: { selector: { app: "web" }, ports: [{ port: 80, targetPort: 8080 }] },
};

const crd: V1CustomResourceDefinition = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "widgets.e2e.flotilla.dev" },
  spec: {
    group: "e2e.flotilla.dev",
    scope: "Namespaced",
    names: { plural: "widgets", singular: "widget", kind: "Widget", listKind: "WidgetList" },
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: "object",
            properties: {
              spec: {
                type: "object",
                properties: { size: { type: "integer", minimum: 1 } },
                required: ["size"],
              },
            },
          },
        },
      },
    ],
  },
};

/** Server-side apply, as the agent applies manifests. */
function apply<T extends KubernetesObject>(client: KubernetesObjectApi, object: T): Promise<T> {
  return client.patch(object, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
}

async function exerciseCluster(cluster: Cluster): Promise<void> {
  const config = cluster.kubeConfig();
  const objects = KubernetesObjectApi.makeApiClient(config);
  const apps = config.makeApiClient(AppsV1Api);
  const core = config.makeApiClient(CoreV1Api);
  const discovery = config.makeApiClient(DiscoveryV1Api);
  const extensions = config.makeApiClient(ApiextensionsV1Api);

  await apply(objects, namespace);
  const applied = await apply(objects, deployment);
  expect(applied.metadata?.managedFields?.map((f) => f.manager)).toContain(FIELD_MANAGER);
  await apply(objects, service);

  await expect
    .poll(async () => {
      const { status } = await apps.readNamespacedDeployment({ name: "web", namespace: NAMESPACE });
      const available = status?.conditions?.find((c) => c.type === "Available")?.status;
      return { available, readyReplicas: status?.readyReplicas };
    }, POLL)
    .toEqual({ available: "True", readyReplicas: 2 });

  const pods = await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: "app=web" });
  expect(pods.items.map((p) => p.status?.phase)).toEqual(["Running", "Running"]);
  expect(pods.items.every((p) => p.spec?.nodeName?.startsWith("kwok-node-"))).toBe(true);
  // Pods run as the namespace's default ServiceAccount, which the controllers created.
  expect(pods.items.every((p) => p.spec?.serviceAccountName === "default")).toBe(true);

  const svc = await core.readNamespacedService({ name: "web", namespace: NAMESPACE });
  expect(svc.spec?.clusterIP).toMatch(/^10\.0\.0\.\d+$/);
  await expect
    .poll(async () => {
      const slices = await discovery.listNamespacedEndpointSlice({
        namespace: NAMESPACE,
        labelSelector: "kubernetes.io/service-name=web",
      });
      return slices.items.flatMap((s) => s.endpoints.filter((e) => e.conditions?.ready)).length;
    }, POLL)
    .toBe(2);

  await apply(objects, crd);
  await expect
    .poll(async () => {
      const { status } = await extensions.readCustomResourceDefinition({ name: crd.metadata?.name ?? "" });
      return status?.conditions?.find((c) => c.type === "Established")?.status;
    }, POLL)
    .toBe("True");
  const widget = {
    apiVersion: "e2e.flotilla.dev/v1",
    kind: "Widget",
    metadata: { name: "w1", namespace: NAMESPACE },
  } satisfies KubernetesObject;
  const created = await objects.create<KubernetesObject & { spec: { size: number } }>({ ...widget, spec: { size: 3 } });
  expect(created.metadata?.uid).toBeTruthy();
  const read = (await objects.read(widget)) as KubernetesObject & { spec?: { size?: number } };
  expect(read.spec?.size).toBe(3);
  // The schema is enforced: a real apiserver, not a store of arbitrary JSON.
  await expect(
    objects.create({ ...widget, metadata: { ...widget.metadata, name: "w2" }, spec: { size: 0 } }),
  ).rejects.toThrow(/spec.size/);
}

describe("kube clusters", () => {
  const names = ["alpha", "bravo", "charlie"];
  let clusters: Cluster[] = [];

  beforeAll(async () => {
    const started = performance.now();
    clusters = await startClusters(names);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`started ${names.length} clusters concurrently in ${seconds} s`);
  });

  afterAll(async () => {
    await Promise.all(clusters.map((c) => c.stop()));
  });

  it("gives each cluster its own port and CA", async () => {
    expect(new Set(clusters.map((c) => c.server)).size).toBe(names.length);
    const [a, b] = clusters as [Cluster, Cluster];
    // a's credentials and CA against b's server: b's certificate is not signed by a's CA.
    const crossed = a.kubeConfig();
    const current = crossed.getCurrentCluster();
    if (current === null) throw new Error("kubeconfig has no current cluster");
    crossed.clusters = [{ ...current, server: b.server }];
    await expect(crossed.makeApiClient(CoreV1Api).listNamespace()).rejects.toThrow(/certificate/);
  });

  it("applies a Deployment, Service and CRD in every cluster and runs the Pods", async () => {
    await Promise.all(clusters.map(exerciseCluster));
    for (const cluster of clusters) {
      const mib = (await cluster.residentMemoryBytes()) / 2 ** 20;
      console.log(`cluster ${cluster.name}: ${cluster.processes.length} processes, RSS ${mib.toFixed(0)} MiB`);
    }
  });

  it("restartApiServer() brings the apiserver back alone, on the same port and data, with a new pid", async () => {
    const cluster = clusters[0] as Cluster;
    const pidOf = (component: string) => cluster.processes.find((p) => p.component === component)?.pid;
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "before-restart" }, data: { kept: "yes" } },
    });
    const [apiserver, etcd] = [pidOf("kube-apiserver"), pidOf("etcd")];
    if (apiserver === undefined) throw new Error(`cluster ${cluster.name} lists no kube-apiserver`);
    await cluster.restartApiServer({ kill: true, downMs: 500 });
    expect(pidOf("kube-apiserver")).not.toBe(apiserver);
    expect(isAlive(apiserver)).toBe(false);
    expect(pidOf("etcd")).toBe(etcd);
    const kept = await core.readNamespacedConfigMap({ name: "before-restart", namespace: "default" });
    expect(kept.data).toEqual({ kept: "yes" });
  });

  it("stop() kills every process of the cluster and removes its directory", async () => {
    for (const cluster of clusters) {
      expect(cluster.processes.map((p) => p.component)).toEqual([
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
      ]);
      expect(cluster.processes.every((p) => isAlive(p.pid))).toBe(true);
      expect(existsSync(cluster.dir)).toBe(true);
      const started = performance.now();
      await cluster.stop();
      console.log(`cluster ${cluster.name} stopped in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      expect(cluster.processes.filter((p) => isAlive(p.pid))).toEqual([]);
      expect(existsSync(cluster.dir)).toBe(false);
    }
  });
});

describe("startCluster", () => {
  it("leaves no process or file behind when the start fails halfway", async () => {
    const parent = await mkdtemp(join(tmpdir(), "flotilla-kube-fail-"));
    try {
      // No time to wait for anything: etcd is started, then the first wait times out.
      const failure = await startCluster({ name: "doomed", dir: parent, startTimeoutMs: 1 }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(ClusterStartError);
      expect(failure).toMatchObject({ cluster: "doomed", component: "etcd" });
      expect((failure as ClusterStartError).cause).toBeInstanceOf(ReadinessTimeoutError);
      expect(await readdir(parent)).toEqual([]);
      expect(await processesMentioning(parent)).toEqual([]);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });
});

/** Pids of processes whose command line contains `text` (every component gets paths in its directory). */
async function processesMentioning(text: string): Promise<number[]> {
  const pids = (await readdir("/proc")).filter((entry) => /^\d+$/.test(entry));
  const matches = await Promise.all(
    pids.map(async (pid) => {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
      return cmdline.includes(text) ? [Number(pid)] : [];
    }),
  );
  return matches.flat();
}
