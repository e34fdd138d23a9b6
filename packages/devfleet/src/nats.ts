import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { natsServerConfig, type OperatorSetup } from "@flotilla/hub";
import { binPath } from "./fixtures.js";
import { freePort } from "./ports.js";
import { restartableServer } from "./process.js";

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
