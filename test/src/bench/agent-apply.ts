/**
 * Benchmark: the agent's apply path versus `kubectl apply --server-side` for ~200 objects on
 * the same fixture cluster (fresh namespace each side), then the agent process's idle and peak
 * RSS while reconciling the same set from Git. Prints figures; asserts nothing about time.
 *
 * Run: npm run build -w @flotilla/proto -w @flotilla/agent && cd test && npx tsx src/bench/agent-apply.ts
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Applier, fromKubeconfigFile, KubeClient, type KubeObject, Observer, plan } from "@flotilla/agent";
import {
  type AgentProcess,
  binPath,
  startAgentProcess,
  startCluster,
  startGitServer,
  startNats,
} from "@flotilla/devfleet";
import {
  DESIRED_BUCKET,
  DESIRED_STATE,
  generateSigningKey,
  KeyRing,
  open,
  publicKeyToPem,
  REPORT,
  SourceType,
  STATUS_BUCKET,
  SyncPhase,
  seal,
  signingKeyToPem,
  stateKey,
} from "@flotilla/proto";
import { connect } from "nats";
import { stringify } from "yaml";

const run = promisify(execFile);
/** Objects per kind; 80 + 60 + 60 = 200. */
const COUNTS = { ConfigMap: 80, Service: 60, Deployment: 60 };

function objectsFor(): KubeObject[] {
  const out: KubeObject[] = [];
  for (let i = 0; i < COUNTS.ConfigMap; i++) {
    out.push({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: `cfg-${i}` },
      data: { index: String(i), payload: "x".repeat(512) },
    });
  }
  for (let i = 0; i < COUNTS.Service; i++) {
    out.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: `svc-${i}` },
      spec: { selector: { app: `app-${i}` }, ports: [{ port: 80, targetPort: 8080 }] },
    });
  }
  for (let i = 0; i < COUNTS.Deployment; i++) {
    out.push({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: `app-${i}` },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: `app-${i}` } },
        template: {
          metadata: { labels: { app: `app-${i}` } },
          spec: { containers: [{ name: "main", image: `registry.invalid/app:${i}` }] },
        },
      },
    });
  }
  return out;
}

function toYaml(objects: KubeObject[], namespace?: string): string {
  return objects.map((o) => stringify(namespace ? { ...o, metadata: { ...o.metadata, namespace } } : o)).join("---\n");
}

function rssKb(pid: number, field: "VmRSS" | "VmHWM"): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${field}:`));
  return Number(line?.split(/\s+/)[1] ?? 0);
}

const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MiB`;
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "flotilla-bench-agent-"));
  const cluster = await startCluster({ name: "bench-agent" });
  const nats = await startNats();
  const git = await startGitServer();
  let agent: AgentProcess | undefined;
  try {
    const kubeconfig = cluster.kubeconfigPath;
    const kubectl = binPath("kubectl");
    const objects = objectsFor();
    for (const ns of ["bench-agent", "bench-kubectl", "bench-process"]) {
      await run(kubectl, ["--kubeconfig", kubeconfig, "create", "namespace", ns]);
    }

    // 1. The agent's apply path in-process: observe (discovery, live headers) and plan (placement,
    // labels, policy, ownership), server-side dry run of the whole set, then server-side apply —
    // what a reconcile does after rendering.
    const kube = new KubeClient(fromKubeconfigFile(kubeconfig));
    const applier = new Applier(kube, 12);
    let t = performance.now();
    const facts = await new Observer(kube, 12).observe(objects, "bench-agent", []);
    const set = plan({
      app: "bench",
      targetNamespace: "bench-agent",
      agentNamespace: "flotilla-system",
      policy: { team: "bench", namespaces: ["bench-agent"], clusterResources: [] },
      adopt: false,
      prune: true,
      rendered: objects,
      inventory: [],
      facts,
    });
    if (set.refusals.length > 0) throw new Error(set.refusals.map((r) => r.message).join("; "));
    await applier.validate(set);
    const validateMs = performance.now() - t;
    t = performance.now();
    await applier.apply(set);
    const applyMs = performance.now() - t;
    kube.close();

    // 2. kubectl on the same objects in a fresh namespace.
    const file = join(work, "objects.yaml");
    writeFileSync(file, toYaml(objects, "bench-kubectl"));
    t = performance.now();
    await run(kubectl, ["--kubeconfig", kubeconfig, "apply", "--server-side", "--field-manager=bench", "-f", file], {
      maxBuffer: 16 * 1024 * 1024,
    });
    const kubectlMs = performance.now() - t;

    // 3. The agent process: idle RSS, then a full reconcile of the same set from Git (peak RSS).
    const hub = generateSigningKey();
    const agentKey = generateSigningKey();
    const repo = await git.createRepo("bench", { main: { "app/objects.yaml": toYaml(objects) } });
    const revision = await repo.head("main");
    const nc = await connect(nats.clientOptions());
    const js = nc.jetstream();
    const desired = await js.views.kv(DESIRED_BUCKET);
    const status = await js.views.kv(STATUS_BUCKET);
    agent = await startAgentProcess({
      dir: join(work, "agent"),
      bootstrap: {
        cluster: "bench",
        natsUrl: nats.url,
        natsCreds: "",
        hubPublicKey: publicKeyToPem(hub.publicKey),
        agentSigningKey: signingKeyToPem(agentKey),
      },
      natsTls: nats.tls,
      kubeconfig,
      git,
      env: { FLOTILLA_LOG_LEVEL: "warn" },
    });
    const pid = agent.process.pid;
    await new Promise((r) => setTimeout(r, 5_000));
    const idleKb = rssKb(pid, "VmRSS");
    await desired.put(
      stateKey("bench", "bulk"),
      seal(
        DESIRED_STATE,
        {
          cluster: "bench",
          app: "bulk",
          generation: 1,
          targetNamespace: "bench-process",
          prune: true,
          policy: { team: "bench", namespaces: ["bench-process"], clusterResources: [] },
          source: { repoUrl: repo.url, branch: "main", revision, path: "app", type: SourceType.SOURCE_TYPE_MANIFESTS },
        },
        hub,
      ),
    );
    const keys = new KeyRing([agentKey.publicKey]);
    let timings: Record<string, number> | undefined;
    const deadline = Date.now() + 300_000;
    while (!timings && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      const e = await status.get(stateKey("bench", "bulk"));
      if (!e?.value.length) continue;
      const r = open(REPORT, e.value, keys).message;
      if (r.phase === SyncPhase.SYNC_PHASE_FAILED) throw new Error(r.error?.message ?? "reconcile failed");
      if (r.phase === SyncPhase.SYNC_PHASE_SYNCED) timings = r.timings as unknown as Record<string, number>;
    }
    const peakKb = rssKb(pid, "VmHWM");
    await nc.close();

    const agentMs = validateMs + applyMs;
    console.log(
      `objects: ${objects.length} (${Object.entries(COUNTS)
        .map(([k, n]) => `${n} ${k}`)
        .join(", ")})`,
    );
    console.log(
      `agent apply path: ${sec(agentMs)} (observe + plan + dry run ${sec(validateMs)}, apply ${sec(applyMs)})`,
    );
    console.log(`kubectl apply --server-side: ${sec(kubectlMs)}`);
    console.log(
      `ratio agent/kubectl: ${(agentMs / kubectlMs).toFixed(2)} (apply only: ${(applyMs / kubectlMs).toFixed(2)})`,
    );
    console.log(`agent process reconcile from Git: ${JSON.stringify(timings)}`);
    console.log(`agent RSS: idle ${mb(idleKb)}, peak ${mb(peakKb)}`);
  } finally {
    await agent?.stop();
    await Promise.all([cluster.stop(), nats.stop(), git.stop()]);
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
