/**
 * The hub and agent images, built from their Dockerfiles by scripts/images.sh (buildah, no
 * Docker engine, no registry), and run as the Helm charts run them: each chart's rendered pod
 * (environment, Secret files, emptyDirs, uid 1000, read-only root filesystem, no capabilities)
 * under runc, against real NATS in operator mode, Redis, Git and a Kubernetes fixture cluster.
 * The agent container uses the in-cluster configuration (its ServiceAccount's token, mounted
 * where the kubelet mounts it, with the chart's RBAC), applies an app and reports it Healthy.
 *
 * Slow (a first build debootstraps a base image): `npm run test:images`, not part of `npm test`.
 */
import { execFile } from "node:child_process";
import { chownSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { AppOnCluster } from "@flotilla/api";
import {
  binPath,
  type Cluster,
  EXAMPLE,
  exampleDocuments,
  exampleManifests,
  type FixtureRepo,
  freePort,
  type GitServer,
  HubApi,
  type NatsServer,
  newEncryptionKey,
  type RedisServer,
  startCluster,
  startGitServer,
  startNats,
  startRedis,
  until,
} from "@flotilla/devfleet";
import { createOperatorSetup, type OperatorSetup, serializeOperatorSetup } from "@flotilla/hub";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { type KubeObject, materialize, podPlan, probeUrl } from "../kubelet.js";
import { type Container, imageConfig, images, startContainer } from "./container.js";

const run = promisify(execFile);
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const NS = "flotilla-system";
const CLUSTER = "image-1";
const WAIT_MS = 180_000;
/** Where the kubelet mounts a pod's ServiceAccount token. */
const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

const work = mkdtempSync(join(tmpdir(), "flotilla-images-"));
let hubImage = "";
let agentImage = "";

async function helmTemplate(chart: "hub" | "agent", release: string, values: unknown): Promise<KubeObject[]> {
  const file = join(work, `${release}-values.yaml`);
  writeFileSync(file, stringify(values));
  const { stdout } = await run(binPath("helm"), [
    "template",
    release,
    join(REPO_ROOT, "charts", chart),
    "--namespace",
    NS,
    "-f",
    file,
  ]);
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null);
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) {
    throw new Error(
      "the image test runs as root: debootstrap, buildah's vfs store, runc and the pods' file ownership need it",
    );
  }
  const built = (await images("build")).split("\n");
  hubImage = built.find((l) => l.includes("flotilla-hub")) ?? "";
  agentImage = built.find((l) => l.includes("flotilla-agent")) ?? "";
  expect([hubImage, agentImage]).toEqual(["localhost/flotilla-hub:dev", "localhost/flotilla-agent:dev"]);
}, 1_800_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe("image layout", () => {
  it.each([
    ["hub", () => hubImage, "services/hub/dist/main.js"],
    ["agent", () => agentImage, "agents/kubernetes/dist/main.js"],
  ])(
    "%s: a numeric non-root user, node running the compiled entry point, no sources or dev tools",
    async (_n, image, main) => {
      const config = await imageConfig(image());
      expect(config.User).toBe("1000:1000");
      expect(config.Entrypoint).toEqual(["node", main]);
      expect(config.WorkingDir).toBe("/app");
      const ctr = await images("buildah", "from", "--pull-never", image());
      try {
        const root = await images("buildah", "mount", ctr);
        const app = join(root, "app");
        const { stdout } = await run("find", [
          app,
          "-path",
          join(app, "node_modules"),
          "-prune",
          "-o",
          "(",
          "-name",
          "src",
          "-o",
          "-name",
          "*.ts",
          "!",
          "-name",
          "*.d.ts",
          ")",
          "-print",
        ]);
        expect(stdout.trim()).toBe("");
        expect(statSync(join(root, "app", main)).isFile()).toBe(true);
        // Production dependencies only: no TypeScript, vitest or turbo in the image.
        for (const dev of ["typescript", "vitest", "turbo"]) {
          expect(() => statSync(join(root, "app/node_modules", dev)), dev).toThrow();
        }
      } finally {
        await images("buildah", "rm", ctr);
      }
    },
  );

  it("agent: carries helm, kustomize and a CA bundle, and its cache directory belongs to uid 1000", async () => {
    const ctr = await images("buildah", "from", "--pull-never", agentImage);
    try {
      const root = await images("buildah", "mount", ctr);
      for (const tool of ["helm", "kustomize"]) {
        expect(statSync(join(root, "usr/local/bin", tool)).mode & 0o111).not.toBe(0);
      }
      expect(statSync(join(root, "etc/ssl/certs/ca-certificates.crt")).size).toBeGreaterThan(1000);
      expect(statSync(join(root, "var/cache/flotilla")).uid).toBe(1000);
      const config = await imageConfig(agentImage);
      expect(config.Env).toEqual(expect.arrayContaining(["FLOTILLA_CACHE_DIR=/var/cache/flotilla", "HOME=/tmp"]));
    } finally {
      await images("buildah", "rm", ctr);
    }
  });
});

describe("the images run as the charts run them", () => {
  let setup: OperatorSetup;
  let nats: NatsServer;
  let redis: RedisServer;
  let git: GitServer;
  let cluster: Cluster;
  let repo: FixtureRepo;
  const containers: Container[] = [];
  const token = "t".repeat(8) + Math.random().toString(36).slice(2).padEnd(16, "x");
  let hubUrl = "";

  const kubectl = async (args: string[], input?: string) => {
    const child = run(binPath("kubectl"), ["--kubeconfig", cluster.kubeconfigPath, ...args]);
    if (input !== undefined) {
      child.child.stdin?.end(input);
    }
    return (await child).stdout.trim();
  };

  beforeAll(async () => {
    setup = await createOperatorSetup();
    [nats, redis, git, cluster] = await Promise.all([
      startNats({ operator: setup }),
      startRedis(),
      startGitServer(),
      startCluster({ name: "images" }),
    ]);
    repo = await git.createRepo(EXAMPLE.repo, { main: exampleManifests("v1"), develop: exampleManifests("v1") });
    // The agent's own namespace, and the app's: with the chart's default, namespace-scoped RBAC
    // the agent may not create namespaces.
    await kubectl(["create", "namespace", NS]);
    await kubectl(["create", "namespace", EXAMPLE.namespace]);
  });

  afterAll(async () => {
    for (const c of containers.reverse()) await c.stop();
    await Promise.all([nats?.stop(), redis?.stop(), git?.stop(), cluster?.stop()]);
  });

  async function failWithLog(container: Container, err: unknown): Promise<never> {
    throw new Error(`${(err as Error).message}\n--- container log ---\n${await container.process.tail(60)}`);
  }

  it("the hub image serves its API with the hub chart's pod settings", async () => {
    const port = await freePort();
    const objects = await helmTemplate("hub", "img", {
      hub: {
        listen: `127.0.0.1:${port}`,
        adminToken: token,
        encryptionKey: newEncryptionKey(),
        operatorSetup: serializeOperatorSetup(setup),
        pollInterval: "2s",
      },
      heartbeatInterval: "1s",
      nats: { url: nats.url, tls: { existingSecret: "nats-tls" } },
      redis: { url: redis.url },
      // The fixture Git server speaks plain HTTP on loopback.
      gitAllowHttp: true,
      gitAllowedHosts: [new URL(git.baseUrl).hostname],
    });
    // NATS's CA as a cert-manager Certificate's Secret would hold it; the hub puts it in bundles.
    const natsTlsSecret: KubeObject = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "nats-tls" },
      data: { "ca.crt": Buffer.from(nats.tls?.ca ?? "").toString("base64") },
    };
    const plan = podPlan([...objects, natsTlsSecret], "img-hub-0");
    expect(plan.security).toMatchObject({
      runAsUser: 1000,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    });
    const { mounts } = materialize(plan, join(work, "hub-pod"));
    const hub = await startContainer({
      name: "hub",
      image: hubImage,
      dir: work,
      env: plan.env,
      mounts,
      security: plan.security,
    });
    containers.push(hub);
    hubUrl = `http://127.0.0.1:${port}`;
    await until(
      "the hub container to answer its readiness probe",
      async () => {
        if (!hub.process.alive()) await failWithLog(hub, new Error("the hub container exited"));
        const res = await fetch(probeUrl(plan.container, plan.container.readinessProbe)).catch(() => undefined);
        return res?.status === 200;
      },
      WAIT_MS,
      250,
    ).catch((err: unknown) => failWithLog(hub, err));
    const api = new HubApi(hubUrl, token);
    expect((await api.request("GET", "/v1/hub")).status).toBe(200);
  });

  it("the agent image applies an app with its ServiceAccount and reports it Healthy", async () => {
    expect(hubUrl).not.toBe("");
    const api = new HubApi(hubUrl, token);
    await api.apply(exampleDocuments(repo.url, { username: git.username, password: git.password }));
    const bundle = await api.registerCluster(CLUSTER, { env: "prod", tier: "canary" });
    const metricsPort = await freePort();
    const objects = await helmTemplate("agent", "img", {
      bootstrap: { bundle: JSON.stringify(bundle) },
      gitCredentials: { credentials: [{ urlPrefix: git.baseUrl, username: git.username, password: git.password }] },
      metrics: { port: metricsPort },
      heartbeatInterval: "1s",
      rbac: { namespaces: [EXAMPLE.namespace] },
      gitAllowHttp: true,
      gitAllowedHosts: [new URL(git.baseUrl).hostname],
    });
    // The chart's ServiceAccount and RBAC, for real; the pod's token as the kubelet mounts it.
    const rbac = objects.filter((o) => o.kind === "ServiceAccount" || /Role/.test(o.kind));
    await kubectl(
      ["apply", "--server-side", "--field-manager=images-test", "-f", "-"],
      rbac.map((o) => stringify(o)).join("---\n"),
    );
    const plan = podPlan(objects, "img-agent-0");
    expect(plan.security).toMatchObject({
      runAsUser: 1000,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    });
    expect(plan.automountServiceAccountToken).toBe(true);
    const saDir = join(work, "agent-pod", "serviceaccount");
    mkdirSync(saDir, { recursive: true });
    const saToken = await kubectl(["-n", NS, "create", "token", plan.serviceAccountName ?? "", "--duration=1h"]);
    const caCert = cluster.kubeConfig().getCurrentCluster()?.caData ?? "";
    for (const [file, text] of [
      ["token", saToken],
      ["ca.crt", Buffer.from(caCert, "base64").toString("utf8")],
      ["namespace", NS],
    ] as const) {
      writeFileSync(join(saDir, file), text, { mode: 0o440 });
      chownSync(join(saDir, file), 0, plan.security.fsGroup ?? 0);
    }
    const { mounts } = materialize(plan, join(work, "agent-pod"));
    const server = new URL(cluster.server);
    const agent = await startContainer({
      name: "agent",
      image: agentImage,
      dir: work,
      // As the kubelet sets them for the kubernetes Service; loopback here, as every test server.
      env: {
        ...plan.env,
        FLOTILLA_METRICS_HOST: "127.0.0.1",
        KUBERNETES_SERVICE_HOST: server.hostname,
        KUBERNETES_SERVICE_PORT: server.port,
      },
      mounts: [...mounts, { source: saDir, destination: SERVICE_ACCOUNT_DIR, readOnly: true }],
      security: plan.security,
    });
    containers.push(agent);
    const health = await until(
      "the agent container to report the app Healthy",
      async () => {
        if (!agent.process.alive()) await failWithLog(agent, new Error("the agent container exited"));
        const status = await api.request<{ clusters: AppOnCluster[] }>("GET", `/v1/apps/${EXAMPLE.app}/status`);
        const mine = status.json?.clusters.find((c) => c.cluster === CLUSTER);
        return mine?.current && mine.report?.health === "healthy" ? mine.report : undefined;
      },
      WAIT_MS,
      500,
    ).catch((err: unknown) => failWithLog(agent, err));
    expect(health).toMatchObject({ phase: "synced", health: "healthy", revision: await repo.head("main") });
    const deployment = JSON.parse(
      await kubectl(["-n", EXAMPLE.namespace, "get", "deployment", "guestbook", "--show-managed-fields", "-o", "json"]),
    ) as {
      metadata: { managedFields?: { manager: string }[] };
    };
    expect(deployment.metadata.managedFields?.map((f) => f.manager)).toContain("flotilla");
    // The agent wrote only where the pod lets it: its root filesystem is read-only.
    expect(await agent.process.log()).not.toMatch(/EROFS|read-only file system/i);
  });
});
