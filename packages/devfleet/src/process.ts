/**
 * The one process manager of the harness: every server it starts (nats-server, redis-server,
 * the Kubernetes components, the hub, the agents) runs as the leader of its own process group,
 * with stdout and stderr written straight to a log file, and is stopped by signalling the group.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { waitForPort } from "./ports.js";

/** How long a process gets to exit after SIGTERM before it is sent SIGKILL. */
export const DEFAULT_STOP_GRACE_MS = 5_000;

/** How a process ended. */
export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Options of {@link startProcess}. */
export interface ProcessOptions<N extends string = string> {
  /** What the process is, for logs and errors (`nats-server`, `kube-apiserver`, `hub`). */
  readonly name: N;
  readonly command: string;
  readonly args?: readonly string[];
  /** Its stdout and stderr are appended here. */
  readonly logPath: string;
  /** @default the current directory */
  readonly cwd?: string;
  /** The whole environment of the process. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

/** A child process that leads its own process group, with its output in a log file. */
export interface ManagedProcess<N extends string = string> {
  readonly name: N;
  readonly pid: number;
  readonly logPath: string;
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  /** Set once the process has exited. */
  readonly exitStatus: ExitStatus | undefined;
  /** True until the process has exited. */
  alive(): boolean;
  /** Sends `signal` to the whole process group (SIGSTOP and SIGCONT freeze and thaw it). */
  signal(signal: NodeJS.Signals): void;
  /** The last `lines` lines of its log, or "" if there is none. */
  tail(lines?: number): Promise<string>;
  /** Its whole log. */
  log(): Promise<string>;
  /**
   * SIGTERM to the whole process group (after SIGCONT, so a frozen process can act on it), then
   * SIGKILL after `graceMs`; resolves once the process has exited. Safe to call more than once.
   */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL to the whole process group, for crash tests; resolves once the process has exited. */
  kill(): Promise<void>;
}

/**
 * Every process started here and not yet exited. If this process exits without stopping them
 * (a crash, process.exit in a test reporter), the exit hook below kills them so they do not
 * outlive it.
 */
const running = new Map<number, ManagedProcess>();
let exitHookInstalled = false;

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const pid of running.keys()) signalGroup(pid, "SIGKILL");
  });
}

/**
 * Starts a command in a new process group (so that stopping it also stops anything it forks)
 * with stdout and stderr appended to `logPath`. The output goes to the file without passing
 * through this process, so it is complete even when this process is busy or gone. Resolves
 * once the process is running; rejects if it could not be started at all.
 */
export async function startProcess<N extends string>(options: ProcessOptions<N>): Promise<ManagedProcess<N>> {
  installExitHook();
  const log = openSync(options.logPath, "a");
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(options.command, options.args ?? [], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: ["ignore", log, log],
    });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });
  } finally {
    closeSync(log);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${options.command} started without a pid`);

  let exitStatus: ExitStatus | undefined;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once("exit", (code, signal) => {
      exitStatus = { code, signal };
      running.delete(pid);
      resolve(exitStatus);
    });
  });

  const managed: ManagedProcess<N> = {
    name: options.name,
    pid,
    logPath: options.logPath,
    exited,
    get exitStatus() {
      return exitStatus;
    },
    alive: () => exitStatus === undefined,
    signal(signal) {
      if (exitStatus === undefined) signalGroup(pid, signal);
    },
    tail: (lines) => logTail(options.logPath, lines),
    log: () => readFile(options.logPath, "utf8").catch(() => ""),
    async stop(graceMs = DEFAULT_STOP_GRACE_MS) {
      if (exitStatus !== undefined) return;
      signalGroup(pid, "SIGCONT");
      signalGroup(pid, "SIGTERM");
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), graceMs);
      });
      const outcome = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (outcome === "timeout") {
        signalGroup(pid, "SIGKILL");
        await exited;
      }
    },
    async kill() {
      if (exitStatus === undefined) signalGroup(pid, "SIGKILL");
      await exited;
    },
  };
  running.set(pid, managed);
  return managed;
}

/** The last `lines` lines of a log file, or "" if it cannot be read. */
export async function logTail(path: string, lines = 40): Promise<string> {
  const maxBytes = 64 * 1024;
  try {
    const file = await open(path, "r");
    try {
      const { size } = await file.stat();
      const length = Math.min(size, maxBytes);
      const buffer = Buffer.alloc(length);
      await file.read(buffer, 0, length, size - length);
      return buffer.toString("utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } finally {
      await file.close();
    }
  } catch {
    return "";
  }
}

/** Resident set size of a live process in bytes (from /proc), or 0 if it is gone. */
export async function residentSetBytes(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    return match?.[1] === undefined ? 0 : Number(match[1]) * 1024;
  } catch {
    return 0;
  }
}

/** Whether a process with this pid exists (signal 0 probes without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** How long a server started with {@link restartableServer} gets to accept connections. */
const SERVER_START_TIMEOUT_MS = 15_000;

/** A server process on a fixed loopback port that can be stopped and started again on it. */
export interface RestartableServer {
  /** The process id while it runs. */
  readonly pid: number | undefined;
  /** Starts it and resolves once it accepts connections on its port. */
  start(): Promise<void>;
  /** SIGTERM, then SIGKILL after a grace period. */
  stop(): Promise<void>;
  /** SIGKILL, for crash tests. */
  kill(): Promise<void>;
}

/**
 * A server (nats-server, redis-server) that listens on `port`: each `start()` runs the command
 * again, with the same arguments and log, and waits for the port; a server that exits or does
 * not listen in time is stopped and the start throws with the end of its log.
 */
export function restartableServer(options: ProcessOptions & { readonly port: number }): RestartableServer {
  let proc: ManagedProcess | undefined;
  return {
    get pid() {
      return proc?.alive() ? proc.pid : undefined;
    },
    async start() {
      const p = await startProcess(options);
      proc = p;
      try {
        await waitForPort(options.port, SERVER_START_TIMEOUT_MS, () => p.alive());
      } catch (err) {
        await p.stop();
        throw new Error(`${options.name} did not start: ${(err as Error).message}\n${await p.tail(20)}`);
      }
    },
    stop: async () => proc?.stop(),
    kill: async () => proc?.kill(),
  };
}
