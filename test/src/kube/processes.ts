import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { open, readFile } from "node:fs/promises";
import type { Component } from "./errors.js";

/** How long a component gets to exit after SIGTERM before it is sent SIGKILL. */
export const DEFAULT_STOP_GRACE_MS = 5_000;

/** How a process ended. */
export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A child process that leads its own process group, with its output in a log file. */
export interface ManagedProcess {
  readonly component: Component;
  readonly pid: number;
  readonly logPath: string;
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  /** Set once the process has exited. */
  readonly exitStatus: ExitStatus | undefined;
  /**
   * SIGTERM to the whole process group, then SIGKILL after `graceMs`; resolves
   * once the process has exited. Safe to call more than once.
   */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Every process started here and not yet exited. If the test process exits
 * without stopping its clusters (a crash, process.exit in a reporter), the
 * exit hook below kills them so they do not outlive the run.
 */
const running = new Map<number, ManagedProcess>();
let exitHookInstalled = false;

function killGroup(pid: number, signal: NodeJS.Signals): void {
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
    for (const pid of running.keys()) killGroup(pid, "SIGKILL");
  });
}

/**
 * Starts `command` in a new process group (so that stopping it also stops
 * anything it forks) with stdout and stderr appended to `logPath`. Resolves
 * once the process is running; rejects if it could not be started at all.
 */
export async function startProcess(options: {
  readonly component: Component;
  readonly command: string;
  readonly args: readonly string[];
  readonly logPath: string;
  readonly cwd: string;
}): Promise<ManagedProcess> {
  installExitHook();
  const log = openSync(options.logPath, "a");
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(options.command, options.args, {
      cwd: options.cwd,
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

  const managed: ManagedProcess = {
    component: options.component,
    pid,
    logPath: options.logPath,
    exited,
    get exitStatus() {
      return exitStatus;
    },
    async stop(graceMs = DEFAULT_STOP_GRACE_MS) {
      if (exitStatus !== undefined) return;
      killGroup(pid, "SIGTERM");
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), graceMs);
      });
      const outcome = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (outcome === "timeout") {
        killGroup(pid, "SIGKILL");
        await exited;
      }
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
