/**
 * The process that owns a local fleet: it starts the example fleet (`exampleFleet` of
 * @flotilla/devfleet), writes `fleet.json`, and on SIGTERM or SIGINT stops everything it
 * started, in reverse order — or, while still starting, aborts the start, which does the same.
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { EXAMPLE, exampleFleet, type Fleet, startFleet } from "@flotilla/devfleet";
import { type FleetRecord, fleetPaths } from "./layout.js";

/** Progress lines go to stdout, which `up` shows while it waits. */
function progress(message: string): void {
  console.log(`${new Date().toISOString().slice(11, 19)} ${message}`);
}

function record(fleet: Fleet): FleetRecord {
  const repo = fleet.repo(EXAMPLE.repo);
  return {
    pid: process.pid,
    hubUrl: fleet.hub.url,
    token: fleet.token,
    natsUrl: fleet.nats.url,
    ...(fleet.nats.tls ? { natsCaFile: fleet.nats.tls.caFile } : {}),
    redisUrl: fleet.redis.url,
    gitUrl: repo.url,
    exampleWorkTree: repo.workTree,
    clusters: fleet.clusters.map((c) => ({
      name: c.name,
      server: c.kube.server,
      kubeconfig: c.kube.kubeconfigPath,
      labels: { ...c.labels },
    })),
    pids: fleet.pids(),
  };
}

/**
 * Runs the fleet in the foreground until SIGTERM or SIGINT. Writes `fleet.json` when ready,
 * or `failed` with the reason when the start fails; either way stops what it started on exit.
 */
export async function superviseFleet(dir: string): Promise<void> {
  const paths = fleetPaths(dir);
  await mkdir(dir, { recursive: true });
  await writeFile(paths.pid, String(process.pid));
  const aborter = new AbortController();
  let fleet: Fleet | undefined;
  let stopping: Promise<void> | undefined;
  const stopAll = () => {
    stopping ??= (async () => {
      progress("fleet: stopping");
      await fleet?.stop().catch((err: unknown) => progress(`fleet: stop failed: ${(err as Error).message}`));
      await rm(paths.record, { force: true });
      await rm(paths.pid, { force: true });
      progress("fleet: stopped");
    })();
    return stopping;
  };
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      // While starting, the start itself stops what it had started once it sees the abort.
      if (!fleet) aborter.abort(new Error(`interrupted by ${signal}`));
      else void stopAll().then(() => process.exit(0));
    });
  }
  try {
    fleet = await startFleet(exampleFleet({ dir, progress, signal: aborter.signal }));
    await writeFile(paths.record, JSON.stringify(record(fleet), null, 2), { mode: 0o600 });
  } catch (err) {
    if (aborter.signal.aborted) {
      await stopAll();
      process.exit(0);
    }
    await writeFile(paths.failed, (err as Error).message);
    progress(`fleet: failed to start: ${(err as Error).message}`);
    await stopAll();
    process.exit(1);
  }
}
