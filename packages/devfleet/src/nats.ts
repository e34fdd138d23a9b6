import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { natsServerConfig, natsTlsConfig, type OperatorSetup } from "@flotilla/hub";
import { binPath } from "./fixtures.js";
import { createCertificateAuthority } from "./kube/pki.js";
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
  /**
   * TLS on the client port, with a CA and certificates made at start: on unless `false`, which
   * only a test that shows plaintext needs. @default {}
   */
  tls?: NatsTlsOptions | false;
}

/** How a harness NATS serves TLS. */
export interface NatsTlsOptions {
  /**
   * Also demand a client certificate signed by the server's CA (mutual TLS); clients get one in
   * {@link NatsClientTls}. @default false
   */
  verify?: boolean;
}

/** What a client of a harness NATS needs for TLS: the CA's PEM and file, and a client certificate. */
export interface NatsClientTls {
  /** PEM file of the CA that signed the server's certificate (`FLOTILLA_NATS_CA_FILE`). */
  readonly caFile: string;
  /** Its text, for a bootstrap bundle's `natsCa` or nats.js's `tls.ca`. */
  readonly ca: string;
  /** A client certificate and key the CA signed (`FLOTILLA_NATS_CERT_FILE`, `FLOTILLA_NATS_KEY_FILE`). */
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
  /** Whether the server demands the client certificate. */
  readonly verify: boolean;
}

/**
 * The options of nats.js's `connect` that reach a harness NATS: its servers and its `tls`
 * (trusting the server's CA, with the client certificate when the server verifies clients; null
 * for a plaintext server). Spread it and add the rest: `connect({ ...nats.clientOptions(), name })`.
 */
export interface NatsClientOptions {
  servers: string[];
  tls: { ca: string; cert?: string; key?: string } | null;
}

/**
 * The settings a hub or agent process needs to reach a harness NATS over TLS, or to reach a
 * plaintext one (`FLOTILLA_NATS_INSECURE=true`, chosen explicitly as the settings demand).
 */
export function natsTlsEnv(tls: NatsClientTls | null): Record<string, string> {
  if (tls === null) return { FLOTILLA_NATS_INSECURE: "true" };
  return {
    FLOTILLA_NATS_CA_FILE: tls.caFile,
    ...(tls.verify ? { FLOTILLA_NATS_CERT_FILE: tls.certFile, FLOTILLA_NATS_KEY_FILE: tls.keyFile } : {}),
  };
}

function clientOptions(url: string, tls: NatsClientTls | null): NatsClientOptions {
  return {
    servers: url.split(",").map((s) => s.trim()),
    tls: tls ? { ca: tls.ca, ...(tls.verify ? { cert: tls.cert, key: tls.key } : {}) } : null,
  };
}

/**
 * Makes a CA, a server certificate for 127.0.0.1 and localhost, and a client certificate in
 * `dir`, and returns them with the server config's `tls` block.
 */
async function natsTls(dir: string, options: NatsTlsOptions): Promise<{ client: NatsClientTls; config: string }> {
  const authority = await createCertificateAuthority(dir, "flotilla-nats-ca");
  const [server, client] = await Promise.all([
    authority.issue("nats-server", "server", ["IP:127.0.0.1", "DNS:localhost"]),
    authority.issue("flotilla-client", "client"),
  ]);
  const verify = options.verify ?? false;
  const [ca, cert, key] = await Promise.all([
    readFile(authority.ca.cert, "utf8"),
    readFile(client.cert, "utf8"),
    readFile(client.key, "utf8"),
  ]);
  const config = natsTlsConfig({ certFile: server.cert, keyFile: server.key, caFile: authority.ca.cert, verify });
  return {
    client: { caFile: authority.ca.cert, ca, certFile: client.cert, keyFile: client.key, cert, key, verify },
    config,
  };
}

/** A real nats-server with JetStream on a free loopback port, its store in a temp dir. */
export interface NatsServer {
  /** `nats://127.0.0.1:<port>`; TLS is required there unless the server was started without. */
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** What clients need for TLS; null for a server started with `tls: false`. */
  readonly tls: NatsClientTls | null;
  /** nats.js `connect` options that reach it: `connect({ ...nats.clientOptions(), name })`. */
  clientOptions(): NatsClientOptions;
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
  const tls = options.tls === false ? undefined : await natsTls(join(dir, "tls"), options.tls ?? {});
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
      tls?.config ?? "",
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
  const url = `nats://127.0.0.1:${port}`;
  const client = tls?.client ?? null;
  return {
    url,
    port,
    dir,
    tls: client,
    clientOptions: () => clientOptions(url, client),
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
  /** TLS on every node's client port, one CA for all; routes stay plaintext on loopback. @default {} */
  tls?: NatsTlsOptions | false;
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
  /** What clients need for TLS; null for a cluster started with `tls: false`. */
  readonly tls: NatsClientTls | null;
  /** nats.js `connect` options that reach every node. */
  clientOptions(): NatsClientOptions;
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
 * Starts a JetStream cluster of `nodes` nats-servers (the pinned build), no auth, TLS on the
 * client ports unless told otherwise, each with
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
  const tls = options.tls === false ? undefined : await natsTls(join(dir, "tls"), options.tls ?? {});
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
        tls?.config ?? "",
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
  const url = nodes.map((n) => n.url).join(",");
  const clientTls = tls?.client ?? null;
  return {
    url,
    nodes,
    dir,
    tls: clientTls,
    clientOptions: () => clientOptions(url, clientTls),
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
