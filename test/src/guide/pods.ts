/**
 * The kubelet's part for Flotilla's own pods on fixture clusters. kwok schedules pods and marks
 * them Running but starts nothing; this loop starts the program of every Running pod whose
 * image is Flotilla's agent or hub, as a process on this machine, from the pod's spec and the
 * Secrets it mounts as they are in the cluster, and stops it when the pod goes away. So
 * `helm install`, `helm upgrade`, `kubectl rollout restart` and `helm uninstall` in a guide act
 * on a real agent.
 *
 * Two differences from a real kubelet, both forced by running outside a container: the program
 * reaches the API server through a kubeconfig holding the pod's ServiceAccount token (a process
 * cannot have /var/run/secrets mounted), and it serves its metrics on a free loopback port.
 */
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  binPath,
  type Cluster,
  entryPoint,
  freePort,
  type ManagedProcess,
  type Program,
  programEnv,
  startProcess,
} from "@flotilla/devfleet";
import { stringify } from "yaml";
import { type KubeObject, materialize, type PodSpec, planOf } from "../kubelet.js";

const run = promisify(execFile);
const POLL_MS = 1_000;

interface Pod extends KubeObject {
  metadata: KubeObject["metadata"] & { uid: string; deletionTimestamp?: string };
  spec: PodSpec;
  status?: { phase?: string };
}

/** A pod's program running here. */
interface Running {
  cluster: string;
  pod: string;
  process: ManagedProcess;
}

/** Which Flotilla program an image runs, if any. */
function programOf(image: string | undefined): Program | undefined {
  if (image?.includes("flotilla-agent")) return "agent";
  if (image?.includes("flotilla-hub")) return "hub";
  return undefined;
}

export class PodRunner {
  readonly #running = new Map<string, Running>();
  readonly #errors: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  #busy = false;
  #stopped = false;

  /**
   * @param extraEnv settings this machine needs that a real cluster would not (the fixture Git
   *   server's plain HTTP on loopback), added to every program's environment
   */
  constructor(
    private readonly clusters: readonly Cluster[],
    private readonly dir: string,
    private readonly extraEnv: Readonly<Record<string, string>> = {},
  ) {}

  start(): void {
    this.#timer = setInterval(() => {
      if (this.#busy || this.#stopped) return;
      this.#busy = true;
      this.tick()
        .catch((err: unknown) => this.#errors.push(String(err)))
        .finally(() => {
          this.#busy = false;
        });
    }, POLL_MS);
  }

  /** What went wrong starting or stopping pods, so a test can fail on it. */
  errors(): readonly string[] {
    return this.#errors;
  }

  /** `cluster/pod` of every pod whose program runs here now. */
  running(): string[] {
    return [...this.#running.values()].map((r) => `${r.cluster}/${r.pod}`);
  }

  /** The end of each running program's log. */
  async logs(lines = 30): Promise<string> {
    const parts: string[] = [];
    for (const r of this.#running.values())
      parts.push(`--- pod ${r.cluster}/${r.pod} ---\n${await r.process.tail(lines)}`);
    return parts.join("\n");
  }

  async #kubectl(cluster: Cluster, args: string[]): Promise<string> {
    const { stdout } = await run(binPath("kubectl"), ["--kubeconfig", cluster.kubeconfigPath, ...args], {
      maxBuffer: 32 * 1024 * 1024,
    });
    return stdout;
  }

  /** One pass: start the programs of new Running pods, stop those of pods gone. */
  async tick(): Promise<void> {
    const seen = new Set<string>();
    for (const cluster of this.clusters) {
      const list = JSON.parse(await this.#kubectl(cluster, ["get", "pods", "--all-namespaces", "-o", "json"])) as {
        items: Pod[];
      };
      for (const pod of list.items) {
        const program = programOf(pod.spec.containers[0]?.image);
        if (!program || pod.status?.phase !== "Running" || pod.metadata.deletionTimestamp) continue;
        seen.add(pod.metadata.uid);
        if (!this.#running.has(pod.metadata.uid)) await this.#startPod(cluster, pod, program);
      }
    }
    for (const [uid, r] of this.#running) {
      if (seen.has(uid)) continue;
      this.#running.delete(uid);
      await r.process.stop(10_000);
    }
  }

  async #startPod(cluster: Cluster, pod: Pod, program: Program): Promise<void> {
    const ns = pod.metadata.namespace ?? "default";
    const secretNames = (pod.spec.volumes ?? []).flatMap((v) => (v.secret ? [v.secret.secretName] : []));
    const secrets = await Promise.all(
      secretNames.map(
        async (name) =>
          JSON.parse(await this.#kubectl(cluster, ["-n", ns, "get", "secret", name, "-o", "json"])) as KubeObject,
      ),
    );
    const plan = planOf(pod.spec, secrets, pod.metadata.name);
    const podDir = join(this.dir, `${cluster.name}-${pod.metadata.name}`);
    mkdirSync(podDir, { recursive: true });
    const env: Record<string, string> = { ...materialize(plan, podDir).hostEnv, ...this.extraEnv };
    if (program === "agent") {
      env.FLOTILLA_METRICS_HOST = "127.0.0.1";
      env.FLOTILLA_METRICS_PORT = String(await freePort());
      // The image carries helm and kustomize on its PATH.
      env.FLOTILLA_HELM_BIN = binPath("helm");
      env.FLOTILLA_KUSTOMIZE_BIN = binPath("kustomize");
    }
    if (plan.automountServiceAccountToken && plan.serviceAccountName) {
      env.KUBECONFIG = await this.#serviceAccountKubeconfig(cluster, ns, plan.serviceAccountName, podDir);
    }
    const process = await startProcess({
      name: `${program}-${pod.metadata.name}`,
      command: globalThis.process.execPath,
      args: [entryPoint(program)],
      logPath: join(podDir, `${program}.log`),
      env: programEnv(env),
    });
    this.#running.set(pod.metadata.uid, { cluster: cluster.name, pod: pod.metadata.name, process });
  }

  /** A kubeconfig for the pod's ServiceAccount, with a token the API server issues for it. */
  async #serviceAccountKubeconfig(cluster: Cluster, ns: string, account: string, dir: string): Promise<string> {
    const token = (await this.#kubectl(cluster, ["-n", ns, "create", "token", account, "--duration=2h"])).trim();
    const ca = cluster.kubeConfig().getCurrentCluster()?.caData ?? "";
    const path = join(dir, "serviceaccount.kubeconfig");
    writeFileSync(
      path,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        "current-context": "pod",
        clusters: [{ name: "in-cluster", cluster: { server: cluster.server, "certificate-authority-data": ca } }],
        users: [{ name: account, user: { token } }],
        contexts: [{ name: "pod", context: { cluster: "in-cluster", user: account, namespace: ns } }],
      }),
      { mode: 0o600 },
    );
    return path;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    while (this.#busy) await new Promise((r) => setTimeout(r, 50));
    for (const r of this.#running.values()) await r.process.stop(10_000);
    this.#running.clear();
  }
}
