import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, freePorts, releasePorts } from "./ports.js";
import { type RestartableServer, restartableServer } from "./process.js";
import { until } from "./wait.js";

/** Debian's redis-server; the harness never uses the machine's shared instance. */
const REDIS_SERVER = process.env.FLOTILLA_REDIS_SERVER ?? "redis-server";

/** A real redis-server on a free loopback port, persisting to a temp dir. */
export interface RedisServer {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** The server's process id while it runs. */
  readonly pid: number | undefined;
  /** Stops and starts it on the same port and data dir: data survives (append-only file, fsync always). */
  restart(): Promise<void>;
  /** SIGKILL, for fault tests; `start()` brings it back from its append-only file. */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Arguments of a data node: loopback only, append-only file with fsync always, no snapshots. */
function dataArgs(port: number, dir: string): string[] {
  return [
    "--bind",
    "127.0.0.1",
    "--port",
    String(port),
    "--dir",
    dir,
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
    "--save",
    "",
    "--protected-mode",
    "yes",
    "--daemonize",
    "no",
  ];
}

/** Options of {@link startRedis}. */
export interface RedisOptions {
  /** Parent directory for the server's own directory. @default os.tmpdir() */
  dir?: string;
}

/** Starts a redis-server of its own for one test run or one local fleet. */
export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const dir = await mkdtemp(join(options.dir ?? tmpdir(), "flotilla-redis-"));
  const port = await freePort();
  const args = dataArgs(port, dir);
  const server = restartableServer({
    name: "redis-server",
    command: REDIS_SERVER,
    args,
    logPath: join(dir, "redis.log"),
    port,
  });
  await server.start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get pid() {
      return server.pid;
    },
    async restart() {
      await server.stop();
      await server.start();
    },
    kill: () => server.kill(),
    start: () => server.start(),
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Options of {@link startRedisSentinel}. */
export interface RedisSentinelOptions {
  /** Parent directory for the set's own directory. @default os.tmpdir() */
  dir?: string;
  /** The master name the sentinels monitor. @default "flotilla" */
  masterName?: string;
  /** How long a primary may be silent before a sentinel calls it down. @default 1000 */
  downAfterMs?: number;
}

/** One redis-server or sentinel of a {@link RedisSentinelSet}, on its own fixed port. */
export interface RedisNode {
  readonly name: string;
  readonly port: number;
  readonly pid: number | undefined;
  /** SIGKILL. */
  kill(): Promise<void>;
  /** Starts it again on the same port and files (a killed primary comes back as a replica). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A primary, a replica and three sentinels (`redis-server --sentinel`, Debian's redis-server),
 * every data node with append-only persistence and fsync always.
 */
export interface RedisSentinelSet {
  readonly masterName: string;
  /** The sentinels' addresses: what the hub's `FLOTILLA_REDIS_SENTINELS` takes. */
  readonly sentinels: readonly { host: string; port: number }[];
  /** A URL for the hub's `FLOTILLA_REDIS_URL` (behind Sentinel only its credentials and db count). */
  readonly url: string;
  /** The two data nodes, the first the primary at start. */
  readonly data: readonly RedisNode[];
  readonly sentinelNodes: readonly RedisNode[];
  /** Port of the primary the sentinels name now. */
  primaryPort(): Promise<number>;
  /** The data node the sentinels name as primary now. */
  primary(): Promise<RedisNode>;
  /** Process ids of every node that runs. */
  pids(): number[];
  stop(): Promise<void>;
}

/** One RESP command to a Redis or sentinel on loopback; its reply as nested arrays of strings. */
export async function redisCommand(port: number, args: readonly string[], timeoutMs = 2_000): Promise<RespValue> {
  const socket = connect({ host: "127.0.0.1", port });
  const chunks: Buffer[] = [];
  try {
    return await new Promise<RespValue>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply from 127.0.0.1:${port}`)), timeoutMs);
      socket.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.on("data", (chunk) => {
        chunks.push(chunk);
        const parsed = parseResp(Buffer.concat(chunks).toString("utf8"), 0);
        if (parsed) {
          clearTimeout(timer);
          resolve(parsed.value);
        }
      });
      socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`);
    });
  } finally {
    socket.destroy();
  }
}

/** A RESP reply: a string (status, bulk, number as text), null, or an array of replies. */
export type RespValue = string | null | RespValue[];

function parseResp(text: string, at: number): { value: RespValue; end: number } | undefined {
  const eol = text.indexOf("\r\n", at);
  if (eol < 0) return undefined;
  const kind = text[at];
  const head = text.slice(at + 1, eol);
  if (kind === "+" || kind === ":") return { value: head, end: eol + 2 };
  if (kind === "-") throw new Error(head);
  const n = Number(head);
  if (kind === "$") {
    if (n < 0) return { value: null, end: eol + 2 };
    // Bulk lengths are in bytes; the replies read here are ASCII.
    if (text.length < eol + 2 + n + 2) return undefined;
    return { value: text.slice(eol + 2, eol + 2 + n), end: eol + 2 + n + 2 };
  }
  if (kind === "*") {
    if (n < 0) return { value: null, end: eol + 2 };
    const items: RespValue[] = [];
    let end = eol + 2;
    for (let i = 0; i < n; i++) {
      const item = parseResp(text, end);
      if (!item) return undefined;
      items.push(item.value);
      end = item.end;
    }
    return { value: items, end };
  }
  throw new Error(`unexpected RESP reply ${JSON.stringify(text.slice(at, at + 20))}`);
}

/** A flat RESP array of field, value, field, value… as a record. */
function fields(reply: RespValue): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(reply)) return out;
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
  return out;
}

/** How long a sentinel set gets to see its replica and its peers. */
const SENTINEL_READY_TIMEOUT_MS = 60_000;

/**
 * Starts a primary, a replica of it and three sentinels (quorum two) on free loopback ports,
 * and resolves once every sentinel knows the replica and the two other sentinels, so a
 * failover can happen from then on.
 */
export async function startRedisSentinel(options: RedisSentinelOptions = {}): Promise<RedisSentinelSet> {
  const dir = await mkdtemp(join(options.dir ?? tmpdir(), "flotilla-redis-sentinel-"));
  const masterName = options.masterName ?? "flotilla";
  const ports = await freePorts(5);
  const [primaryPort, replicaPort, ...sentinelPorts] = ports as [number, number, number, number, number];
  const nodes: { name: string; server: RestartableServer; port: number }[] = [];
  const dataNode = async (name: string, port: number, replicaOf?: number) => {
    const nodeDir = join(dir, name);
    await mkdir(nodeDir);
    const args = [...dataArgs(port, nodeDir), ...(replicaOf ? ["--replicaof", "127.0.0.1", String(replicaOf)] : [])];
    const server = restartableServer({
      name: "redis-server",
      command: REDIS_SERVER,
      args,
      logPath: join(nodeDir, "redis.log"),
      port,
    });
    nodes.push({ name, server, port });
  };
  await dataNode("primary", primaryPort);
  await dataNode("replica", replicaPort, primaryPort);
  for (const [i, port] of sentinelPorts.entries()) {
    const name = `sentinel-${i + 1}`;
    const conf = join(dir, `${name}.conf`);
    await writeFile(
      conf,
      [
        "bind 127.0.0.1",
        `port ${port}`,
        `dir ${JSON.stringify(dir)}`,
        `sentinel monitor ${masterName} 127.0.0.1 ${primaryPort} 2`,
        `sentinel down-after-milliseconds ${masterName} ${options.downAfterMs ?? 1_000}`,
        `sentinel failover-timeout ${masterName} 5000`,
        `sentinel parallel-syncs ${masterName} 1`,
        "",
      ].join("\n"),
    );
    const server = restartableServer({
      name: "redis-sentinel",
      command: REDIS_SERVER,
      args: [conf, "--sentinel"],
      logPath: join(dir, `${name}.log`),
      port,
    });
    nodes.push({ name, server, port });
  }
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.server.stop()));
    releasePorts(ports);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const n of nodes) await n.server.start();
    await until(
      "every sentinel to see the replica and the other sentinels",
      async () => {
        for (const port of sentinelPorts) {
          const master = fields(await redisCommand(port, ["SENTINEL", "MASTER", masterName]).catch(() => null));
          if (master["num-slaves"] !== "1" || master["num-other-sentinels"] !== String(sentinelPorts.length - 1))
            return false;
        }
        const replication = await redisCommand(replicaPort, ["INFO", "replication"]).catch(() => "");
        return typeof replication === "string" && replication.includes("master_link_status:up");
      },
      SENTINEL_READY_TIMEOUT_MS,
      200,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  const asNode = (n: (typeof nodes)[number]): RedisNode => ({
    name: n.name,
    port: n.port,
    get pid() {
      return n.server.pid;
    },
    kill: () => n.server.kill(),
    start: () => n.server.start(),
    stop: () => n.server.stop(),
  });
  const data = nodes.slice(0, 2).map(asNode);
  const primaryPortNow = async () => {
    for (const port of sentinelPorts) {
      const reply = await redisCommand(port, ["SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName]).catch(() => null);
      if (Array.isArray(reply) && reply[1]) return Number(reply[1]);
    }
    throw new Error(`no sentinel of ${masterName} answered`);
  };
  return {
    masterName,
    sentinels: sentinelPorts.map((port) => ({ host: "127.0.0.1", port })),
    url: "redis://127.0.0.1:6379",
    data,
    sentinelNodes: nodes.slice(2).map(asNode),
    primaryPort: primaryPortNow,
    async primary() {
      const port = await primaryPortNow();
      const node = data.find((d) => d.port === port);
      if (!node) throw new Error(`the sentinels name 127.0.0.1:${port}, which is not a node of this set`);
      return node;
    },
    pids: () => nodes.map((n) => n.server.pid).filter((p): p is number => p !== undefined),
    stop,
  };
}
