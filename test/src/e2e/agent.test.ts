/**
 * The cluster agent end to end: real nats-server, git http-backend and Kubernetes API server.
 * The test plays the hub: it signs desired states with a hub key, writes them to the KV
 * bucket, and reads the agent's signed reports back. The agent runs as its built command
 * (`flotilla-agent`, started by @flotilla/devfleet), so the restart case can SIGKILL it.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type AgentProcess,
  type AgentProcessOptions,
  type Cluster,
  createCertificateAuthority,
  type FixtureRepo,
  freePort,
  type GitServer,
  type NatsServer,
  startAgentProcess,
  startCluster,
  startGitServer,
  startNats,
  until,
} from "@flotilla/devfleet";
import {
  AGENT_REQUEST,
  AGENT_RESPONSE,
  DESIRED_BUCKET,
  DESIRED_STATE,
  type DesiredStateInit,
  ErrorCode,
  generateSigningKey,
  HEARTBEAT,
  Health,
  heartbeatSubject,
  KeyRing,
  open,
  publicKeyToPem,
  REPORT,
  type Report,
  ResourceSync,
  rpcSubject,
  SourceType,
  STATUS_BUCKET,
  SyncPhase,
  seal,
  signingKeyToPem,
  stateKey,
  v1,
} from "@flotilla/proto";
import {
  AppsV1Api,
  CoreV1Api,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
} from "@kubernetes/client-node";
import { connect, type KV, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const CLUSTER = "agent-e2e";
const POLL_MS = 200;
const WAIT_MS = 90_000;

const configMap = (name: string, data: Record<string, string>) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n${Object.entries(data)
    .map(([k, v]) => `  ${k}: "${v}"`)
    .join("\n")}\n`;

const deployment = (name: string, image: string, extraSpec = "") => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: 2
${extraSpec}  selector:
    matchLabels: { app: ${name} }
  template:
    metadata:
      labels: { app: ${name} }
    spec:
      containers:
        - name: main
          image: ${image}
          ports: [{ containerPort: 8080 }]
`;

const service = (name: string) => `apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  selector: { app: ${name} }
  ports: [{ port: 80, targetPort: 8080 }]
`;

const helmChart = {
  "charts/api/Chart.yaml": "apiVersion: v2\nname: api\nversion: 0.1.0\n",
  "charts/api/values.yaml": "image: registry.invalid/api:1\nreplicaCount: 1\ngreeting: base\n",
  "charts/api/values-dev.yaml": "replicaCount: 3\ngreeting: hello-dev\n",
  "charts/api/templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels: { app: {{ .Release.Name }} }
  template:
    metadata:
      labels: { app: {{ .Release.Name }} }
    spec:
      containers:
        - name: main
          image: {{ .Values.image }}
`,
  "charts/api/templates/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  greeting: {{ .Values.greeting | quote }}
  kubeVersion: {{ .Capabilities.KubeVersion.Version | quote }}
`,
};

const kustomizeApp = {
  "kust/base/kustomization.yaml": "resources:\n  - deployment.yaml\n  - configmap.yaml\n",
  "kust/base/deployment.yaml": deployment("shop", "registry.invalid/shop:1"),
  "kust/base/configmap.yaml": configMap("shop-config", { mode: "base" }),
  "kust/overlays/dev/kustomization.yaml":
    "resources:\n  - ../../base\nnamePrefix: dev-\npatches:\n  - target: { kind: ConfigMap, name: shop-config }\n    patch: |\n      - op: replace\n        path: /data/mode\n        value: dev\n",
};

/** A CRD, a Namespace and a custom resource in that Namespace, in the worst order. */
const crdApp = `apiVersion: gadgets.example.com/v1
kind: Gadget
metadata:
  name: g1
  namespace: gadgets
spec:
  size: 3
---
apiVersion: v1
kind: Namespace
metadata:
  name: gadgets
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.gadgets.example.com
spec:
  group: gadgets.example.com
  scope: Namespaced
  names: { plural: gadgets, singular: gadget, kind: Gadget, listKind: GadgetList }
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: { type: integer }
`;

describe("cluster agent", () => {
  const hubKey = generateSigningKey();
  const agentKey = generateSigningKey();
  const forger = generateSigningKey();
  const agentKeys = new KeyRing([agentKey.publicKey]);
  const work = mkdtempSync(join(tmpdir(), "flotilla-agent-e2e-"));
  const generations = new Map<string, number>();
  let nats: NatsServer;
  let git: GitServer;
  let cluster: Cluster;
  let repo: FixtureRepo;
  let nc: NatsConnection;
  let desired: KV;
  let status: KV;
  let agent: AgentProcess;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let objects: KubernetesObjectApi;
  let agentOptions: AgentProcessOptions;
  /** Base URL of the agent's metrics, /healthz and /readyz endpoints. */
  let endpoints: string;
  const revisions: Record<string, string> = {};

  beforeAll(async () => {
    [nats, git, cluster] = await Promise.all([startNats(), startGitServer(), startCluster({ name: CLUSTER })]);
    repo = await git.createRepo("apps", {
      main: {
        "web/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n",
        "web/deployment.yaml": deployment("web", "registry.invalid/web:1"),
        "web/service.yaml": service("web"),
        "web/config/configmap.yaml": configMap("web-config", { color: "blue" }),
        "drift/configmap.yaml": configMap("settings", { level: "info" }),
        ...helmChart,
        ...kustomizeApp,
        "crd/all.yaml": crdApp,
        // No Namespace object: the target namespace and the other one used must be created.
        "guestbook/configmap.yaml": configMap("guestbook", { title: "Guestbook" }),
        "guestbook/deployment.yaml": deployment("guestbook", "registry.invalid/guestbook:1"),
        "broken/deployment.yaml": deployment("broken", "registry.invalid/broken:1", "  replicaz: 5\n"),
        "guestbook/cache.yaml": `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cache\n  namespace: guestbook-cache\ndata:\n  size: "1"\n`,
      },
    });
    revisions.v1 = await repo.head("main");
    nc = await connect(nats.clientOptions());
    const js = nc.jetstream();
    desired = await js.views.kv(DESIRED_BUCKET, { history: 1 });
    status = await js.views.kv(STATUS_BUCKET, { history: 1 });
    const kc = cluster.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
    objects = KubernetesObjectApi.makeApiClient(kc);

    const metricsPort = await freePort();
    endpoints = `http://127.0.0.1:${metricsPort}`;
    agentOptions = {
      dir: join(work, "agent"),
      bootstrap: {
        cluster: CLUSTER,
        natsUrl: nats.url,
        natsCreds: "",
        hubPublicKey: publicKeyToPem(hubKey.publicKey),
        agentSigningKey: signingKeyToPem(agentKey),
      },
      natsTls: nats.tls,
      kubeconfig: cluster.kubeconfigPath,
      git,
      metricsPort,
      env: {
        // Durations as the hub reads them; a bare number is still seconds.
        FLOTILLA_DRIFT_INTERVAL: "2s",
        FLOTILLA_HEALTH_POLL: "1",
        FLOTILLA_HEARTBEAT_INTERVAL: "1000ms",
        // Long, so a new generation is seen turning Healthy only if the agent polls fast while it progresses.
        FLOTILLA_HEALTH_IDLE_POLL: "10m",
        FLOTILLA_LOG_LEVEL: "debug",
      },
    };
    agent = await startAgentProcess(agentOptions);
  });

  afterAll(async () => {
    await agent?.stop();
    await nc?.close();
    await Promise.all([nats?.stop(), git?.stop(), cluster?.stop()]);
    rmSync(work, { recursive: true, force: true });
  });

  /**
   * What these apps may touch: anything but the agent's own namespace. Team policies have their
   * own end-to-end test (policy.test.ts); here the agent's other duties are under test.
   */
  const OPEN_POLICY = { team: "e2e", namespaces: ["*"], clusterResources: ["*"] };

  /** Signs and writes the next generation of `app`'s desired state. */
  async function putDesired(app: string, init: Partial<DesiredStateInit> & { source: DesiredStateInit["source"] }) {
    const generation = (generations.get(app) ?? 0) + 1;
    generations.set(app, generation);
    await desired.put(
      stateKey(CLUSTER, app),
      seal(
        DESIRED_STATE,
        { cluster: CLUSTER, app, generation, prune: true, environment: "dev", policy: OPEN_POLICY, ...init },
        hubKey,
      ),
    );
    return generation;
  }

  function source(path: string, revision: string, type = SourceType.SOURCE_TYPE_MANIFESTS) {
    return { repoUrl: repo.url, branch: "main", revision, path, type };
  }

  /** Waits until `app`'s report (verified with the agent's key) satisfies `test`. */
  async function waitReport(app: string, test: (r: Report) => boolean, what: string): Promise<Report> {
    const deadline = Date.now() + WAIT_MS;
    let last: Report | undefined;
    while (Date.now() < deadline) {
      // NATS may be restarting in the fault cases: a failed read is just another poll.
      const entry = await status.get(stateKey(CLUSTER, app)).catch(() => null);
      if (entry?.value.length) {
        last = open(REPORT, entry.value, agentKeys).message;
        if (test(last)) return last;
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    throw new Error(
      `timed out waiting for ${app}: ${what}; last report ${JSON.stringify(last && v1.Report.toObject(last, { enums: String }))}`,
    );
  }

  /** Waits until the `ops/settings` ConfigMap's `level` is `level`. */
  async function settingsLevelIs(level: string, what: string): Promise<void> {
    await until(
      what,
      async () => (await core.readNamespacedConfigMap({ name: "settings", namespace: "ops" })).data?.level === level,
      WAIT_MS,
      POLL_MS,
    );
  }

  const synced = (generation: number, revision: string) => (r: Report) =>
    Number(r.observedGeneration) === generation &&
    r.revision === revision &&
    r.phase === SyncPhase.SYNC_PHASE_SYNCED &&
    r.health === Health.HEALTH_HEALTHY;

  async function readOrUndefined<T>(read: () => Promise<T>): Promise<T | undefined> {
    try {
      return await read();
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  }

  it("applies a Deployment, Service and ConfigMap and reports Healthy at the right generation and revision", async () => {
    const gen = await putDesired("web", { source: source("web", revisions.v1 as string), targetNamespace: "web" });
    const report = await waitReport("web", synced(gen, revisions.v1 as string), "Healthy at generation 1");
    expect(report.resources.map((r) => `${r.ref?.kind}/${r.ref?.name}`).sort()).toEqual([
      "ConfigMap/web-config",
      "Deployment/web",
      "Namespace/web",
      "Service/web",
    ]);
    const d = await apps.readNamespacedDeployment({ name: "web", namespace: "web" });
    expect(d.metadata?.labels?.["flotilla.dev/app"]).toBe("web");
    expect(d.metadata?.managedFields?.some((f) => f.manager === "flotilla")).toBe(true);
    expect(report.timings?.totalMs).toBeGreaterThanOrEqual(0);
  });

  it("updates the image and prunes the ConfigMap the next commit drops", async () => {
    revisions.v2 = await repo.commit("main", {
      "web/deployment.yaml": deployment("web", "registry.invalid/web:2"),
      "web/config/configmap.yaml": null,
    });
    const gen = await putDesired("web", { source: source("web", revisions.v2), targetNamespace: "web" });
    const report = await waitReport("web", synced(gen, revisions.v2), "Healthy at generation 2");
    const d = await apps.readNamespacedDeployment({ name: "web", namespace: "web" });
    expect(d.spec?.template.spec?.containers[0]?.image).toBe("registry.invalid/web:2");
    expect(await readOrUndefined(() => core.readNamespacedConfigMap({ name: "web-config", namespace: "web" }))).toBe(
      undefined,
    );
    expect(report.resources.find((r) => r.ref?.name === "web-config")?.sync).toBe(ResourceSync.RESOURCE_SYNC_PRUNED);
  });

  it("applies nothing from a commit with a bad field and an unknown kind, and names both", async () => {
    revisions.v3 = await repo.commit("main", {
      "web/deployment.yaml": deployment("web", "registry.invalid/web:3", "  replicaz: 5\n"),
      "web/widget.yaml": "apiVersion: nope.example.com/v1\nkind: Widget\nmetadata:\n  name: w1\n",
      "web/extra.yaml": configMap("web-extra", { added: "yes" }),
    });
    const before = await apps.readNamespacedDeployment({ name: "web", namespace: "web" });
    const gen = await putDesired("web", { source: source("web", revisions.v3), targetNamespace: "web" });
    const report = await waitReport(
      "web",
      (r) => Number(r.observedGeneration) === gen && r.phase === SyncPhase.SYNC_PHASE_FAILED,
      "FAILED at generation 3",
    );
    expect(report.error?.code).toBe(ErrorCode.ERROR_CODE_VALIDATION_FAILED);
    const failed = (report.error?.objects ?? []).map((o) => `${o.ref?.kind}/${o.ref?.name}`).sort();
    expect(failed).toEqual(["Deployment/web", "Widget/w1"]);
    expect(report.error?.objects?.find((o) => o.ref?.kind === "Deployment")?.message).toMatch(/replicaz/);
    const after = await apps.readNamespacedDeployment({ name: "web", namespace: "web" });
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    expect(after.spec?.template.spec?.containers[0]?.image).toBe("registry.invalid/web:2");
    expect(await readOrUndefined(() => core.readNamespacedConfigMap({ name: "web-extra", namespace: "web" }))).toBe(
      undefined,
    );
    expect(report.health).toBe(Health.HEALTH_HEALTHY);
  });

  it("renders and applies a Kustomize overlay and a Helm chart with its environment values file", async () => {
    await core.createNamespace({ body: { metadata: { name: "team" } } });
    const k = await putDesired("shop", {
      source: source("kust/overlays/dev", revisions.v1 as string, SourceType.SOURCE_TYPE_KUSTOMIZE),
      targetNamespace: "team",
    });
    const h = await putDesired("api", {
      source: source("charts/api", revisions.v1 as string, SourceType.SOURCE_TYPE_HELM),
      targetNamespace: "team",
    });
    await waitReport("shop", synced(k, revisions.v1 as string), "kustomize app Healthy");
    await waitReport("api", synced(h, revisions.v1 as string), "helm app Healthy");
    const cm = await core.readNamespacedConfigMap({ name: "dev-shop-config", namespace: "team" });
    expect(cm.data?.mode).toBe("dev");
    expect((await apps.readNamespacedDeployment({ name: "dev-shop", namespace: "team" })).metadata?.name).toBe(
      "dev-shop",
    );
    const api = await apps.readNamespacedDeployment({ name: "api", namespace: "team" });
    expect(api.spec?.replicas).toBe(3);
    const apiConfig = await core.readNamespacedConfigMap({ name: "api-config", namespace: "team" });
    expect(apiConfig.data?.greeting).toBe("hello-dev");
    // Charts choose API versions by .Capabilities.KubeVersion; helm must not default to 1.20.
    expect(apiConfig.data?.kubeVersion).toMatch(/^v1\.34\./);
  });

  it("applies a CRD and its Namespace before the custom resource that needs both", async () => {
    const gen = await putDesired("gadgets", { source: source("crd", revisions.v1 as string) });
    const report = await waitReport("gadgets", synced(gen, revisions.v1 as string), "CRD app Healthy");
    expect(report.resources.map((r) => r.ref?.kind).sort()).toEqual([
      "CustomResourceDefinition",
      "Gadget",
      "Namespace",
    ]);
    const g = (await objects.read({
      apiVersion: "gadgets.example.com/v1",
      kind: "Gadget",
      metadata: { name: "g1", namespace: "gadgets" },
    })) as KubernetesObject & { spec?: { size?: number } };
    expect(g.spec?.size).toBe(3);
  });

  it("sends signed heartbeats and answers signed diff and refresh requests", async () => {
    const sub = nc.subscribe(heartbeatSubject(CLUSTER), { max: 1 });
    for await (const msg of sub) {
      const hb = open(HEARTBEAT, msg.data, agentKeys).message;
      expect(hb.cluster).toBe(CLUSTER);
      expect(hb.apps).toBe(4);
    }
    await objects.patch(
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "api-config", namespace: "team" },
        data: { greeting: "hand" },
      } as KubernetesObject,
      undefined,
      undefined,
      "kubectl-edit",
      undefined,
      PatchStrategy.MergePatch,
    );
    const ask = async (command: object) => {
      const reply = await nc.request(rpcSubject(CLUSTER), seal(AGENT_REQUEST, command, hubKey), { timeout: 30_000 });
      return open(AGENT_RESPONSE, reply.data, agentKeys).message;
    };
    const diff = await ask({ diff: { app: "api" } });
    expect(diff.ok).toBe(true);
    expect(diff.diffs.map((d) => `${d.ref?.kind}/${d.ref?.name}: ${(d.fields ?? []).join(",")}`)).toEqual([
      "ConfigMap/api-config: data.greeting",
    ]);
    const forged = await nc.request(rpcSubject(CLUSTER), seal(AGENT_REQUEST, { refresh: { app: "api" } }, forger), {
      timeout: 30_000,
    });
    expect(open(AGENT_RESPONSE, forged.data, agentKeys).message.ok).toBe(false);
    expect((await ask({ refresh: { app: "api" } })).ok).toBe(true);
    expect((await core.readNamespacedConfigMap({ name: "api-config", namespace: "team" })).data?.greeting).toBe(
      "hello-dev",
    );
  });

  it("serves /healthz, and /readyz saying it reaches the Kubernetes API and its loop runs", async () => {
    const health = await fetch(`${endpoints}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`${endpoints}/readyz`);
    const body = (await ready.json()) as { ready: boolean; checks: Record<string, { ok: boolean }> };
    expect(ready.status).toBe(200);
    expect(body).toMatchObject({ ready: true, checks: { kubernetes: { ok: true }, loop: { ok: true } } });
    expect((await fetch(`${endpoints}/metrics`)).status).toBe(200);
  });

  it("reports an object edited by hand as drift, and corrects it when self-heal is on", async () => {
    await core.createNamespace({ body: { metadata: { name: "ops" } } });
    const gen = await putDesired("settings", {
      source: source("drift", revisions.v1 as string),
      targetNamespace: "ops",
      selfHeal: false,
    });
    await waitReport("settings", synced(gen, revisions.v1 as string), "settings Healthy");
    const edit = async (level: string) =>
      objects.patch(
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: "settings", namespace: "ops" },
          data: { level },
        } as KubernetesObject,
        undefined,
        undefined,
        "kubectl-edit",
        undefined,
        PatchStrategy.MergePatch,
      );
    await edit("debug");
    const drifted = await waitReport(
      "settings",
      (r) => r.phase === SyncPhase.SYNC_PHASE_OUT_OF_SYNC,
      "OUT_OF_SYNC after a hand edit",
    );
    const res = drifted.resources.find((r) => r.ref?.name === "settings");
    expect(res?.sync).toBe(ResourceSync.RESOURCE_SYNC_OUT_OF_SYNC);
    expect(res?.message).toMatch(/data\.level/);
    // Without self-heal the edit stays.
    expect((await core.readNamespacedConfigMap({ name: "settings", namespace: "ops" })).data?.level).toBe("debug");

    const healGen = await putDesired("settings", {
      source: source("drift", revisions.v1 as string),
      targetNamespace: "ops",
      selfHeal: true,
    });
    await waitReport("settings", synced(healGen, revisions.v1 as string), "settings re-synced");
    await edit("trace");
    await settingsLevelIs("info", "self-heal to restore the hand-edited level");
    await waitReport("settings", synced(healGen, revisions.v1 as string), "SYNCED after self-heal");
  });

  it("rejects forged, unsigned and older-generation desired states and leaves the cluster untouched", async () => {
    const before = await apps.readNamespacedDeployment({ name: "web", namespace: "web" });
    const current = generations.get("web") as number;
    const evil: DesiredStateInit = {
      cluster: CLUSTER,
      app: "web",
      generation: current + 10,
      prune: true,
      targetNamespace: "web",
      source: source("web", revisions.v1 as string),
    };
    const cases: [string, Uint8Array, number, ErrorCode][] = [
      ["forged", seal(DESIRED_STATE, evil, forger), current + 10, ErrorCode.ERROR_CODE_SIGNATURE_INVALID],
      [
        "unsigned",
        v1.Envelope.encode({
          type: v1.PayloadType.PAYLOAD_TYPE_DESIRED_STATE,
          payload: v1.DesiredState.encode({ ...evil, generation: current + 11 }).finish(),
        }).finish(),
        current + 11,
        ErrorCode.ERROR_CODE_SIGNATURE_INVALID,
      ],
      ["older", seal(DESIRED_STATE, { ...evil, generation: 1 }, hubKey), 1, ErrorCode.ERROR_CODE_GENERATION_STALE],
    ];
    for (const [name, bytes, rejectedGeneration, code] of cases) {
      await desired.put(stateKey(CLUSTER, "web"), bytes);
      const r = await waitReport(
        "web",
        (rep) => rep.phase === SyncPhase.SYNC_PHASE_REJECTED && Number(rep.rejectedGeneration) === rejectedGeneration,
        `${name} rejected`,
      );
      expect(r.error?.code, name).toBe(code);
      expect(Number(r.observedGeneration), name).toBe(current);
    }
    const after = await apps.readNamespacedDeployment({ name: "web", namespace: "web" });
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    expect(after.spec?.template.spec?.containers[0]?.image).toBe("registry.invalid/web:2");
  });

  it("resumes after being killed without re-applying what is already applied", async () => {
    const snapshot = async () => {
      const [web, api, cm] = await Promise.all([
        apps.readNamespacedDeployment({ name: "web", namespace: "web" }),
        apps.readNamespacedDeployment({ name: "api", namespace: "team" }),
        core.readNamespacedConfigMap({ name: "settings", namespace: "ops" }),
      ]);
      return [web, api, cm].map((o) => ({
        rv: o.metadata?.resourceVersion,
        applied: o.metadata?.managedFields?.find((f) => f.manager === "flotilla")?.time?.toISOString(),
      }));
    };
    const before = await snapshot();
    await agent.kill();
    const restartedAt = Date.now();
    agent = await startAgentProcess(agentOptions);
    const apiGen = generations.get("api") as number;
    const report = await waitReport(
      "api",
      (r) => Number(r.reportedAtMs) > restartedAt && synced(apiGen, revisions.v1 as string)(r),
      "api re-reported by the restarted agent",
    );
    expect(report.health).toBe(Health.HEALTH_HEALTHY);
    await waitReport(
      "settings",
      (r) => Number(r.reportedAtMs) > restartedAt && r.phase === SyncPhase.SYNC_PHASE_SYNCED,
      "settings re-reported",
    );
    // Let a drift interval pass too: nothing may be re-applied.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await snapshot()).toEqual(before);
  });
  it("removes an app: prunes what it owns, drops its inventory and reports Removed", async () => {
    const gen = await putDesired("shop", {
      source: source("kust/overlays/dev", revisions.v1 as string, SourceType.SOURCE_TYPE_KUSTOMIZE),
      targetNamespace: "team",
      remove: true,
    });
    const report = await waitReport(
      "shop",
      (r) => Number(r.observedGeneration) === gen && r.phase === SyncPhase.SYNC_PHASE_REMOVED,
      "REMOVED",
    );
    expect(report.resources.every((r) => r.sync === ResourceSync.RESOURCE_SYNC_PRUNED)).toBe(true);
    expect(
      await readOrUndefined(() => core.readNamespacedConfigMap({ name: "dev-shop-config", namespace: "team" })),
    ).toBe(undefined);
    expect(
      await readOrUndefined(() =>
        core.readNamespacedConfigMap({ name: "flotilla-inventory-shop", namespace: "flotilla-system" }),
      ),
    ).toBe(undefined);
    // Other apps in the same namespace are untouched.
    expect((await apps.readNamespacedDeployment({ name: "api", namespace: "team" })).metadata?.name).toBe("api");
  });

  it("creates the target namespace and other namespaces the set uses but does not define, and never prunes them", async () => {
    for (const ns of ["guestbook", "guestbook-cache"]) {
      expect(await readOrUndefined(() => core.readNamespace({ name: ns })), ns).toBe(undefined);
    }
    const gen = await putDesired("guestbook", {
      source: source("guestbook", revisions.v1 as string),
      targetNamespace: "guestbook",
    });
    const report = await waitReport("guestbook", synced(gen, revisions.v1 as string), "guestbook Healthy");
    expect(report.resources.map((r) => `${r.ref?.kind}/${r.ref?.namespace}/${r.ref?.name}`).sort()).toEqual([
      "ConfigMap/guestbook-cache/cache",
      "ConfigMap/guestbook/guestbook",
      "Deployment/guestbook/guestbook",
    ]);
    for (const ns of ["guestbook", "guestbook-cache"]) {
      const created = await core.readNamespace({ name: ns });
      expect(created.metadata?.labels?.["app.kubernetes.io/managed-by"], ns).toBe("flotilla");
      // Not labelled as the app's own: prune only ever deletes objects carrying the app label.
      expect(created.metadata?.labels?.["flotilla.dev/app"], ns).toBe(undefined);
    }
    const inventory = await core.readNamespacedConfigMap({
      name: "flotilla-inventory-guestbook",
      namespace: "flotilla-system",
    });
    const kinds = (JSON.parse(inventory.data?.["inventory.json"] ?? "{}") as { objects: { kind: string }[] }).objects;
    expect(kinds.map((o) => o.kind).sort()).toEqual(["ConfigMap", "ConfigMap", "Deployment"]);

    const removed = await putDesired("guestbook", {
      source: source("guestbook", revisions.v1 as string),
      targetNamespace: "guestbook",
      remove: true,
    });
    await waitReport(
      "guestbook",
      (r) => Number(r.observedGeneration) === removed && r.phase === SyncPhase.SYNC_PHASE_REMOVED,
      "guestbook REMOVED",
    );
    expect(
      await readOrUndefined(() => apps.readNamespacedDeployment({ name: "guestbook", namespace: "guestbook" })),
    ).toBe(undefined);
    for (const ns of ["guestbook", "guestbook-cache"]) {
      const kept = await core.readNamespace({ name: ns });
      expect(kept.metadata?.deletionTimestamp, ns).toBe(undefined);
    }
  });

  it("reports an app whose first revision failed validation as Missing, not Healthy", async () => {
    const gen = await putDesired("broken", {
      source: source("broken", revisions.v1 as string),
      targetNamespace: "ops",
    });
    const report = await waitReport(
      "broken",
      (r) => Number(r.observedGeneration) === gen && r.phase === SyncPhase.SYNC_PHASE_FAILED,
      "broken FAILED",
    );
    expect(report.error?.code).toBe(ErrorCode.ERROR_CODE_VALIDATION_FAILED);
    expect(report.resources).toEqual([]);
    expect(report.health).toBe(Health.HEALTH_MISSING);
    expect(await readOrUndefined(() => apps.readNamespacedDeployment({ name: "broken", namespace: "ops" }))).toBe(
      undefined,
    );
  });

  it("keeps enforcing while NATS is down and reports again once it is back", async () => {
    const editedAt = Date.now();
    await nats.kill();
    try {
      // Cut off from NATS past a heartbeat interval, the agent says so and turns unready (it
      // cannot hear the hub or report); enforcing the last desired states goes on below.
      const natsGone = Date.now() + WAIT_MS;
      type Check = { ok: boolean; message: string };
      let readyz: { status: number; body: { ready?: boolean; checks?: { kubernetes: Check; nats: Check } } } = {
        status: 0,
        body: {},
      };
      while (Date.now() < natsGone && readyz.body.checks?.nats.ok !== false) {
        await new Promise((r) => setTimeout(r, POLL_MS));
        const res = await fetch(`${endpoints}/readyz`);
        readyz = { status: res.status, body: (await res.json()) as typeof readyz.body };
      }
      expect(readyz).toMatchObject({
        status: 503,
        body: { ready: false, checks: { kubernetes: { ok: true }, nats: { ok: false } } },
      });
      expect(readyz.body.checks?.nats.message).toMatch(/cannot reach NATS/);

      await objects.patch(
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: "settings", namespace: "ops" },
          data: { level: "offline-edit" },
        } as KubernetesObject,
        undefined,
        undefined,
        "kubectl-edit",
        undefined,
        PatchStrategy.MergePatch,
      );
      await settingsLevelIs("info", "self-heal without NATS to restore the hand-edited level");
    } finally {
      await nats.start();
    }
    await waitReport(
      "settings",
      (r) => Number(r.reportedAtMs) > editedAt && r.phase === SyncPhase.SYNC_PHASE_SYNCED,
      "a fresh report after NATS came back",
    );
    // And the watch is live again: a new generation is acted on.
    const gen = await putDesired("settings", {
      source: source("drift", revisions.v1 as string),
      targetNamespace: "ops",
      selfHeal: true,
    });
    await waitReport("settings", synced(gen, revisions.v1 as string), "new generation after reconnect");
  });

  it("reports an unreachable Git server as retryable and a missing commit as terminal", async () => {
    const unreachable = await putDesired("ghost", {
      source: { ...source("web", revisions.v1 as string), repoUrl: "http://127.0.0.1:1/nowhere.git" },
      targetNamespace: "ops",
    });
    const fetchFailed = await waitReport(
      "ghost",
      (r) => Number(r.observedGeneration) === unreachable && r.phase === SyncPhase.SYNC_PHASE_FAILED,
      "FETCH_FAILED",
    );
    expect(fetchFailed.error?.code).toBe(ErrorCode.ERROR_CODE_FETCH_FAILED);
    expect(fetchFailed.error?.retryable).toBe(true);
    expect(fetchFailed.health).toBe(Health.HEALTH_MISSING);

    const missing = await putDesired("ghost", { source: source("web", "0".repeat(40)), targetNamespace: "ops" });
    const notFound = await waitReport(
      "ghost",
      (r) => Number(r.observedGeneration) === missing && r.phase === SyncPhase.SYNC_PHASE_FAILED,
      "REVISION_NOT_FOUND",
    );
    expect(notFound.error?.code).toBe(ErrorCode.ERROR_CODE_REVISION_NOT_FOUND);
    expect(notFound.error?.retryable).toBe(false);
  });

  it("logs one line naming FLOTILLA_NATS_CA_FILE when its bundle's CA did not sign NATS's certificate, and keeps trying", async () => {
    const other = await createCertificateAuthority(join(work, "other-ca"), "someone-else-ca");
    const stray = await startAgentProcess({
      ...agentOptions,
      dir: join(work, "agent-wrong-ca"),
      bootstrap: { ...agentOptions.bootstrap, cluster: "wrong-ca", natsCa: readFileSync(other.ca.cert, "utf8") },
      // The bundle's CA alone: no FLOTILLA_NATS_CA_FILE beside it.
      natsTls: undefined,
      metricsPort: 0,
    });
    try {
      const line = `NATS at ${nats.url} presented a certificate that FLOTILLA_NATS_CA_FILE did not sign`;
      await until(
        "the agent to log why NATS refused it",
        async () => (await stray.process.tail(50)).includes(line),
        WAIT_MS,
        250,
      ).catch(async (err: unknown) => {
        throw new Error(`${(err as Error).message}\n--- agent log ---\n${await stray.process.tail(20)}`);
      });
      expect(stray.process.alive()).toBe(true);
    } finally {
      await stray.stop();
    }
  });
});
