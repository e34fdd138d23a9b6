import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { natsServerConfig, type OperatorSetup } from "@flotilla/hub";
import { binPath } from "./fixtures.js";
import { freePort, freePorts, releasePorts } from "./ports.js";
import { type RestartableServer, restartableServer } from "./process.js";
import { until } from "./wait.js";

/** Options of {@link startNats}. */
export interface NatsOptions {
  /**
   * Runs the server in operator mode, trusting this setup's operator (the hub's
   * `natsServerConfig`, with its account resolver inside the server's directory). Without it
   * the server has no auth.
   */
  operator?: OperatorSetup;
  /** Passed to the JetStream block: `sync_interval: always` trades speed for durability. */
  syncAlways?: boolean;
  /** Parent directory for the server's own directory. @default os.tmpdir() */
  dir?: string;
}

/** A real nats-server with JetStream on a free loopback port, its store in a temp dir. */
export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** The server's process id while it runs. */
  readonly pid: number | undefined;
  /** Stops and starts it again on the same port and store: KV contents survive. */
  restart(): Promise<void>;
  /** Kills it without a clean shutdown (SIGKILL), for fault tests; `start()` brings it back. */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a nats-server (the pinned build from scripts/fixtures.sh) for one test run. */
export async function startNats(options: NatsOptions = {}): Promise<NatsServer> {
  const dir = await mkdtemp(join(options.dir ?? tmpdir(), "flotilla-nats-"));
  const port = await freePort();
  const conf = join(dir, "nats-server.conf");
  await writeFile(
    conf,
    [
      `listen: "127.0.0.1:${port}"`,
      `server_name: "flotilla-test-${port}"`,
      "jetstream {",
      `  store_dir: ${JSON.stringify(join(dir, "js"))}`,
      options.syncAlways ? "  sync_interval: always" : "",
      "}",
      options.operator ? natsServerConfig(options.operator, { resolverDir: join(dir, "resolver") }) : "",
      "",
    ].join("\n"),
  );
  const server = restartableServer({
    name: "nats-server",
    command: binPath("nats-server"),
    args: ["-c", conf],
    logPath: join(dir, "nats.log"),
    port,
  });
  await server.start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    dir,
    get pid() {
      return server.pid;
    },
    start: () => server.start(),
    async restart() {
      await server.stop();
      await server.start();
    },
    kill: () => server.kill(),
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Options of {@link startNatsCluster}. */
export interface NatsClusterOptions {
  /** Servers in the cluster: 3 keeps an R3 stream writable with one node down. @default 3 */
  nodes?: number;
  /**
   * `sync_interval: always` on every node: each acknowledged write is on disk (fsync) before the
   * acknowledgement, the setting a production cluster needs to lose no acknowledged write when
   * nodes crash together. @default true
   */
  syncAlways?: boolean;
  /** Parent directory for the cluster's own directory. @default os.tmpdir() */
  dir?: string;
}

/** One node of a {@link NatsCluster}: its own client port, monitoring port, route port and store. */
export interface NatsClusterNode {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly pid: number | undefined;
  /** SIGKILL: no clean shutdown. */
  kill(): Promise<void>;
  /** Starts it again on the same ports and store, and waits until it is healthy in the cluster. */
  start(): Promise<void>;
  /** SIGTERM (SIGKILL after a grace period). */
  stop(): Promise<void>;
}

/** A real JetStream cluster of nats-servers on loopback ports, routes between every pair. */
export interface NatsCluster {
  /** Every node's client URL, comma-separated: what the hub's `FLOTILLA_NATS_URL` takes. */
  readonly url: string;
  readonly nodes: readonly NatsClusterNode[];
  readonly dir: string;
  /** Process ids of the nodes that run. */
  pids(): number[];
  /** Waits until every running node answers `/healthz` (JetStream meta leader known, streams current). */
  healthy(timeoutMs?: number): Promise<void>;
  /** Stops every node, then starts them all again on the same ports and stores. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** How long a cluster node gets to report healthy. */
const NATS_HEALTHY_TIMEOUT_MS = 60_000;

async function natsHealthy(httpPort: number): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/healthz`).catch(() => undefined);
  return res?.status === 200;
}

/**
 * Starts a JetStream cluster of `nodes` nats-servers (the pinned build), no auth, each with
 * `sync_interval: always` unless told otherwise, and resolves once every node is healthy (a
 * meta leader elected), so an R3 stream can be created at once.
 */
export async function startNatsCluster(options: NatsClusterOptions = {}): Promise<NatsCluster> {
  const count = options.nodes ?? 3;
  const dir = await mkdtemp(join(options.dir ?? tmpdir(), "flotilla-nats-cluster-"));
  const ports = await freePorts(count * 3);
  const client = ports.slice(0, count);
  const http = ports.slice(count, 2 * count);
  const route = ports.slice(2 * count);
  const servers: RestartableServer[] = [];
  for (let i = 0; i < count; i++) {
    const name = `n${i + 1}`;
    const conf = join(dir, `${name}.conf`);
    const routes = route.filter((_, j) => j !== i).map((p) => `    "nats-route://127.0.0.1:${p}"`);
    await writeFile(
      conf,
      [
        `listen: "127.0.0.1:${client[i]}"`,
        `http: "127.0.0.1:${http[i]}"`,
        `server_name: "flotilla-${name}"`,
        "jetstream {",
        `  store_dir: ${JSON.stringify(join(dir, name))}`,
        options.syncAlways === false ? "" : "  sync_interval: always",
        "}",
        "cluster {",
        '  name: "flotilla-test"',
        `  listen: "127.0.0.1:${route[i]}"`,
        "  routes: [",
        ...routes,
        "  ]",
        "}",
        "",
      ].join("\n"),
    );
    servers.push(
      restartableServer({
        name: "nats-server",
        command: binPath("nats-server"),
        args: ["-c", conf],
        logPath: join(dir, `${name}.log`),
        port: client[i] as number,
      }),
    );
  }
  const healthy = async (timeoutMs = NATS_HEALTHY_TIMEOUT_MS) => {
    await until(
      "every running nats-server of the cluster to be healthy",
      async () => {
        const running = servers.map((s, i) => (s.pid === undefined ? undefined : http[i])).filter((p) => p);
        const answers = await Promise.all(running.map((p) => natsHealthy(p as number)));
        return answers.every(Boolean);
      },
      timeoutMs,
      200,
    );
  };
  const stopAll = () => Promise.all(servers.map((s) => s.stop()));
  try {
    await Promise.all(servers.map((s) => s.start()));
    await healthy();
  } catch (err) {
    await stopAll();
    releasePorts(ports);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const nodes: NatsClusterNode[] = servers.map((s, i) => ({
    name: `n${i + 1}`,
    url: `nats://127.0.0.1:${client[i]}`,
    port: client[i] as number,
    get pid() {
      return s.pid;
    },
    kill: () => s.kill(),
    stop: () => s.stop(),
    async start() {
      await s.start();
      await healthy();
    },
  }));
  return {
    url: nodes.map((n) => n.url).join(","),
    nodes,
    dir,
    pids: () => servers.map((s) => s.pid).filter((p): p is number => p !== undefined),
    healthy,
    async restart() {
      await stopAll();
      await Promise.all(servers.map((s) => s.start()));
      await healthy();
    },
    async stop() {
      await stopAll();
      releasePorts(ports);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
