import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitForPort } from "./ports.js";
import { type ManagedProcess, startProcess } from "./process.js";

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
  let proc: ManagedProcess | undefined;
  const start = async () => {
    proc = await startProcess({ name: "redis-server", command: REDIS_SERVER, args, logPath: join(dir, "redis.log") });
    const p = proc;
    try {
      await waitForPort(port, 15_000, () => p.alive());
    } catch (err) {
      await p.stop();
      throw new Error(`redis-server did not start: ${(err as Error).message}\n${await p.tail(20)}`);
    }
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get pid() {
      return proc?.alive() ? proc.pid : undefined;
    },
    async restart() {
      await proc?.stop();
      await start();
    },
    async stop() {
      await proc?.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
