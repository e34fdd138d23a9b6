import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";

/** A server process the harness started, with its output captured to a log file. */
export interface ServerProcess {
  readonly child: ChildProcess;
  readonly logPath: string;
  /** True until the process has exited. */
  alive(): boolean;
  /** The last lines of its log, for error messages. */
  tail(lines?: number): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** Every process started here, so a crashed test run still stops them on exit. */
const running = new Set<ServerProcess>();
process.once("exit", () => {
  for (const p of running) p.child.kill("SIGKILL");
});

/**
 * Starts `command` in its own process group with stdout and stderr appended to `logPath`.
 * The group lets `stop` reach any children the server forks.
 */
export function startProcess(command: string, args: string[], logPath: string, env?: NodeJS.ProcessEnv): ServerProcess {
  const log = createWriteStream(logPath, { flags: "a" });
  const child = spawn(command, args, { env: env ?? process.env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  // Both streams share one log: neither may end it, or the other writes after end.
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  let exited = false;
  child.once("exit", () => {
    exited = true;
  });
  // "close" comes after the output pipes are drained, so the log can be ended safely then.
  const done = new Promise<void>((resolve) => {
    child.once("close", () => {
      exited = true;
      resolve();
    });
    child.once("error", (err) => {
      log.write(`failed to start ${command}: ${err.message}\n`);
      exited = true;
      resolve();
    });
  });
  const handle: ServerProcess = {
    child,
    logPath,
    alive: () => !exited,
    tail(lines = 20) {
      try {
        return readFileSync(logPath, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
      } catch {
        return "";
      }
    },
    async stop(graceMs = 5_000) {
      if (!exited && child.pid !== undefined) {
        signalGroup(child.pid, "SIGTERM");
        const timer = setTimeout(() => signalGroup(child.pid as number, "SIGKILL"), graceMs);
        await done;
        clearTimeout(timer);
      }
      await done;
      running.delete(handle);
      await new Promise<void>((resolve) => log.end(resolve));
    },
  };
  running.add(handle);
  return handle;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}
