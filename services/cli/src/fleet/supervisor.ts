/**
 * The process that owns a local fleet: it starts NATS in operator mode, Redis, a Git server
 * with the example repo, three Kubernetes clusters, the hub, and an agent per cluster; writes
 * `fleet.json`; and on SIGTERM or SIGINT stops everything it started, in reverse order.
 */
import { randomBytes } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createOperatorSetup, natsServerConfig } from "@flotilla/hub";
import {
  binPath,
  type Cluster,
  freePort,
  type ServerProcess,
  startClusters,
  startGitServer,
  startNats,
  startProcess,
  startRedis,
} from "@flotilla/test";
import { EXAMPLE, exampleManifests, FLEET_CLUSTERS, fleetDocuments } from "./example.js";
import { entryPoint, FleetHub } from "./hub-client.js";
import { type FleetRecord, fleetPaths } from "./layout.js";

/** How long the fleet waits for all agents to report their cluster Ready. */
const READY_TIMEOUT_MS = 180_000;

type Stop = () => Promise<unknown>;

/** Progress lines go to stdout, which `up` shows while it waits. */
function progress(message: string): void {
  console.log(`${new Date().toISOString().slice(11, 19)} ${message}`);
}

async function writeSecret(path: string, content: string): Promise<string> {
  await writeFile(path, content, { mode: 0o600 });
  return path;
}

/** Starts the fleet in `dir` and resolves with its record once every cluster is Ready. */
export async function startFleet(dir: string, stops: Stop[]): Promise<FleetRecord> {
  const paths = fleetPaths(dir);
  for (const d of [paths.clusters, paths.agents, paths.hub]) await mkdir(d, { recursive: true });
  const pids: number[] = [];
  const track = (p: ServerProcess) => {
    if (p.child.pid !== undefined) pids.push(p.child.pid);
    stops.push(() => p.stop());
    return p;
  };

  progress("nats: creating the operator, system and FLOTILLA accounts");
  const setup = await createOperatorSetup();
  const setupFile = await writeSecret(join(paths.hub, "operator.json"), JSON.stringify(setup));
  const resolverDir = join(dir, "nats-resolver");
  await mkdir(resolverDir, { recursive: true });
  const nats = await startNats({ dir, syncAlways: true, config: natsServerConfig(setup, { resolverDir }) });
  stops.push(() => nats.stop());
  if (nats.pid !== undefined) pids.push(nats.pid);
  progress(`nats: ${nats.url} (operator mode, JetStream)`);

  const redis = await startRedis({ dir });
  stops.push(() => redis.stop());
  if (redis.pid !== undefined) pids.push(redis.pid);
  progress(`redis: ${redis.url}`);

  const git = await startGitServer({ dir });
  stops.push(() => git.stop());
  const repo = await git.createRepo(EXAMPLE.repo, {
    main: exampleManifests("v1"),
    develop: exampleManifests("v1"),
  });
  progress(`git: ${repo.url} (branches main, develop)`);

  progress(`kubernetes: starting ${FLEET_CLUSTERS.length} clusters (etcd, apiserver, controllers, kwok)`);
  const clusters: Cluster[] = await startClusters(
    FLEET_CLUSTERS.map((c) => c.name),
    { dir: paths.clusters },
  );
  for (const c of clusters) {
    stops.push(() => c.stop());
    pids.push(...c.processes.map((p) => p.pid));
  }
  for (const c of clusters) progress(`kubernetes: ${c.name} at ${c.server}`);

  const token = randomBytes(24).toString("base64url");
  const hubPort = await freePort();
  const hubUrl = `http://127.0.0.1:${hubPort}`;
  const hub = track(
    startProcess(process.execPath, [entryPoint("@flotilla/hub")], join(paths.hub, "hub.log"), {
      ...process.env,
      FLOTILLA_HUB_LISTEN: `127.0.0.1:${hubPort}`,
      FLOTILLA_REDIS_URL: redis.url,
      FLOTILLA_NATS_URL: nats.url,
      FLOTILLA_NATS_CREDS: await writeSecret(join(paths.hub, "hub.creds"), setup.hubUser.creds),
      FLOTILLA_HUB_OPERATOR_SETUP_FILE: setupFile,
      FLOTILLA_HUB_ADMIN_TOKEN_FILE: await writeSecret(join(paths.hub, "token"), token),
      FLOTILLA_HUB_ENCRYPTION_KEY_FILE: await writeSecret(
        join(paths.hub, "encryption.key"),
        randomBytes(32).toString("base64"),
      ),
      FLOTILLA_HUB_POLL_INTERVAL: "3s",
      FLOTILLA_HEARTBEAT_INTERVAL: "2s",
      FLOTILLA_LOG_LEVEL: "info",
    }),
  );
  const api = new FleetHub(hubUrl, token);
  await api.waitReady(
    60_000,
    () => hub.alive(),
    () => hub.tail(),
  );
  progress(`hub: ${hubUrl}`);

  const gitCredentials = { username: git.username, password: git.password };
  await api.apply(fleetDocuments(repo.url, gitCredentials));
  progress(
    "hub: applied team demo, repo guestbook (dev → develop, prod → main), app guestbook, environments dev and prod",
  );

  const gitCredsFile = await writeSecret(
    join(paths.agents, "git-credentials.json"),
    JSON.stringify([{ urlPrefix: git.baseUrl, ...gitCredentials }]),
  );
  for (const [i, spec] of FLEET_CLUSTERS.entries()) {
    const cluster = clusters[i] as Cluster;
    const bundle = await api.registerCluster(spec.name, { ...spec.labels });
    const agentDir = join(paths.agents, spec.name);
    await mkdir(agentDir, { recursive: true });
    const bootstrap = await writeSecret(join(agentDir, "bootstrap.json"), JSON.stringify(bundle));
    track(
      startProcess(process.execPath, [entryPoint("@flotilla/agent")], join(agentDir, "agent.log"), {
        ...process.env,
        FLOTILLA_BOOTSTRAP: bootstrap,
        KUBECONFIG: cluster.kubeconfigPath,
        FLOTILLA_CACHE_DIR: join(agentDir, "cache"),
        FLOTILLA_GIT_CREDENTIALS: gitCredsFile,
        FLOTILLA_HELM_BIN: binPath("helm"),
        FLOTILLA_KUSTOMIZE_BIN: binPath("kustomize"),
        FLOTILLA_METRICS_PORT: "0",
        FLOTILLA_HEARTBEAT_INTERVAL: "2s",
        FLOTILLA_DRIFT_INTERVAL: "30s",
        FLOTILLA_LOG_LEVEL: "info",
      }),
    );
    progress(
      `agent: ${spec.name} registered (${Object.entries(spec.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(",")})`,
    );
  }

  await api.waitClustersReady(
    FLEET_CLUSTERS.map((c) => c.name),
    READY_TIMEOUT_MS,
  );
  progress("fleet: every cluster is Ready");

  return {
    pid: process.pid,
    hubUrl,
    token,
    natsUrl: nats.url,
    redisUrl: redis.url,
    gitUrl: repo.url,
    exampleWorkTree: repo.workTree,
    clusters: clusters.map((c, i) => ({
      name: c.name,
      server: c.server,
      kubeconfig: c.kubeconfigPath,
      labels: { ...(FLEET_CLUSTERS[i]?.labels ?? {}) },
    })),
    pids,
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
  const stops: Stop[] = [];
  let stopping: Promise<void> | undefined;
  const stopAll = () => {
    stopping ??= (async () => {
      progress(`fleet: stopping ${stops.length} parts`);
      for (const stop of stops.reverse()) {
        await stop().catch((err: unknown) => progress(`fleet: stop failed: ${(err as Error).message}`));
      }
      await rm(paths.record, { force: true });
      await rm(paths.pid, { force: true });
      progress("fleet: stopped");
    })();
    return stopping;
  };
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      void stopAll().then(() => process.exit(0));
    });
  }
  try {
    const record = await startFleet(dir, stops);
    await writeSecret(paths.record, JSON.stringify(record, null, 2));
  } catch (err) {
    await writeFile(paths.failed, (err as Error).message);
    progress(`fleet: failed to start: ${(err as Error).message}`);
    await stopAll();
    process.exit(1);
  }
}
