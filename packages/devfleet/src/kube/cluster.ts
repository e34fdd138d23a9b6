import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { ClusterStartError, ClustersStartError, type Component, ComponentExitedError } from "../errors.js";
import { binPath, fixtureDataPath } from "../fixtures.js";
import { freePorts, releasePorts } from "../ports.js";
import { logTail, type ManagedProcess, residentSetBytes, startProcess } from "../process.js";
import { type ClusterLayout, componentArgs, etcdUrl, serverUrl } from "./components.js";
import { writeKubeconfig } from "./kubeconfig.js";
import { fakeNode, fakeNodeNames, nodesReady } from "./nodes.js";
import { CLIENTS, type ClientName, createPki } from "./pki.js";
import { get, waitUntil } from "./probe.js";
import { FLOTILLA_STAGES } from "./stages.js";

/** Time a cluster may take to start, including waiting for its first ServiceAccount. */
export const DEFAULT_START_TIMEOUT_MS = 180_000;
/** Fake Nodes per cluster. */
export const DEFAULT_NODE_COUNT = 2;

/** A cluster name becomes part of file names, an etcd member name and certificate subjects. */
const CLUSTER_NAME = /^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$/;

/** Options of {@link startCluster}. */
export interface ClusterOptions {
  /** Names the cluster in its kubeconfig (cluster, user and context) and its directory. */
  readonly name: string;
  /**
   * Parent of the cluster's working directory (certificates, etcd data, logs,
   * kubeconfig), which is created inside it and removed by `stop()`.
   * @default os.tmpdir()
   */
  readonly dir?: string;
  /**
   * How many fake Nodes kwok runs Pods on.
   * @default DEFAULT_NODE_COUNT
   */
  readonly nodes?: number;
  /**
   * How long to wait for the cluster to be usable before giving up.
   * @default DEFAULT_START_TIMEOUT_MS
   */
  readonly startTimeoutMs?: number;
  /** Aborts the start: what was started is stopped and the start rejects. */
  readonly signal?: AbortSignal;
}

/** A process of a running cluster. */
export interface ClusterProcess {
  readonly component: Component;
  readonly pid: number;
  /** Its stdout and stderr; removed with the cluster's directory. */
  readonly logPath: string;
}

/**
 * A running Kubernetes cluster: etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler and kwok (Nodes and Pods without containers), on loopback
 * ports, with its own CA. Pods get scheduled and become Running; Deployments
 * become Available.
 */
export interface Cluster {
  readonly name: string;
  /** The cluster's working directory; gone after `stop()`. */
  readonly dir: string;
  /** An admin (`system:masters`) kubeconfig with embedded certificates, inside `dir`. */
  readonly kubeconfigPath: string;
  /** The apiserver's URL, `https://127.0.0.1:<port>`. */
  readonly server: string;
  /** The processes the cluster runs, in start order. */
  readonly processes: readonly ClusterProcess[];
  /** A fresh client configuration for the admin user (works without the file). */
  kubeConfig(): KubeConfig;
  /** Sum of the resident set sizes of the cluster's processes, in bytes. */
  residentMemoryBytes(): Promise<number>;
  /**
   * Restarts the kube-apiserver alone (etcd and the other components keep running): SIGTERM,
   * or SIGKILL with `kill: true`, then `downMs` with no apiserver, then the same command on the
   * same port and certificates; resolves once `/readyz` answers again. For fault tests: a client
   * mid-request sees its connection closed or refused. `processes` names the new pid afterwards.
   */
  restartApiServer(options?: { readonly kill?: boolean; readonly downMs?: number }): Promise<void>;
  /**
   * Stops every process (SIGTERM to its process group, SIGKILL after a grace
   * period) and removes `dir`. Idempotent.
   */
  stop(): Promise<void>;
}

/**
 * Starts one cluster and resolves once `/readyz` answers, the fake Nodes are
 * Ready and the `default` ServiceAccount exists in `default`. If anything
 * fails on the way, whatever was started is stopped, the directory removed,
 * and a {@link ClusterStartError} thrown with the end of the failing
 * component's log.
 */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const { name } = options;
  if (!CLUSTER_NAME.test(name)) {
    throw new ClusterStartError(name, undefined, "", {
      cause: new Error("the name must be lower-case letters, digits and '-', at most 42 characters"),
    });
  }
  const timeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const nodeNames = fakeNodeNames(options.nodes ?? DEFAULT_NODE_COUNT);
  const deadline = Date.now() + timeoutMs;
  const remaining = () => Math.max(deadline - Date.now(), 0);

  const parent = options.dir ?? tmpdir();
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(join(parent, `flotilla-kube-${name}-`));
  const processes: ManagedProcess<Component>[] = [];
  let ports: number[] = [];
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= teardown(processes, dir, ports);
    return stopping;
  };

  // The component whose failure the current step would show; its log goes into the error.
  let suspect: Component | undefined;
  try {
    const binaries = {
      etcd: binPath("etcd"),
      "kube-apiserver": binPath("kube-apiserver"),
      "kube-controller-manager": binPath("kube-controller-manager"),
      "kube-scheduler": binPath("kube-scheduler"),
      kwok: binPath("kwok"),
    } satisfies Record<Component, string>;
    const ownStages = join(dir, "flotilla-stages.yaml");
    await writeFile(ownStages, FLOTILLA_STAGES);
    const kwokStages = [fixtureDataPath("kwok", "stages.yaml"), ownStages];

    ports = await freePorts(5);
    const [etcdClient, etcdPeer, apiserver, controllerManager, scheduler] = ports as [
      number,
      number,
      number,
      number,
      number,
    ];
    const pki = await createPki(join(dir, "pki"), name);
    const kubeconfigs = Object.fromEntries(
      Object.keys(CLIENTS).map((client) => [client, join(dir, `${client}.kubeconfig`)]),
    ) as Record<ClientName, string>;
    const layout: ClusterLayout = {
      name,
      dir,
      ports: { etcdClient, etcdPeer, apiserver, controllerManager, scheduler },
      pki,
      kubeconfigs,
      kwokStages,
    };
    const server = serverUrl(layout);
    await Promise.all(
      Object.entries(kubeconfigs).map(([client, path]) =>
        writeKubeconfig({
          path,
          name,
          server,
          caCert: pki.ca.cert,
          client: pki.clients[client as ClientName],
        }),
      ),
    );
    const args = componentArgs(layout);
    await mkdir(join(dir, "logs"));
    const launch = async (component: Component): Promise<void> => {
      options.signal?.throwIfAborted();
      suspect = component;
      processes.push(
        await startProcess({
          name: component,
          command: binaries[component],
          args: args[component],
          logPath: join(dir, "logs", `${component}.log`),
          cwd: dir,
        }),
      );
    };
    const abortIfExited = () => {
      options.signal?.throwIfAborted();
      for (const p of processes) {
        if (p.exitStatus !== undefined) {
          suspect = p.name;
          throw new ComponentExitedError(p.name, p.exitStatus.code, p.exitStatus.signal);
        }
      }
    };
    const wait = <T>(component: Component, what: string, check: () => Promise<T | undefined>) => {
      suspect = component;
      return waitUntil(`${what} of cluster ${name}`, check, {
        timeoutMs: remaining(),
        abort: abortIfExited,
      });
    };

    await launch("etcd");
    await wait("etcd", "etcd /health", async () => {
      const { status, body } = await get(`${etcdUrl(layout)}/health`);
      return status === 200 && body.includes('"health":"true"') ? true : undefined;
    });

    await launch("kube-apiserver");
    const tls = { ca: pki.ca.cert, client: pki.clients.admin };
    await wait("kube-apiserver", "kube-apiserver /readyz", async () => {
      const { status } = await get(`${server}/readyz`, tls);
      return status === 200 ? true : undefined;
    });

    await launch("kube-controller-manager");
    await launch("kube-scheduler");
    await launch("kwok");

    const kubeconfigText = await readFile(kubeconfigs.admin, "utf8");
    const kubeConfig = () => {
      const config = new KubeConfig();
      config.loadFromString(kubeconfigText);
      return config;
    };
    const core = kubeConfig().makeApiClient(CoreV1Api);
    suspect = "kube-apiserver";
    await Promise.all(nodeNames.map((node) => core.createNode({ body: fakeNode(node) })));
    await wait("kwok", "fake Nodes to be Ready", async () => ((await nodesReady(core, nodeNames)) ? true : undefined));
    await wait("kube-controller-manager", "the default ServiceAccount", async () => {
      await core.readNamespacedServiceAccount({ name: "default", namespace: "default" });
      return true;
    });

    const restartApiServer = async (restart: { readonly kill?: boolean; readonly downMs?: number } = {}) => {
      const at = processes.findIndex((p) => p.name === "kube-apiserver");
      const old = processes[at];
      if (!old) throw new Error(`cluster ${name} has no kube-apiserver to restart`);
      if (stopping) throw new Error(`cluster ${name} is stopping: its kube-apiserver cannot be restarted`);
      await (restart.kill ? old.kill() : old.stop());
      if (restart.downMs) await new Promise((resolve) => setTimeout(resolve, restart.downMs));
      const next = await startProcess({
        name: "kube-apiserver" as const,
        command: binaries["kube-apiserver"],
        args: args["kube-apiserver"],
        logPath: join(dir, "logs", "kube-apiserver.log"),
        cwd: dir,
      });
      processes[at] = next;
      await waitUntil(
        `kube-apiserver /readyz of cluster ${name} after a restart`,
        async () => ((await get(`${server}/readyz`, tls)).status === 200 ? true : undefined),
        {
          timeoutMs: timeoutMs,
          abort: () => {
            if (next.exitStatus !== undefined) {
              throw new ComponentExitedError("kube-apiserver", next.exitStatus.code, next.exitStatus.signal);
            }
          },
        },
      );
    };

    return {
      name,
      dir,
      kubeconfigPath: kubeconfigs.admin,
      server,
      get processes() {
        return processes.map(({ name, pid, logPath }) => ({ component: name, pid, logPath }));
      },
      restartApiServer,
      kubeConfig,
      residentMemoryBytes: async () =>
        (await Promise.all(processes.map((p) => residentSetBytes(p.pid)))).reduce((a, b) => a + b, 0),
      stop,
    };
  } catch (error) {
    // An abort is the caller's doing: the component's log would not explain it.
    const aborted = options.signal?.aborted === true;
    const tail = suspect === undefined || aborted ? "" : await logTail(join(dir, "logs", `${suspect}.log`));
    await stop();
    throw new ClusterStartError(name, suspect, tail, { cause: error });
  }
}

/**
 * Stops the clients of the apiserver first, then the apiserver, then etcd, so
 * that no component spends its grace period retrying a server already gone.
 */
async function teardown(processes: readonly ManagedProcess<Component>[], dir: string, ports: number[]) {
  const order: Component[][] = [["kwok", "kube-scheduler", "kube-controller-manager"], ["kube-apiserver"], ["etcd"]];
  for (const group of order) {
    await Promise.all(processes.filter((p) => group.includes(p.name)).map((p) => p.stop()));
  }
  await rm(dir, { recursive: true, force: true });
  releasePorts(ports);
}

/**
 * Starts several independent clusters at once. If any fails to start, the
 * others are stopped too and a {@link ClustersStartError} lists every failure.
 */
export async function startClusters(
  names: readonly string[],
  options: Omit<ClusterOptions, "name"> = {},
): Promise<Cluster[]> {
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate !== undefined) {
    throw new ClusterStartError(duplicate, undefined, "", {
      cause: new Error("the name is given twice; each cluster needs its own"),
    });
  }
  const results = await Promise.allSettled(names.map((name) => startCluster({ ...options, name })));
  const started = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failures = results.flatMap((r, i) =>
    r.status === "fulfilled"
      ? []
      : r.reason instanceof ClusterStartError
        ? [r.reason]
        : [new ClusterStartError(names[i] ?? "", undefined, "", { cause: r.reason })],
  );
  if (failures.length === 0) return started;
  await Promise.all(started.map((cluster) => cluster.stop()));
  throw new ClustersStartError(failures);
}
