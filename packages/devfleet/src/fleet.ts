/**
 * A whole fleet on loopback, assembled from the harness's parts: NATS (optionally in operator
 * mode), Redis, a Git server with repos, Kubernetes fixture clusters, hub replicas, and an agent
 * per cluster, registered with the hub. `flotilla up` runs the example fleet; end-to-end tests
 * ask for the parts they need. Whatever fails or is aborted on the way stops what had started.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BootstrapBundle } from "@flotilla/api";
import { createOperatorSetup, type OperatorSetup } from "@flotilla/hub";
import { type AgentProcess, startAgentProcess } from "./agent.js";
import { FleetError } from "./errors.js";
import { type FileChanges, type FixtureRepo, type GitServer, startGitServer } from "./git.js";
import { type HubCommand, type HubProcess, newAdminToken, newEncryptionKey, startHubProcess } from "./hub.js";
import { type Cluster, startClusters } from "./kube/cluster.js";
import { type NatsServer, type NatsTlsOptions, startNats } from "./nats.js";
import { freePort } from "./ports.js";
import { type RedisServer, startRedis } from "./redis.js";
import { until } from "./wait.js";

/** How long a fleet waits for every agent to report its cluster Ready. */
export const DEFAULT_FLEET_READY_TIMEOUT_MS = 180_000;
/** How long a fleet waits for one of its hubs to take the leader lease. */
const LEAD_TIMEOUT_MS = 60_000;
/** How often it asks its hubs whether one leads. */
const LEAD_POLL_MS = 200;

/** A cluster of the fleet: the name it is registered under and its labels. */
export interface FleetClusterSpec {
  readonly name: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** What the fleet's documents are built from. */
export interface FleetParts {
  readonly git: GitServer;
  /** A repo of {@link FleetOptions.repos}; throws for any other name. */
  repo(name: string): FixtureRepo;
}

/** Options of {@link startFleet}. */
export interface FleetOptions {
  /**
   * Where every part keeps its files (data, certificates, secrets, logs); left in place by
   * `stop()`, for the caller to keep or remove.
   * @default a fresh directory under os.tmpdir(), removed by `stop()`
   */
  readonly dir?: string;
  /**
   * NATS in operator mode, as in production: a fresh operator setup, the hub given it, and
   * each cluster its own credentials at registration. Otherwise NATS has no auth.
   * @default false
   */
  readonly operatorMode?: boolean;
  /** `sync_interval: always` in NATS's JetStream block. @default false */
  readonly natsSyncAlways?: boolean;
  /**
   * TLS on NATS's client port (see `NatsOptions.tls`): hubs get its CA as
   * `FLOTILLA_NATS_CA_FILE` and put it in bootstrap bundles, which is all agents need.
   * `false` runs NATS in plaintext, every hub and agent with `FLOTILLA_NATS_INSECURE=true`.
   * @default {} (TLS, no client certificates)
   */
  readonly natsTls?: NatsTlsOptions | false;
  /**
   * Loopback address of the Git server (see `GitServerOptions.host`): the only one hubs and
   * agents are allowed to reach besides public addresses. @default "127.0.0.1"
   */
  readonly gitHost?: string;
  /** Repos the Git server holds: name → branch → files (see `GitServer.createRepo`). @default {} */
  readonly repos?: Readonly<Record<string, Record<string, FileChanges>>>;
  /**
   * Fleet configuration applied to the first hub once it leads, before any cluster is
   * registered; `summary` is the progress line that reports it.
   */
  readonly apply?: { readonly documents: (parts: FleetParts) => string; readonly summary: string };
  /** Kubernetes fixture clusters to start and register with the hub. @default [] */
  readonly clusters?: readonly FleetClusterSpec[];
  /**
   * `"process"` starts an agent per cluster and waits until the hub has every cluster Ready;
   * `"none"` leaves the clusters registered and without agents.
   * @default "process"
   */
  readonly agents?: "process" | "none";
  /** Hub replicas started at once; 0 starts none, for a test to start its own with `startHub`. @default 1 */
  readonly hubReplicas?: number;
  /** Settings (`FLOTILLA_*`) of every hub. */
  readonly hubEnv?: Readonly<Record<string, string>>;
  /** Settings (`FLOTILLA_*`) of every agent. */
  readonly agentEnv?: Readonly<Record<string, string>>;
  /** @default DEFAULT_FLEET_READY_TIMEOUT_MS */
  readonly readyTimeoutMs?: number;
  /** Receives a line as each part comes up. */
  readonly progress?: (line: string) => void;
  /** Aborts the start: what had started is stopped and the start rejects. */
  readonly signal?: AbortSignal;
}

/** Options of {@link Fleet.startHub}. */
export interface FleetHubOptions {
  /** `FLOTILLA_HUB_REPLICA_ID`. */
  readonly replica?: string;
  /** Settings of this replica, over the fleet's `hubEnv`. */
  readonly env?: Readonly<Record<string, string>>;
  /** @default "ready" */
  readonly waitFor?: "ready" | "leader";
  /** Another command that starts the hub, such as the CLI's `flotilla hub` (see `HubProcessOptions`). */
  readonly command?: (listen: string) => HubCommand;
}

/** A cluster of a running fleet. */
export interface FleetCluster {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly kube: Cluster;
  /** What registration returned. */
  readonly bundle: BootstrapBundle;
  /** Its agent, unless the fleet was started with `agents: "none"`. */
  readonly agent: AgentProcess | undefined;
}

/** A running fleet. */
export interface Fleet {
  readonly dir: string;
  readonly nats: NatsServer;
  readonly redis: RedisServer;
  readonly git: GitServer;
  readonly repos: Readonly<Record<string, FixtureRepo>>;
  /** The operator setup NATS trusts, in operator mode. */
  readonly operatorSetup: OperatorSetup | undefined;
  /** The admin token every hub of the fleet accepts. */
  readonly token: string;
  readonly clusters: readonly FleetCluster[];
  /** The hubs still running, in start order. */
  readonly hubs: readonly HubProcess[];
  /** The first hub still running; throws when none is. */
  readonly hub: HubProcess;
  /** A cluster by name; throws for a name the fleet does not have. */
  cluster(name: string): FleetCluster;
  /** A repo by name; throws for a name the fleet does not have. */
  repo(name: string): FixtureRepo;
  /** Starts another hub replica with the fleet's Redis, NATS, token and key. */
  startHub(options?: FleetHubOptions): Promise<HubProcess>;
  /** The process ids of every server of the fleet, for a last-resort kill. */
  pids(): number[];
  /** The ends of the hubs' and agents' logs, headed by their names, for a failing test to print. */
  logTails(lines?: number): Promise<string>;
  /** Stops every part, in reverse order of start. Idempotent. */
  stop(): Promise<void>;
}

const labelText = (labels: Readonly<Record<string, string>>) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");

/**
 * Starts a fleet and resolves once it is usable: every part up, a hub leading, and (with
 * agents) every cluster Ready. On failure or abort it stops what it had started, then rejects.
 */
export async function startFleet(options: FleetOptions = {}): Promise<Fleet> {
  const { signal } = options;
  const say = options.progress ?? (() => {});
  const specs = options.clusters ?? [];
  const hubReplicas = options.hubReplicas ?? 1;
  if (specs.length > 0 && hubReplicas < 1) {
    throw new FleetError("a fleet with clusters needs a hub to register them with: set hubReplicas to 1 or more");
  }
  const ownsDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), "flotilla-fleet-")));
  await mkdir(dir, { recursive: true });

  /** Stops of what has started, run in reverse order. */
  const stops: (() => Promise<unknown>)[] = [];
  let stopping: Promise<void> | undefined;
  const stopAll = () => {
    stopping ??= (async () => {
      const errors: unknown[] = [];
      for (const stop of stops.reverse()) await stop().catch((err: unknown) => errors.push(err));
      if (ownsDir) await rm(dir, { recursive: true, force: true });
      if (errors.length > 0) throw new AggregateError(errors, `${errors.length} parts of the fleet failed to stop`);
    })();
    return stopping;
  };
  const step = () => signal?.throwIfAborted();

  try {
    let operatorSetup: OperatorSetup | undefined;
    if (options.operatorMode) {
      say("nats: creating the operator, system and FLOTILLA accounts");
      operatorSetup = await createOperatorSetup();
    }
    step();
    const nats = await startNats({
      dir,
      syncAlways: options.natsSyncAlways ?? false,
      ...(operatorSetup ? { operator: operatorSetup } : {}),
      ...(options.natsTls !== undefined ? { tls: options.natsTls } : {}),
    });
    stops.push(() => nats.stop());
    const natsMode = [
      operatorSetup ? "operator mode" : "no auth",
      nats.tls ? `TLS, CA ${nats.tls.caFile}` : "plaintext",
      "JetStream",
    ];
    say(`nats: ${nats.url} (${natsMode.join(", ")})`);

    step();
    const redis = await startRedis({ dir });
    stops.push(() => redis.stop());
    say(`redis: ${redis.url}`);

    step();
    const git = await startGitServer({ dir, ...(options.gitHost ? { host: options.gitHost } : {}) });
    stops.push(() => git.stop());
    const repos: Record<string, FixtureRepo> = {};
    for (const [name, branches] of Object.entries(options.repos ?? {})) {
      repos[name] = await git.createRepo(name, branches);
      say(`git: ${repos[name].url} (branches ${Object.keys(branches).join(", ")})`);
    }
    const repo = (name: string): FixtureRepo => {
      const found = repos[name];
      if (!found) throw new FleetError(`the fleet has no repo ${name}; name it in the repos option`);
      return found;
    };

    let kubes: Cluster[] = [];
    if (specs.length > 0) {
      step();
      say(`kubernetes: starting ${specs.length} clusters (etcd, apiserver, controllers, kwok)`);
      kubes = await startClusters(
        specs.map((c) => c.name),
        { dir: join(dir, "clusters"), ...(signal ? { signal } : {}) },
      );
      for (const k of kubes) stops.push(() => k.stop());
      for (const k of kubes) say(`kubernetes: ${k.name} at ${k.server}`);
    }

    const token = newAdminToken();
    const encryptionKey = newEncryptionKey();
    const started: HubProcess[] = [];
    const startHub = async (hubOptions: FleetHubOptions = {}): Promise<HubProcess> => {
      const hub = await startHubProcess({
        dir: join(dir, `hub-${started.length + 1}`),
        redisUrl: redis.url,
        natsUrl: nats.url,
        natsTls: nats.tls,
        token,
        encryptionKey,
        // The fleet's Git server speaks plain HTTP on loopback, which a hub refuses unless told.
        env: { ...git.clientEnv, ...options.hubEnv, ...hubOptions.env },
        ...(operatorSetup ? { operatorSetup } : {}),
        ...(hubOptions.replica !== undefined ? { replica: hubOptions.replica } : {}),
        ...(hubOptions.waitFor ? { waitFor: hubOptions.waitFor } : {}),
        ...(hubOptions.command ? { command: hubOptions.command } : {}),
        ...(signal ? { signal } : {}),
      });
      started.push(hub);
      stops.push(() => hub.stop());
      return hub;
    };
    const running = () => started.filter((h) => h.process.alive());
    const firstHub = (): HubProcess => {
      const [hub] = running();
      if (!hub) throw new FleetError("no hub of the fleet is running");
      return hub;
    };

    for (let i = 0; i < hubReplicas; i++) {
      step();
      const hub = await startHub();
      say(`hub: ${hub.url}`);
    }
    let leader: HubProcess | undefined;
    if (hubReplicas > 0) {
      leader = await until(
        "a hub of the fleet to lead",
        async () => {
          step();
          for (const hub of running()) {
            const res = await hub.api.request<{ leader?: boolean }>("GET", "/readyz", undefined, { token: null });
            if (res.json?.leader === true) return hub;
          }
          return undefined;
        },
        LEAD_TIMEOUT_MS,
        LEAD_POLL_MS,
      );
    }

    if (options.apply && leader) {
      step();
      await leader.api.apply(options.apply.documents({ git, repo }));
      say(`hub: ${options.apply.summary}`);
    }

    const clusters: FleetCluster[] = [];
    for (const [i, spec] of specs.entries()) {
      step();
      const kube = kubes[i] as Cluster;
      const labels = { ...spec.labels };
      const bundle = await firstHub().api.registerCluster(spec.name, labels);
      const agent =
        (options.agents ?? "process") === "process"
          ? await startAgentProcess({
              dir: join(dir, "agents", spec.name),
              bootstrap: bundle,
              kubeconfig: kube.kubeconfigPath,
              git,
              // Metrics and probes on, as in a cluster: `flotilla up` shows what a Prometheus would.
              metricsPort: await freePort(),
              // The bundle carries the CA; a client certificate or plaintext must be given.
              ...(nats.tls === null || nats.tls.verify ? { natsTls: nats.tls } : {}),
              env: { ...options.agentEnv },
            })
          : undefined;
      if (agent) {
        stops.push(() => agent.stop());
        say(`agent: ${spec.name} registered (${labelText(labels)})`);
      } else {
        say(`hub: ${spec.name} registered (${labelText(labels)}), no agent`);
      }
      clusters.push({ name: spec.name, labels, kube, bundle, agent });
    }

    if (clusters.some((c) => c.agent)) {
      const timeoutMs = options.readyTimeoutMs ?? DEFAULT_FLEET_READY_TIMEOUT_MS;
      try {
        await firstHub().api.waitClustersReady(
          clusters.map((c) => c.name),
          timeoutMs,
          signal,
        );
      } catch (err) {
        if (signal?.aborted) throw err;
        throw new FleetError(`${(err as Error).message} (see agents/<name>/agent.log in ${dir})`, { cause: err });
      }
      say("fleet: every cluster is Ready");
    }

    return {
      dir,
      nats,
      redis,
      git,
      repos,
      operatorSetup,
      token,
      clusters,
      get hubs() {
        return running();
      },
      get hub() {
        return firstHub();
      },
      cluster(name) {
        const found = clusters.find((c) => c.name === name);
        if (!found) throw new FleetError(`the fleet has no cluster ${name}`);
        return found;
      },
      repo,
      startHub,
      pids() {
        return [
          ...[nats.pid, redis.pid].filter((pid) => pid !== undefined),
          ...kubes.flatMap((k) => k.processes.map((p) => p.pid)),
          ...running().map((h) => h.process.pid),
          ...clusters.flatMap((c) => (c.agent?.process.alive() ? [c.agent.process.pid] : [])),
        ];
      },
      async logTails(lines = 60) {
        const procs = [
          ...started.map((h) => h.process),
          ...clusters.flatMap((c) => (c.agent ? [c.agent.process] : [])),
        ];
        const parts = await Promise.all(
          procs.map(async (p) => `---- ${p.name} (${p.logPath}) ----\n${await p.tail(lines)}\n`),
        );
        return parts.join("");
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll().catch(() => {});
    throw err;
  }
}
