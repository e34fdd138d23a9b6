import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";
import { restartableServer } from "./process.js";

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
  stop(): Promise<void>;
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
  const args = [
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
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
