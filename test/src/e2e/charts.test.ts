/**
 * The Helm charts end to end, with the pinned fixture helm and kubectl: `helm lint` and
 * `helm template` for charts/hub and charts/agent with default values and their
 * ci/example-values.yaml; values that break values.schema.json are refused; the rendered objects
 * pass a server-side dry run on a real kube-apiserver; the agent's RBAC grants what it says
 * (real RBAC, `kubectl auth can-i`); and the pod wiring the charts render (env, Secret files,
 * probe paths) starts the real hub and agent against real Redis and NATS.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { AGENT_SETTINGS } from "@flotilla/agent";
import {
  binPath,
  type Cluster,
  entryPoint,
  freePort,
  type ManagedProcess,
  type NatsServer,
  type Program,
  programEnv,
  type RedisServer,
  startCluster,
  startNats,
  startProcess,
  startRedis,
} from "@flotilla/devfleet";
import { SETTINGS } from "@flotilla/hub";
import {
  generateSigningKey,
  HEARTBEAT,
  heartbeatSubject,
  KeyRing,
  open,
  publicKeyToPem,
  signingKeyToPem,
} from "@flotilla/proto";
import { connect } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import {
  type Container,
  type Deployment,
  type KubeObject,
  materialize,
  type PodSpec,
  podPlan,
  probeUrl,
} from "../kubelet.js";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const CHARTS = { hub: join(REPO_ROOT, "charts/hub"), agent: join(REPO_ROOT, "charts/agent") } as const;
type ChartName = keyof typeof CHARTS;
const NS = "flotilla-system";
/** Namespaces the agent's example values narrow its RBAC to. */
const TEAM_NAMESPACES = ["team-a", "team-b"];
/** A namespace no values mention. */
const OTHER_NS = "team-c";
const WAIT_MS = 90_000;
/** How long the hub and agent get to stop on SIGTERM, as a pod's termination grace period. */
const STOP_GRACE_MS = 10_000;

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
  verbs: string[];
}
interface NetworkPolicy extends KubeObject {
  spec: {
    ingress?: { ports?: { port: number; protocol: string }[] }[];
    egress?: { ports?: { port: number; protocol: string }[] }[];
  };
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], input?: string): Promise<Result> {
  return new Promise((res, rej) => {
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", rej);
    child.on("close", (code) => res({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? "");
  });
}

const work = mkdtempSync(join(tmpdir(), "flotilla-charts-"));
let fileCount = 0;

/** Writes a values file; multi-line values (PEM, JSON) are safer in a file than in --set. */
function valuesFile(values: unknown): string {
  const path = join(work, `values-${++fileCount}.yaml`);
  writeFileSync(path, stringify(values));
  return path;
}

const exampleValues = (chart: ChartName) => join(CHARTS[chart], "ci/example-values.yaml");
/** What the agent chart needs on top of its defaults: the namespaces it may manage (its default scope). */
const AGENT_NAMESPACES = valuesFile({ rbac: { namespaces: TEAM_NAMESPACES } });
/** The agent chart with cluster-wide RBAC. */
const CLUSTER_SCOPE = valuesFile({ rbac: { scope: "cluster" } });

function helm(args: string[]): Promise<Result> {
  return run(binPath("helm"), args);
}

/** `helm template` into objects; throws with helm's message when rendering fails. */
async function render(chart: ChartName, release: string, valueFiles: string[] = []): Promise<KubeObject[]> {
  const r = await helm([
    "template",
    release,
    CHARTS[chart],
    "--namespace",
    NS,
    ...valueFiles.flatMap((f) => ["-f", f]),
  ]);
  if (r.code !== 0) throw new Error(`helm template ${chart} failed: ${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null);
}

const ofKind = <T extends KubeObject = KubeObject>(objects: KubeObject[], kind: string) =>
  objects.filter((o) => o.kind === kind) as T[];

function theOne<T extends KubeObject = KubeObject>(objects: KubeObject[], kind: string): T {
  const found = ofKind<T>(objects, kind);
  expect(found.map((o) => o.metadata.name)).toHaveLength(1);
  return found[0] as T;
}

function podOf(objects: KubeObject[]): PodSpec {
  return theOne<Deployment>(objects, "Deployment").spec.template.spec;
}

function containerOf(objects: KubeObject[]): Container {
  const pod = podOf(objects);
  expect(pod.containers).toHaveLength(1);
  return pod.containers[0] as Container;
}

function secretText(secret: KubeObject, key: string): string {
  const data = secret.data as Record<string, string>;
  expect(Object.keys(data)).toContain(key);
  return Buffer.from(data[key] ?? "", "base64").toString("utf8");
}

/** The hub chart with its ServiceMonitor and PrometheusRule on. */
const MONITORING_ON = { metrics: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true } } };
const ALERTS = ["FlotillaClusterOffline", "FlotillaAppDegraded", "FlotillaRolloutFailed", "FlotillaGitPollFailing"];

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
function alertRules(objects: KubeObject[]): AlertRule[] {
  const rule = theOne(objects, "PrometheusRule");
  return (rule.spec as { groups: { rules: AlertRule[] }[] }).groups.flatMap((g) => g.rules);
}

/**
 * The label names of every metric the hub declares, read from its source (services/hub/src/metrics.ts):
 * each `new Gauge|Counter|Histogram({ name, ..., labelNames })`.
 */
function hubMetricLabels(): Map<string, string[]> {
  const source = readFileSync(join(REPO_ROOT, "services/hub/src/metrics.ts"), "utf8");
  const declared = new Map<string, string[]>();
  for (const chunk of source.split(/new (?:Gauge|Counter|Histogram)\(/).slice(1)) {
    const name = /name: "(\w+)"/.exec(chunk)?.[1];
    if (!name) continue;
    const labels = /^[^}]*?labelNames: \[([^\]]*)\]/.exec(chunk)?.[1] ?? "";
    declared.set(
      name,
      [...labels.matchAll(/"(\w+)"/g)].map((m) => m[1] as string),
    );
  }
  return declared;
}

/** The metric names in a PromQL expression, and the labels it matches or groups by. */
function promqlNames(expr: string): { metrics: string[]; labels: string[] } {
  const metrics = [...expr.matchAll(/\b(flotilla_\w+)/g)].map((m) => m[1] as string);
  const labels = [
    ...[...expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) => [...(m[1] ?? "").matchAll(/(\w+)\s*[=!]~?/g)]),
    ...[...expr.matchAll(/\bby \(([^)]*)\)/g)].flatMap((m) => [...(m[1] ?? "").matchAll(/(\w+)/g)]),
  ].map((m) => m[1] as string);
  return { metrics, labels };
}

/** A histogram's or counter's series names back to the name it was declared with. */
function declaredName(series: string, declared: { has(name: string): boolean }): string {
  if (declared.has(series)) return series;
  const base = series.replace(/_(bucket|count|sum)$/, "");
  return declared.has(base) ? base : series;
}

const toYamlStream = (objects: KubeObject[]) => objects.map((o) => stringify(o)).join("---\n");

/**
 * Starts a program's built command with the env a rendered pod would get, and nothing else
 * the harness would add.
 */
function startPod(program: Program, env: Record<string, string>, logPath: string): Promise<ManagedProcess> {
  return startProcess({
    name: program,
    command: process.execPath,
    args: [entryPoint(program)],
    logPath,
    env: programEnv(env),
  });
}

/** Polls `url` until it answers 200; fails early, with the process log, if the process exits. */
async function waitForOk(url: string, proc: ManagedProcess, headers: Record<string, string> = {}): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  let last = "no answer";
  while (Date.now() < deadline) {
    if (!proc.alive()) {
      throw new Error(`process exited (${proc.exitStatus?.code}) before ${url} answered:\n${await proc.log()}`);
    }
    try {
      const res = await fetch(url, { headers });
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not answer 200 (last: ${last}):\n${await proc.log()}`);
}

const CASES: { chart: ChartName; values: "default" | "example" }[] = [
  { chart: "hub", values: "default" },
  { chart: "hub", values: "example" },
  { chart: "agent", values: "default" },
  { chart: "agent", values: "example" },
];
const filesOf = (c: (typeof CASES)[number]) =>
  c.values === "example" ? [exampleValues(c.chart)] : c.chart === "agent" ? [AGENT_NAMESPACES] : [];

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe("helm lint and helm template", () => {
  it.each(CASES)("pass for $chart with $values values", async (c) => {
    const files = filesOf(c).flatMap((f) => ["-f", f]);
    const lint = await helm(["lint", "--strict", CHARTS[c.chart], ...files]);
    expect(lint.stderr + lint.stdout).toContain("0 chart(s) failed");
    expect(lint.code).toBe(0);
    const objects = await render(c.chart, "release", filesOf(c));
    expect(ofKind(objects, "Deployment")).toHaveLength(1);
  });

  it.each([
    { chart: "hub" as const, values: { replicas: "two" }, field: "/replicas" },
    { chart: "hub" as const, values: { replica: 2 }, field: "replica" },
    { chart: "hub" as const, values: { hub: { pollInterval: "often" } }, field: "/hub/pollInterval" },
    { chart: "agent" as const, values: { rbac: { scope: "everywhere" } }, field: "/rbac/scope" },
    { chart: "agent" as const, values: { driftInterval: "every minute" }, field: "/driftInterval" },
  ])("refuse $chart values that break the schema: $field", async ({ chart, values, field }) => {
    const file = valuesFile(values);
    for (const verb of [
      ["lint", "--strict"],
      ["template", "release"],
    ]) {
      const r = await helm([...verb, CHARTS[chart], "-f", file]);
      expect(r.code, `helm ${verb[0]} accepted ${JSON.stringify(values)}`).not.toBe(0);
      expect(r.stdout + r.stderr).toContain("schema");
      expect(r.stdout + r.stderr).toContain(field);
    }
  });

  it("refuse agent values that pass the schema but cannot work, naming what to set", async () => {
    const noNamespaces = await helm([
      "template",
      "release",
      CHARTS.agent,
      "-f",
      valuesFile({ rbac: { scope: "namespaces", namespaces: [] } }),
    ]);
    expect(noNamespaces.code).not.toBe(0);
    expect(noNamespaces.stderr).toContain("rbac.namespaces is empty");
    const noCluster = await helm([
      "template",
      "release",
      CHARTS.agent,
      "-f",
      AGENT_NAMESPACES,
      "-f",
      valuesFile({ existingSecretKeys: { bootstrap: "", hubPublicKey: "hub.pem", agentKey: "agent.pem" } }),
    ]);
    expect(noCluster.code).not.toBe(0);
    expect(noCluster.stderr).toContain("set cluster and nats.url");
  });
});

describe("rendered content", () => {
  it.each(CASES)(
    "$chart with $values values: non-root, read-only root, no capabilities, probes, resources",
    async (c) => {
      const objects = await render(c.chart, "release", filesOf(c));
      const pod = podOf(objects);
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
      const container = containerOf(objects);
      expect(container.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"] },
      });
      expect(Object.keys(container.resources?.requests ?? {}).sort()).toEqual(["cpu", "memory"]);
      expect(container.resources?.limits?.memory).toBeTruthy();
      const paths = ["/healthz", "/readyz"];
      expect([container.livenessProbe?.httpGet?.path, container.readinessProbe?.httpGet?.path]).toEqual(paths);
      for (const object of objects) {
        if (object.kind.startsWith("Cluster")) expect(object.metadata.namespace).toBeUndefined();
        else expect(object.metadata.namespace).toBeDefined();
      }
    },
  );

  it("agent: by default refuses to render until the namespaces it may manage are listed", async () => {
    const r = await helm(["template", "release", CHARTS.agent]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("rbac.scope is namespaces (the default) but rbac.namespaces is empty");
    expect(r.stderr).toContain("rbac.scope=cluster");
  });

  it("agent: cluster scope is one ClusterRole to apply, prune and read health anywhere, and nothing more", async () => {
    const objects = await render("agent", "wide", [CLUSTER_SCOPE]);
    expect(ofKind(objects, "Role")).toEqual([]);
    const role = theOne(objects, "ClusterRole");
    const rules = role.rules as PolicyRule[];
    const wildcard = rules.find((r) => r.resources?.includes("*"));
    expect(wildcard?.verbs.sort()).toEqual(["create", "delete", "get", "list", "patch", "update"]);
    const verbs = rules.flatMap((r) => r.verbs);
    for (const dangerous of ["*", "escalate", "bind", "impersonate"]) expect(verbs).not.toContain(dangerous);
    const binding = theOne(objects, "ClusterRoleBinding");
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: "wide-flotilla-agent", namespace: NS }]);
  });

  it("agent: namespace scope renders Roles only in the listed namespaces and the inventory namespace", async () => {
    const objects = await render("agent", "scoped", [exampleValues("agent")]);
    const where = (kind: string) =>
      ofKind(objects, kind)
        .map((o) => `${o.metadata.namespace}/${o.metadata.name}`)
        .sort();
    const expected = [
      `${NS}/scoped-flotilla-agent-inventory`,
      ...TEAM_NAMESPACES.map((ns) => `${ns}/scoped-flotilla-agent-manage`),
    ];
    expect(where("Role")).toEqual(expected);
    expect(where("RoleBinding")).toEqual(expected);
    const inventory = ofKind(objects, "Role").find((r) => r.metadata.namespace === NS);
    expect(inventory?.rules).toEqual([
      { apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list", "create", "patch", "update", "delete"] },
    ]);
    // Cluster-wide it may only read, and apply its own inventory namespace.
    const clusterRole = theOne(objects, "ClusterRole");
    for (const rule of clusterRole.rules as PolicyRule[]) {
      expect(rule.resources ?? []).not.toContain("*");
      const writes = rule.verbs.filter((v) => v !== "get" && v !== "list");
      if (writes.length > 0)
        expect(rule).toMatchObject({ resources: ["namespaces"], resourceNames: [NS], verbs: ["patch"] });
    }
  });

  it("secrets reach the pods as files from a Secret, never as env values or plain text", async () => {
    const sentinel = (what: string) => `sentinel-${what}-${"x".repeat(16)}`;
    const agentValues = {
      rbac: { namespaces: TEAM_NAMESPACES },
      bootstrap: {
        bundle: JSON.stringify({ cluster: "c", natsUrl: "nats://n:4222", agentSigningKey: sentinel("agent-key") }),
        natsCreds: sentinel("agent-nats-creds"),
      },
      gitCredentials: {
        credentials: [{ urlPrefix: "https://git.example/", username: "u", password: sentinel("git") }],
      },
    };
    const encryptionKey = Buffer.alloc(32, 7).toString("base64");
    const hubValues = {
      hub: {
        adminToken: sentinel("admin-token"),
        encryptionKey,
        signingKey: sentinel("signing-key"),
        operatorSetup: sentinel("operator-setup"),
      },
      nats: { url: "nats://n:4222", creds: sentinel("hub-nats-creds") },
    };
    const cases = [
      {
        chart: "agent" as const,
        values: agentValues,
        secrets: [sentinel("agent-key"), sentinel("agent-nats-creds"), sentinel("git")],
      },
      {
        chart: "hub" as const,
        values: hubValues,
        secrets: [encryptionKey, ...["admin-token", "signing-key", "operator-setup", "hub-nats-creds"].map(sentinel)],
      },
    ];
    for (const { chart, values, secrets } of cases) {
      const objects = await render(chart, "release", [valuesFile(values)]);
      const nonSecrets = toYamlStream(objects.filter((o) => o.kind !== "Secret"));
      const decodedSecrets = ofKind(objects, "Secret")
        .flatMap((s) => Object.keys(s.data as Record<string, string>).map((k) => secretText(s, k)))
        .join("\n");
      for (const secret of secrets) {
        expect(nonSecrets, `${chart}: a secret leaked outside its Secret`).not.toContain(secret);
        expect(toYamlStream(ofKind(objects, "Secret")), `${chart}: a Secret holds plain text`).not.toContain(secret);
        expect(decodedSecrets).toContain(secret);
      }
      const container = containerOf(objects);
      for (const v of container.env ?? []) {
        const plain = v.value !== undefined || v.valueFrom?.fieldRef !== undefined;
        expect(plain, `${v.name} is not a plain value or field ref`).toBe(true);
        if (/_FILE$|^FLOTILLA_BOOTSTRAP$|^FLOTILLA_NATS_CREDS$|^FLOTILLA_GIT_CREDENTIALS$/.test(v.name)) {
          const mount = container.volumeMounts?.find((m) => v.value?.startsWith(`${m.mountPath}/`));
          expect(mount, `${v.name}=${v.value} is not inside a mounted volume`).toBeDefined();
        }
      }
    }
  });

  it("NATS TLS files come from the named Secret; plaintext only when asked, and a certificate needs its key", async () => {
    const natsEnv = (objects: KubeObject[]) =>
      (containerOf(objects).env ?? []).filter(
        (v) => v.name.startsWith("FLOTILLA_NATS_") && !/URL|CREDS|REPLICAS|MAX/.test(v.name),
      );
    const hub = await render("hub", "release", [exampleValues("hub")]);
    expect(natsEnv(hub).map((v) => [v.name, v.value])).toEqual([
      ["FLOTILLA_NATS_CA_FILE", "/etc/flotilla/nats-tls/ca.crt"],
      ["FLOTILLA_NATS_CERT_FILE", "/etc/flotilla/nats-tls/tls.crt"],
      ["FLOTILLA_NATS_KEY_FILE", "/etc/flotilla/nats-tls/tls.key"],
    ]);
    const volume = podOf(hub).volumes?.find((v) => v.name === "nats-tls");
    expect(volume?.secret?.secretName).toBe("flotilla-hub-nats-tls");
    expect(volume?.secret?.items).toEqual([
      { key: "ca.crt", path: "ca.crt" },
      { key: "tls.crt", path: "tls.crt" },
      { key: "tls.key", path: "tls.key" },
    ]);
    expect(containerOf(hub).volumeMounts).toContainEqual({
      name: "nats-tls",
      mountPath: "/etc/flotilla/nats-tls",
      readOnly: true,
    });
    // Defaults: TLS required, verified with the image's CAs (hub) or the bundle's CA (agent).
    expect(natsEnv(await render("hub", "release"))).toEqual([]);
    expect(natsEnv(await render("agent", "release", [AGENT_NAMESPACES]))).toEqual([]);
    const agent = await render("agent", "release", [exampleValues("agent")]);
    expect(natsEnv(agent).map((v) => v.name)).toEqual(["FLOTILLA_NATS_CA_FILE"]);
    const plain = await render("agent", "release", [AGENT_NAMESPACES, valuesFile({ nats: { insecure: true } })]);
    expect(natsEnv(plain).map((v) => [v.name, v.value])).toEqual([["FLOTILLA_NATS_INSECURE", "true"]]);
    const noKey = await helm([
      "template",
      "release",
      CHARTS.hub,
      "-f",
      valuesFile({ nats: { tls: { existingSecret: "s", certKey: "tls.crt" } } }),
    ]);
    expect(noKey.code).not.toBe(0);
    expect(noKey.stderr).toContain("nats.tls.certKey needs nats.tls.keyKey");
  });

  it("hub: every FLOTILLA_ variable the chart sets is one the hub reads", async () => {
    const objects = await render("hub", "release", [exampleValues("hub")]);
    const known = new Set(SETTINGS.flatMap((s) => [s.env, s.fileEnv]).filter(Boolean));
    const set = (containerOf(objects).env ?? []).map((v) => v.name).filter((n) => n.startsWith("FLOTILLA_"));
    expect(set.filter((n) => !known.has(n))).toEqual([]);
    expect(set).toEqual(
      expect.arrayContaining(["FLOTILLA_REDIS_URL", "FLOTILLA_NATS_URL", "FLOTILLA_HUB_ADMIN_TOKEN_FILE"]),
    );
  });

  it("agent: every FLOTILLA_ variable the chart sets is one the agent reads", async () => {
    const gitRules = valuesFile({ gitAllowHttp: true, gitAllowedHosts: ["git.internal", "10.0.0.0/8"] });
    for (const values of [[AGENT_NAMESPACES], [exampleValues("agent")], [AGENT_NAMESPACES, gitRules]]) {
      const objects = await render("agent", "release", values);
      const known = new Set(AGENT_SETTINGS.flatMap((s) => [s.env, s.fileEnv]).filter(Boolean));
      const set = (containerOf(objects).env ?? []).map((v) => v.name).filter((n) => n.startsWith("FLOTILLA_"));
      expect(set.filter((n) => !known.has(n))).toEqual([]);
      expect(set).toEqual(expect.arrayContaining(["FLOTILLA_DRIFT_INTERVAL", "FLOTILLA_METRICS_PORT"]));
    }
    // The registration token's Secret is optional: the agent starts without it.
    const example = await render("agent", "release", [exampleValues("agent")]);
    expect((containerOf(example).env ?? []).map((v) => v.name)).toEqual(
      expect.arrayContaining(["FLOTILLA_HUB_URL", "FLOTILLA_REGISTRATION_TOKEN_FILE"]),
    );
    const volume = (podOf(example).volumes ?? []).find((v) => v.name === "registration-token");
    expect(volume?.secret).toMatchObject({ secretName: "prod-eu-1-registration", optional: true });
    const env = containerOf(await render("agent", "release", [AGENT_NAMESPACES, gitRules])).env ?? [];
    expect(env.filter((v) => v.name.startsWith("FLOTILLA_GIT_A")).map((v) => [v.name, v.value])).toEqual([
      ["FLOTILLA_GIT_ALLOW_HTTP", "true"],
      ["FLOTILLA_GIT_ALLOWED_HOSTS", "git.internal,10.0.0.0/8"],
    ]);
  });

  it("hub: a PodDisruptionBudget and spread replicas only when replicas > 1; no Kubernetes access", async () => {
    const single = await render("hub", "release");
    expect(ofKind(single, "PodDisruptionBudget")).toEqual([]);
    expect(theOne<Deployment>(single, "Deployment").spec.replicas).toBe(1);
    const pair = await render("hub", "release", [exampleValues("hub")]);
    expect(theOne<Deployment>(pair, "Deployment").spec.replicas).toBe(2);
    expect(theOne(pair, "PodDisruptionBudget").spec).toMatchObject({ maxUnavailable: 1 });
    expect(JSON.stringify(podOf(pair))).toContain("podAntiAffinity");
    for (const objects of [single, pair]) {
      expect(objects.filter((o) => /Role/.test(o.kind))).toEqual([]);
      expect(podOf(objects).automountServiceAccountToken).toBe(false);
      expect(theOne(objects, "ServiceAccount").automountServiceAccountToken).toBe(false);
    }
    // With existingSecret the chart creates no Secret and mounts the named one.
    expect(ofKind(pair, "Secret")).toEqual([]);
    expect(podOf(pair).volumes?.find((v) => v.secret)?.secret?.secretName).toBe("flotilla-hub-secrets");
  });

  it("NetworkPolicies let in only the serving port and let out only the listed ports", async () => {
    const ports = (rules: { ports?: { port: number; protocol: string }[] }[] | undefined) =>
      (rules ?? []).flatMap((r) => (r.ports ?? []).map((p) => `${p.port}/${p.protocol}`)).sort();
    const agent = theOne<NetworkPolicy>(await render("agent", "release", [AGENT_NAMESPACES]), "NetworkPolicy");
    expect(ports(agent.spec.ingress)).toEqual(["9464/TCP"]);
    expect(ports(agent.spec.egress)).toEqual(["4222/TCP", "443/TCP", "443/TCP", "53/TCP", "53/UDP", "6443/TCP"]);
    const hub = theOne<NetworkPolicy>(await render("hub", "release"), "NetworkPolicy");
    expect(ports(hub.spec.ingress)).toEqual(["8080/TCP"]);
    expect(ports(hub.spec.egress)).toEqual(["4222/TCP", "443/TCP", "53/TCP", "53/UDP", "6379/TCP"]);
  });
  it("hub: ServiceMonitor and PrometheusRule only when asked, scraping the Service's port with the metrics token", async () => {
    const plain = await render("hub", "release");
    expect(ofKind(plain, "ServiceMonitor")).toEqual([]);
    expect(ofKind(plain, "PrometheusRule")).toEqual([]);
    const objects = await render("hub", "release", [
      valuesFile({ ...MONITORING_ON, hub: { metricsToken: "m".repeat(20) } }),
    ]);
    const service = theOne(objects, "Service");
    const monitor = theOne(objects, "ServiceMonitor");
    const spec = monitor.spec as {
      selector: { matchLabels: Record<string, string> };
      namespaceSelector: { matchNames: string[] };
      endpoints: { port: string; path: string; authorization?: { credentials: { name: string; key: string } } }[];
    };
    expect(service.metadata.labels).toMatchObject(spec.selector.matchLabels);
    expect(spec.namespaceSelector.matchNames).toEqual([NS]);
    const ports = (service.spec as { ports: { name: string }[] }).ports.map((p) => p.name);
    expect(spec.endpoints.map((e) => e.port).every((p) => ports.includes(p))).toBe(true);
    expect(spec.endpoints.map((e) => e.path)).toEqual(["/metrics"]);
    const credentials = spec.endpoints[0]?.authorization?.credentials;
    const secret = theOne(objects, "Secret");
    expect(credentials?.name).toBe(secret.metadata.name);
    expect(secretText(secret, credentials?.key ?? "")).toBe("m".repeat(20));
    // Without a metrics token, /metrics is public and the ServiceMonitor sends none.
    const open = theOne(await render("hub", "release", [valuesFile(MONITORING_ON)]), "ServiceMonitor");
    expect(toYamlStream([open])).not.toContain("authorization");

    const rules = alertRules(objects);
    expect(rules.map((r) => r.alert)).toEqual(ALERTS);
    const declared = hubMetricLabels();
    expect(declared.get("flotilla_hub_git_poll_errors_total")).toEqual(["repo"]);
    for (const rule of rules) {
      expect(rule.labels.severity, rule.alert).toBe("warning");
      expect(rule.annotations.summary, rule.alert).toContain("{{ $");
      const { metrics, labels } = promqlNames(rule.expr);
      expect(metrics.length, rule.alert).toBeGreaterThan(0);
      for (const series of metrics) {
        const name = declaredName(series, declared);
        expect([...declared.keys()], `${rule.alert}: ${series}`).toContain(name);
        for (const label of labels) expect(declared.get(name), `${rule.alert}: ${series}{${label}}`).toContain(label);
      }
    }
    const tuned = alertRules(
      await render("hub", "release", [
        valuesFile({
          metrics: {
            prometheusRule: { enabled: true, severity: "page", clusterOfflineFor: "2m", rolloutFailedWindow: "1h" },
          },
        }),
      ]),
    );
    expect(tuned.find((r) => r.alert === "FlotillaClusterOffline")?.for).toBe("2m");
    expect(tuned.find((r) => r.alert === "FlotillaRolloutFailed")?.expr).toContain("[1h]");
    expect(new Set(tuned.map((r) => r.labels.severity))).toEqual(new Set(["page"]));
  });
});

describe("against a real Kubernetes API server", () => {
  let cluster: Cluster;
  let nats: NatsServer;
  let redis: RedisServer;
  const kubectl = (args: string[], input?: string) =>
    run(binPath("kubectl"), ["--kubeconfig", cluster.kubeconfigPath, ...args], input);

  beforeAll(async () => {
    [cluster, nats, redis] = await Promise.all([startCluster({ name: "charts" }), startNats(), startRedis()]);
    for (const ns of [NS, ...TEAM_NAMESPACES, OTHER_NS]) {
      const r = await kubectl(["create", "namespace", ns]);
      expect(r.stderr).toBe("");
    }
  });

  afterAll(async () => {
    await Promise.all([cluster?.stop(), nats?.stop(), redis?.stop()]);
  });

  it.each(CASES)("a server-side dry run accepts every object of $chart with $values values", async (c) => {
    const objects = await render(c.chart, `dry-${c.chart}`, filesOf(c));
    const r = await kubectl(
      ["apply", "--server-side", "--dry-run=server", "--field-manager=charts-test", "-f", "-"],
      toYamlStream(objects),
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const applied = r.stdout.split("\n").filter((l) => l.endsWith("serverside-applied (server dry run)"));
    expect(applied).toHaveLength(objects.length);
    // A dry run leaves nothing behind.
    const left = await kubectl(["get", "deployments", "--all-namespaces", "-o", "name"]);
    expect(left.stdout).not.toContain(`dry-${c.chart}`);
  });

  /** Applies a render's ServiceAccount and RBAC for real and answers `can-i` as that account. */
  async function grantsOf(release: string, valueFiles: string[]) {
    const objects = await render("agent", release, valueFiles);
    const rbac = objects.filter((o) => o.kind === "ServiceAccount" || /Role/.test(o.kind));
    const r = await kubectl(["apply", "--server-side", "--field-manager=charts-test", "-f", "-"], toYamlStream(rbac));
    expect(r.stderr).toBe("");
    const as = `system:serviceaccount:${NS}:${release}-flotilla-agent`;
    return async (verb: string, resource: string, ns?: string, name?: string) => {
      const target = name ? `${resource}/${name}` : resource;
      const answer = await kubectl(["auth", "can-i", verb, target, `--as=${as}`, ...(ns ? ["-n", ns] : [])]);
      return answer.stdout.trim();
    };
  }

  it("namespace-scoped RBAC lets the agent manage the listed namespaces and nothing else", async () => {
    const can = await grantsOf("scoped", [exampleValues("agent")]);
    for (const ns of TEAM_NAMESPACES) {
      expect(await can("patch", "deployments.apps", ns)).toBe("yes");
      expect(await can("create", "services", ns)).toBe("yes");
      expect(await can("delete", "configmaps", ns)).toBe("yes");
    }
    expect(await can("patch", "deployments.apps", OTHER_NS)).toBe("no");
    expect(await can("get", "secrets", OTHER_NS)).toBe("no");
    expect(await can("patch", "configmaps", NS)).toBe("yes");
    expect(await can("get", "secrets", NS)).toBe("no");
    expect(await can("get", "customresourcedefinitions.apiextensions.k8s.io")).toBe("yes");
    expect(await can("create", "customresourcedefinitions.apiextensions.k8s.io")).toBe("no");
    expect(await can("create", "clusterroles.rbac.authorization.k8s.io")).toBe("no");
    expect(await can("get", "namespaces", undefined, OTHER_NS)).toBe("yes");
    expect(await can("patch", "namespaces", undefined, NS)).toBe("yes");
    expect(await can("patch", "namespaces", undefined, OTHER_NS)).toBe("no");
  });

  it("cluster-scoped RBAC lets the agent apply and prune anywhere, without escalating or impersonating", async () => {
    const can = await grantsOf("wide", [CLUSTER_SCOPE]);
    expect(await can("patch", "deployments.apps", OTHER_NS)).toBe("yes");
    expect(await can("delete", "customresourcedefinitions.apiextensions.k8s.io")).toBe("yes");
    expect(await can("escalate", "clusterroles.rbac.authorization.k8s.io")).toBe("no");
    expect(await can("impersonate", "serviceaccounts", NS)).toBe("no");
  });

  it("the agent starts with the chart's env and Secret files, beats signed, and answers its probe path", async () => {
    const hubKey = generateSigningKey();
    const agentKey = generateSigningKey();
    const name = "charts-e2e";
    const objects = await render("agent", "run", [
      valuesFile({
        rbac: { namespaces: TEAM_NAMESPACES },
        bootstrap: {
          bundle: JSON.stringify({
            cluster: name,
            natsUrl: nats.url,
            natsCreds: "",
            // The bundle carries NATS's CA: the agent needs no TLS file of its own.
            natsCa: nats.tls?.ca,
            hubPublicKey: publicKeyToPem(hubKey.publicKey),
            agentSigningKey: signingKeyToPem(agentKey),
          }),
        },
        metrics: { port: await freePort() },
        heartbeatInterval: 1,
      }),
    ]);
    const env = materialize(podPlan(objects, "run-agent-0"), mkdtempSync(join(work, "pod-"))).hostEnv;
    // Off the pod: listen on loopback only, and reach the API server as the pod's token would.
    env.FLOTILLA_METRICS_HOST = "127.0.0.1";
    env.KUBECONFIG = cluster.kubeconfigPath;
    const nc = await connect(nats.clientOptions());
    const beat = nc.subscribe(heartbeatSubject(name), { max: 1 });
    const agent = await startPod("agent", env, join(work, "agent.log"));
    try {
      const container = containerOf(objects);
      await waitForOk(probeUrl(container, container.livenessProbe), agent);
      await waitForOk(probeUrl(container, container.readinessProbe), agent);
      const timer = setTimeout(() => beat.unsubscribe(), WAIT_MS);
      let beatFrom = "";
      for await (const msg of beat)
        beatFrom = open(HEARTBEAT, msg.data, new KeyRing([agentKey.publicKey])).message.cluster;
      clearTimeout(timer);
      expect(beatFrom).toBe(name);
    } finally {
      await agent.stop(STOP_GRACE_MS);
      await nc.close();
    }
  });

  it("the hub starts with the chart's env and generated Secret, answers /healthz, /readyz and its admin token", async () => {
    const port = await freePort();
    const objects = await render("hub", "run", [
      valuesFile({
        ...MONITORING_ON,
        hub: { listen: `127.0.0.1:${port}` },
        nats: { url: nats.url, tls: { existingSecret: "nats-tls" } },
        redis: { url: redis.url },
      }),
    ]);
    // The Secret a cert-manager Certificate (or an operator) would have made, with NATS's CA.
    const natsTlsSecret: KubeObject = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "nats-tls" },
      data: { "ca.crt": Buffer.from(nats.tls?.ca ?? "").toString("base64") },
    };
    const secret = theOne(objects, "Secret");
    expect(secret.metadata.annotations?.["helm.sh/resource-policy"]).toBe("keep");
    const token = secretText(secret, "admin-token");
    expect(token.length).toBeGreaterThanOrEqual(32);
    expect(Buffer.from(secretText(secret, "encryption-key"), "base64")).toHaveLength(32);
    const hub = await startPod(
      "hub",
      materialize(podPlan([...objects, natsTlsSecret], "run-hub-0"), mkdtempSync(join(work, "pod-"))).hostEnv,
      join(work, "hub.log"),
    );
    try {
      const container = containerOf(objects);
      await waitForOk(probeUrl(container, container.livenessProbe), hub);
      await waitForOk(probeUrl(container, container.readinessProbe), hub);
      const base = `http://127.0.0.1:${port}`;
      await waitForOk(`${base}/v1/hub`, hub, { authorization: `Bearer ${token}` });
      const wrong = await fetch(`${base}/v1/hub`, { headers: { authorization: `Bearer ${"w".repeat(40)}` } });
      expect(wrong.status).toBe(401);
      const metrics = await fetch(`${base}/metrics`);
      expect(metrics.status).toBe(200);
      // Every series the chart's alerts query is one this running hub exports (HELP/TYPE lines
      // are there before the first sample).
      const exported = new Set([...(await metrics.text()).matchAll(/^# TYPE (\w+) /gm)].map((m) => m[1] as string));
      const queried = alertRules(objects).flatMap((r) => promqlNames(r.expr).metrics);
      expect(queried.length).toBeGreaterThanOrEqual(ALERTS.length);
      for (const series of queried) expect([...exported], series).toContain(declaredName(series, exported));
    } finally {
      await hub.stop(STOP_GRACE_MS);
    }
  });
});
