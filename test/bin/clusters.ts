/**
 * Starts named local Kubernetes clusters for trying Flotilla by hand.
 *
 *   npx tsx test/bin/clusters.ts up a b c --dir /tmp/fleet [--detach]
 *   npx tsx test/bin/clusters.ts down --dir /tmp/fleet
 *
 * `up` writes `<dir>/<name>.kubeconfig` for each cluster and stays in the
 * foreground until SIGINT or SIGTERM, then stops them all. With `--detach` it
 * returns once the clusters are ready and leaves them running in the
 * background (output in `<dir>/clusters.log`). `down` stops the clusters that
 * `up` started in that directory.
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync } from "node:fs";
import { copyFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { type Cluster, isAlive, startClusters } from "@flotilla/devfleet";

const USAGE = `usage: clusters.ts up NAME... --dir DIR [--detach]
       clusters.ts down --dir DIR`;

/** Written by a running `up`; `down` signals this pid. */
const PID_FILE = "clusters.pid";
/** Written by `up` once every cluster is ready: what `--detach` waits for. */
const READY_FILE = "clusters.json";
const LOG_FILE = "clusters.log";
/** How long `down` waits for `up` to stop its clusters. */
const DOWN_TIMEOUT_MS = 60_000;

class UsageError extends Error {
  override name = "UsageError";
}

interface ReadyRecord {
  readonly pid: number;
  readonly clusters: readonly { name: string; server: string; kubeconfig: string }[];
}

function printReady(record: ReadyRecord): void {
  for (const c of record.clusters) console.log(`${c.name}\t${c.server}\t${c.kubeconfig}`);
  console.log(`export KUBECONFIG=${record.clusters.map((c) => c.kubeconfig).join(":")}`);
}

async function up(names: string[], dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const pidFile = join(dir, PID_FILE);
  if (existsSync(pidFile)) {
    const pid = Number(await readFile(pidFile, "utf8"));
    if (isAlive(pid)) throw new UsageError(`clusters are already up in ${dir} (pid ${pid}); run down first`);
  }
  await writeFile(pidFile, String(process.pid));

  let clusters: Cluster[] = [];
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.error(`${signal}: stopping ${clusters.length} clusters`);
    await Promise.all(clusters.map((c) => c.stop()));
    await Promise.all(
      [PID_FILE, READY_FILE, ...names.map((n) => `${n}.kubeconfig`)].map((f) => rm(join(dir, f), { force: true })),
    );
    process.exit(0);
  };
  // A signal during the start aborts it (startClusters then stops what it
  // had started); afterwards it stops the clusters.
  const aborter = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (clusters.length === 0) aborter.abort(new Error(`interrupted by ${signal}`));
    else void shutdown(signal);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const started = performance.now();
  try {
    clusters = await startClusters(names, { dir, signal: aborter.signal });
  } catch (error) {
    await rm(pidFile, { force: true });
    throw error;
  }

  const record: ReadyRecord = {
    pid: process.pid,
    clusters: await Promise.all(
      clusters.map(async (c) => {
        const kubeconfig = join(dir, `${c.name}.kubeconfig`);
        await copyFile(c.kubeconfigPath, kubeconfig);
        return { name: c.name, server: c.server, kubeconfig };
      }),
    ),
  };
  await writeFile(join(dir, READY_FILE), JSON.stringify(record, null, 2));
  console.log(`${clusters.length} clusters up in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  printReady(record);
  console.log("Ctrl-C or `clusters.ts down --dir ...` stops them");
  // Stay alive until a signal arrives.
  setInterval(() => {}, 1 << 30);
}

/** Re-runs `up` in the background and returns when its clusters are ready (or it failed). */
async function upDetached(names: string[], dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await rm(join(dir, READY_FILE), { force: true });
  const log = openSync(join(dir, LOG_FILE), "w");
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1] ?? "", "up", ...names, "--dir", dir], {
    detached: true,
    stdio: ["ignore", log, log],
  });
  closeSync(log);
  let exited = false;
  child.once("exit", () => {
    exited = true;
  });
  child.unref();
  while (!existsSync(join(dir, READY_FILE))) {
    if (exited) {
      throw new Error(`up failed; see ${join(dir, LOG_FILE)}:\n${await readFile(join(dir, LOG_FILE), "utf8")}`);
    }
    await sleep(250);
  }
  printReady(JSON.parse(await readFile(join(dir, READY_FILE), "utf8")) as ReadyRecord);
}

async function down(dir: string): Promise<void> {
  const pidFile = join(dir, PID_FILE);
  if (!existsSync(pidFile)) {
    console.log(`no clusters up in ${dir}`);
    return;
  }
  const pid = Number(await readFile(pidFile, "utf8"));
  if (!isAlive(pid)) {
    await rm(pidFile, { force: true });
    console.log(`clusters in ${dir} were not running (stale pid ${pid})`);
    return;
  }
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + DOWN_TIMEOUT_MS;
  while (isAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`pid ${pid} did not stop in ${DOWN_TIMEOUT_MS} ms; kill it by hand`);
    await sleep(200);
  }
  console.log(`clusters in ${dir} stopped`);
}

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { dir: { type: "string" }, detach: { type: "boolean", default: false } },
  });
  const [command, ...names] = positionals;
  if (values.dir === undefined) throw new UsageError("--dir is required");
  const dir = resolve(values.dir);
  switch (command) {
    case "up":
      if (names.length === 0) throw new UsageError("name at least one cluster");
      return values.detach ? upDetached(names, dir) : up(names, dir);
    case "down":
      return down(dir);
    default:
      throw new UsageError(`unknown command ${command ?? "(none)"}`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError) console.error(`${error.message}\n${USAGE}`);
  else console.error(error instanceof Error ? error.message : error);
  process.exit(error instanceof UsageError ? 2 : 1);
});
