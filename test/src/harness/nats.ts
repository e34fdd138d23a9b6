import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { binPath } from "../bin.js";
import { freePort, waitForPort } from "./ports.js";
import { type ServerProcess, startProcess } from "./process.js";

export interface NatsOptions {
  /**
   * Extra nats-server.conf text appended after the base config, e.g. an operator-mode
   * block. The base config sets only the listener, JetStream and its store directory.
   */
  config?: string;
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
      options.config ?? "",
      "",
    ].join("\n"),
  );
  let proc: ServerProcess | undefined;
  const start = async () => {
    proc = startProcess(binPath("nats-server"), ["-c", conf], join(dir, "nats.log"));
    const p = proc;
    try {
      await waitForPort(port, 15_000, () => p.alive());
    } catch (err) {
      await p.stop();
      throw new Error(`nats-server did not start: ${(err as Error).message}\n${p.tail()}`);
    }
  };
  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    dir,
    get pid() {
      return proc?.alive() ? proc.child.pid : undefined;
    },
    start,
    async restart() {
      await proc?.stop();
      await start();
    },
    async kill() {
      if (proc?.child.pid !== undefined) process.kill(proc.child.pid, "SIGKILL");
      await proc?.stop();
    },
    async stop() {
      await proc?.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
