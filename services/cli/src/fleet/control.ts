/**
 * `flotilla up` and `flotilla down`: start the supervisor in the background and wait for the
 * fleet, or stop it and remove its directory.
 */
import { execFile, spawn } from "node:child_process";
import { existsSync, openSync, readFileSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { EXAMPLE, exampleManifests, isAlive } from "@flotilla/devfleet";
import { configPath, writeConfigFile } from "../config.js";
import { FleetError } from "./errors.js";
import { type FleetRecord, fleetPaths } from "./layout.js";

const run = promisify(execFile);

/** How long `up` waits for the whole fleet, clusters included, on a slow machine. */
const UP_TIMEOUT_MS = 600_000;
/** How long `down` waits for the supervisor to stop everything before killing what is left. */
const DOWN_TIMEOUT_MS = 90_000;
/** Marks a CLI config file `up` wrote, so it may overwrite it next time and no other. */
const CONFIG_MARKER = "# written by flotilla up";

export async function readRecord(dir: string): Promise<FleetRecord | undefined> {
  const paths = fleetPaths(dir);
  if (!existsSync(paths.record)) return undefined;
  const record = JSON.parse(await readFile(paths.record, "utf8")) as FleetRecord;
  return isAlive(record.pid) ? record : undefined;
}

/** Starts the fleet in the background, showing its progress, and resolves with its record. */
export async function up(dir: string, cliMain: string, out: (line: string) => void): Promise<FleetRecord> {
  const running = await readRecord(dir);
  if (running) {
    out(`a fleet is already up in ${dir}`);
    return running;
  }
  const paths = fleetPaths(dir);
  const stalePid = existsSync(paths.pid) ? Number(readFileSync(paths.pid, "utf8")) : 0;
  if (stalePid && isAlive(stalePid)) {
    throw new FleetError(`a fleet is starting or stopping in ${dir} (pid ${stalePid}); wait, or run 'flotilla down'`);
  }
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const log = openSync(paths.log, "a");
  const child = spawn(process.execPath, [cliMain, "up", "--foreground", "--dir", dir], {
    detached: true,
    stdio: ["ignore", log, log],
  });
  child.unref();

  let shown = 0;
  const showProgress = async () => {
    const text = await readFile(paths.log, "utf8").catch(() => "");
    const lines = text.split("\n");
    for (const line of lines.slice(shown, -1)) if (/^\d\d:\d\d:\d\d /.test(line)) out(line);
    shown = Math.max(shown, lines.length - 1);
  };
  const deadline = Date.now() + UP_TIMEOUT_MS;
  for (;;) {
    await showProgress();
    const record = await readRecord(dir);
    if (record) return record;
    if (existsSync(paths.failed)) {
      throw new FleetError(`the fleet failed to start: ${await readFile(paths.failed, "utf8")} (log: ${paths.log})`);
    }
    if (child.exitCode !== null || (child.pid !== undefined && !isAlive(child.pid))) {
      throw new FleetError(`the fleet supervisor exited while starting; see ${paths.log}`);
    }
    if (Date.now() > deadline) {
      throw new FleetError(
        `the fleet was not up within ${UP_TIMEOUT_MS / 1000} s; see ${paths.log}, then run 'flotilla down'`,
      );
    }
    await sleep(300);
  }
}

/** Stops the fleet in `dir` and removes the directory. Returns false when nothing was running. */
export async function down(dir: string, out: (line: string) => void): Promise<boolean> {
  const paths = fleetPaths(dir);
  const record = existsSync(paths.record)
    ? (JSON.parse(await readFile(paths.record, "utf8")) as FleetRecord)
    : undefined;
  const pid = existsSync(paths.pid) ? Number(await readFile(paths.pid, "utf8")) : record?.pid;
  if (!pid && !record) {
    await rm(dir, { recursive: true, force: true });
    return false;
  }
  if (pid && isAlive(pid)) {
    out(`stopping the fleet (supervisor pid ${pid}) ...`);
    process.kill(pid, "SIGTERM");
    const deadline = Date.now() + DOWN_TIMEOUT_MS;
    while (isAlive(pid) && Date.now() < deadline) await sleep(200);
    if (isAlive(pid)) process.kill(pid, "SIGKILL");
  }
  // Whatever the supervisor could not stop (it died, or timed out) is stopped here.
  for (const p of record?.pids ?? []) {
    for (const target of [-p, p]) {
      try {
        process.kill(target, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  }
  await rm(dir, { recursive: true, force: true });
  return true;
}

/** Path of the CLI config `up` writes so that `flotilla status` needs no flags: the one the CLI reads. */
export function cliConfigPath(): string {
  return configPath(process.env);
}

/**
 * Points the CLI at the fleet's hub, unless the user has a config file of their own.
 * Returns whether it wrote the file.
 */
export async function writeCliConfig(record: FleetRecord): Promise<boolean> {
  const path = cliConfigPath();
  if (existsSync(path) && !(await readFile(path, "utf8")).startsWith(CONFIG_MARKER)) return false;
  writeConfigFile(path, `${CONFIG_MARKER}; 'flotilla down' leaves it\nhub: ${record.hubUrl}\ntoken: ${record.token}\n`);
  return true;
}

/**
 * Pushes a new version of the example app to the branch that feeds `env`, as a developer
 * would, and returns the commit SHA.
 */
export async function commitExample(record: FleetRecord, env: "dev" | "prod", version: string): Promise<string> {
  const branch = env === "prod" ? "main" : "develop";
  const cwd = record.exampleWorkTree;
  const git = (...args: string[]) =>
    run("git", args, {
      cwd,
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: "Flotilla Demo",
        GIT_AUTHOR_EMAIL: "demo@flotilla.invalid",
        GIT_COMMITTER_NAME: "Flotilla Demo",
        GIT_COMMITTER_EMAIL: "demo@flotilla.invalid",
      },
    });
  await git("checkout", "--quiet", branch);
  for (const [path, content] of Object.entries(exampleManifests(version))) {
    await mkdir(dirname(join(cwd, path)), { recursive: true });
    await writeFile(join(cwd, path), content);
  }
  await git("add", "--all");
  await git("commit", "--quiet", "-m", `${EXAMPLE.app}: release ${version}`);
  await git("push", "--quiet", "origin", `${branch}:${branch}`);
  return (await git("rev-parse", "HEAD")).stdout.trim();
}
