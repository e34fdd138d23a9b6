/**
 * A reader's shell, block after block: each block runs in its own `bash` with `set -euo
 * pipefail` (so any failing command fails the block), starting where the previous block left
 * off, with the variables exported so far and in the directory it ended in. Background blocks
 * (servers) run in their own process groups with their output in a log, and can be restarted
 * with the variables of the moment, as a service manager would.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type ManagedProcess, startProcess } from "@flotilla/devfleet";

/** What a block did. */
export interface BlockResult {
  code: number | null;
  /** stdout and stderr, interleaved. */
  output: string;
}

/** A block that failed, with what it printed. */
export class BlockFailed extends Error {
  override name = "BlockFailed";
  constructor(
    readonly result: BlockResult,
    what: string,
  ) {
    super(`${what} (exit code ${result.code}); it printed:\n${result.output.split("\n").slice(-40).join("\n")}`);
  }
}

const BASH = "/bin/bash";

/** Variables bash sets itself, which must not be carried from one block to the next. */
const BASH_OWN = new Set(["OLDPWD", "PWD", "SHLVL", "_"]);

export class Session {
  readonly #dir: string;
  readonly #services = new Map<string, { code: string; process: ManagedProcess; starts: number }>();
  #blocks = 0;

  /**
   * @param dir where the state between blocks, the scripts and the logs are kept
   * @param env the environment of the first block (what the reader's shell has at the start)
   * @param cwd the directory the first block starts in
   */
  constructor(dir: string, env: Readonly<Record<string, string>>, cwd: string) {
    this.#dir = dir;
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      this.#state("env"),
      Object.entries(env)
        .map(([k, v]) => `export ${k}=${quote(v)}\n`)
        .join(""),
    );
    writeFileSync(this.#state("cwd"), cwd);
  }

  #state(name: string): string {
    return join(this.#dir, `state.${name}`);
  }

  /** A script that restores the state, runs `code`, and (unless `save` is false) saves the state again. */
  #script(code: string, save: boolean): string {
    const n = ++this.#blocks;
    const path = join(this.#dir, `block-${String(n).padStart(3, "0")}.sh`);
    const saveState = save
      ? [
          `export -p | grep -Ev '^declare -x (${[...BASH_OWN].join("|")})(=|$)' > ${quote(this.#state("env.next"))}`,
          `pwd > ${quote(this.#state("cwd.next"))}`,
        ]
      : [];
    writeFileSync(
      path,
      [
        "set -euo pipefail",
        `source ${quote(this.#state("env"))}`,
        `cd "$(cat ${quote(this.#state("cwd"))})"`,
        // In this shell, not a subshell: what the block exports and where it cds carry on.
        code,
        ...saveState,
        "",
      ].join("\n"),
    );
    return path;
  }

  /** Runs a block to its end; resolves its result whatever its exit code. */
  run(code: string, timeoutMs: number): Promise<BlockResult> {
    const script = this.#script(code, true);
    return new Promise((resolve) => {
      const child = spawn(BASH, [script], { stdio: ["ignore", "pipe", "pipe"], detached: true, env: {} });
      let output = "";
      const collect = (d: Buffer) => {
        output += d.toString();
      };
      child.stdout.on("data", collect);
      child.stderr.on("data", collect);
      const timer = setTimeout(() => {
        output += `\n[test: no end after ${timeoutMs / 1000} s; killed]`;
        try {
          process.kill(-(child.pid ?? 0), "SIGKILL");
        } catch {}
      }, timeoutMs);
      child.on("close", (code) => {
        clearTimeout(timer);
        if (code === 0) {
          renameSync(this.#state("env.next"), this.#state("env"));
          renameSync(this.#state("cwd.next"), this.#state("cwd"));
        }
        resolve({ code, output });
      });
    });
  }

  /** Runs a block; throws BlockFailed unless it exits 0. */
  async must(code: string, timeoutMs: number, what: string): Promise<string> {
    const result = await this.run(code, timeoutMs);
    if (result.code !== 0) throw new BlockFailed(result, what);
    return result.output;
  }

  /**
   * Runs a check block until it succeeds; throws BlockFailed with its last output when it has not
   * within `timeoutMs`.
   */
  async retry(code: string, timeoutMs: number, what: string, pollMs = 1_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const result = await this.run(code, Math.max(deadline - Date.now(), 5_000));
      if (result.code === 0) return result.output;
      // A check cannot pass once a service it waits for has died: say so now, not at the deadline.
      await this.checkServices();
      if (Date.now() > deadline) throw new BlockFailed(result, `${what}: still failing after ${timeoutMs / 1000} s`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  /** Starts a background block as service `name`, with the state of the moment. */
  async start(name: string, code: string): Promise<ManagedProcess> {
    const previous = this.#services.get(name);
    const starts = (previous?.starts ?? 0) + 1;
    const process = await startProcess({
      name,
      command: BASH,
      args: [this.#script(code, false)],
      logPath: join(this.#dir, `${name}.log`),
      env: {},
    });
    this.#services.set(name, { code, process, starts });
    return process;
  }

  /** Stops service `name` and starts its block again, as `systemctl restart` would. */
  async restart(name: string): Promise<ManagedProcess> {
    const service = this.#services.get(name);
    if (!service) throw new Error(`no service ${name} was started`);
    await stopGroup(service.process);
    return this.start(name, service.code);
  }

  /** Throws if a service has exited on its own, with the end of its log. */
  async checkServices(): Promise<void> {
    for (const [name, s] of this.#services) {
      if (!s.process.alive()) {
        throw new Error(
          `service ${name} exited (${JSON.stringify(s.process.exitStatus)}); the end of its log:\n${await s.process.tail(40)}`,
        );
      }
    }
  }

  /** The end of every service's log, for a failing step to show. */
  async serviceLogs(lines = 30): Promise<string> {
    const parts: string[] = [];
    for (const [name, s] of this.#services) parts.push(`--- ${name} ---\n${await s.process.tail(lines)}`);
    return parts.join("\n");
  }

  /** The value of an exported variable, as the last block left it. */
  variable(name: string): string | undefined {
    const file = this.#state("env");
    if (!existsSync(file)) return undefined;
    const line = readFileSync(file, "utf8")
      .split("\n")
      .find((l) => l.startsWith(`declare -x ${name}=`) || l.startsWith(`export ${name}=`));
    if (!line) return undefined;
    const raw = line.slice(line.indexOf("=") + 1);
    // export -p writes "value" with \" \\ \$ \` escaped.
    return raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(["\\$`])/g, "$1") : raw.replace(/^'|'$/g, "");
  }

  /** Stops every service, last started first. */
  async stop(): Promise<void> {
    for (const s of [...this.#services.values()].reverse()) await stopGroup(s.process);
  }
}

/** How long a service's processes get to exit after SIGTERM, as systemd's default stop timeout is shorter. */
const STOP_GRACE_MS = 15_000;

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops a service as a service manager does: SIGTERM to its whole process group, then waits for
 * every process of it (the shell running the block exits at once, the server it started takes
 * its time and must have let go of its ports), SIGKILL after a grace period.
 */
async function stopGroup(proc: ManagedProcess): Promise<void> {
  await proc.stop(STOP_GRACE_MS);
  const deadline = Date.now() + STOP_GRACE_MS;
  while (groupAlive(proc.pid)) {
    if (Date.now() > deadline) {
      try {
        process.kill(-proc.pid, "SIGKILL");
      } catch {}
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A value single-quoted for bash. */
export function quote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
