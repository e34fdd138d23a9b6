/**
 * Wires the agent together: Kubernetes client, Git cache, inventories, one controller per
 * app, NATS transport, heartbeats, RPC and metrics.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { dirname, join } from "node:path";
import { guardedGitHttp, parseAllowList } from "@flotilla/netguard";
import {
  AGENT_REQUEST,
  AGENT_RESPONSE,
  type AgentResponseInit,
  HUB_KEY_SET,
  hubKeySetKey,
  KeyRing,
  open,
  parseStateKey,
  seal,
  signingKeyFromPem,
} from "@flotilla/proto";
import { AppController, type ControllerDeps } from "./app-controller.js";
import { Applier } from "./applier.js";
import { type AgentConfig, MAX_RETRY_BACKOFF_MS } from "./config.js";
import { newerCreds } from "./creds.js";
import { serveEndpoints } from "./endpoints.js";
import { ConfigError, ExecPluginError } from "./errors.js";
import { FREEZE_LABEL, type FreezeRequest, freezeRequest } from "./freeze.js";
import { loadGitCredentials } from "./git-credentials.js";
import { GitCache } from "./git-source.js";
import { ConfigMapHubKeysStore, HubTrust, SAVED_HUB_KEYS_FILE } from "./hub-trust.js";
import { emptyInventory } from "./inventory.js";
import { ConfigMapInventoryStore } from "./inventory-store.js";
import { KubeClient } from "./kube-client.js";
import { loadKubeTarget } from "./kubeconfig.js";
import { createLogger, type Logger } from "./logger.js";
import { AgentMetrics } from "./metrics.js";
import { toProtoRef } from "./objects.js";
import { Observer } from "./observe.js";
import { assessReadiness, type Readiness, type ReadinessSignals } from "./readiness.js";
import { type DesiredEntry, Transport } from "./transport.js";

/** Version reported in heartbeats and reports. */
export const AGENT_VERSION = "0.1.0";

/** A running agent. */
export interface RunningAgent {
  readonly metrics: AgentMetrics;
  /** Port of the metrics, `/healthz` and `/readyz` endpoints, when served. */
  readonly metricsPort: number | undefined;
  /** What `/readyz` answers now. */
  readiness(): Readiness;
  /** Stops timers, the NATS connection and the metrics server; leaves the cluster as it is. */
  stop(): Promise<void>;
}

/** File name of the renewed NATS creds inside the cache directory. */
export const SAVED_CREDS_FILE = "nats.creds";

function readSaved(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

function saveCreds(path: string, creds: string, log: Logger): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(`${path}.tmp`, creds, { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
  } catch (err) {
    log.warn(
      { err: (err as Error).message, path },
      "could not save the renewed NATS creds; a restart uses the bundle's",
    );
  }
}

/** Starts the agent with validated settings (see `makeConfig` / `loadConfig`). */
export async function startAgent(config: AgentConfig, logger?: Logger): Promise<RunningAgent> {
  const log = logger ?? createLogger(config.logLevel, config.cluster);
  const hubKeys = new KeyRing();
  let agentKey: ReturnType<typeof signingKeyFromPem>;
  try {
    agentKey = signingKeyFromPem(config.agentSigningKey);
  } catch (err) {
    throw new ConfigError(`bad key: ${(err as Error).message}`, { cause: err });
  }
  const kube = new KubeClient(loadKubeTarget(config.kubeconfig, config.kubeContext));
  let hubTrust: HubTrust;
  try {
    // The bundle's hub key, or the key set learnt from the hub since: saved in a ConfigMap in the
    // agent's namespace (it outlives the pod), with a copy beside the Git cache.
    hubTrust = await HubTrust.open(
      hubKeys,
      join(config.cacheDir, SAVED_HUB_KEYS_FILE),
      config.hubPublicKey,
      log,
      new ConfigMapHubKeysStore(kube, config.namespace),
    );
  } catch (err) {
    // The agent's first call to the API server: a failing credential plugin is its own error.
    if (err instanceof ExecPluginError) throw err;
    throw new ConfigError(
      `cannot load the held hub key set from namespace ${config.namespace}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const metrics = new AgentMetrics(AGENT_VERSION);
  // Renewed creds are kept beside the Git cache, so a restarted agent goes on with them.
  const savedCredsPath = join(config.cacheDir, SAVED_CREDS_FILE);
  const transport = new Transport({
    cluster: config.cluster,
    natsUrl: config.natsUrl,
    natsCreds: config.natsCreds ? newerCreds(config.natsCreds, readSaved(savedCredsPath)) : "",
    tls: config,
    agentKey,
    hubKeys,
    onCredsRenewed: (creds) => saveCreds(savedCredsPath, creds, log),
    onHubKeys: (set, signerKeyId) => hubTrust.offer(set, signerKeyId),
    registration: { hubUrl: config.hubUrl, token: config.registrationToken },
    log,
    metrics,
    retryBackoffMs: config.retryBackoffMs,
    maxRetryBackoffMs: MAX_RETRY_BACKOFF_MS,
  });
  const deps: ControllerDeps = {
    cluster: config.cluster,
    agentVersion: AGENT_VERSION,
    agentNamespace: config.namespace,
    kube,
    observer: new Observer(kube, config.applyConcurrency),
    applier: new Applier(kube, config.applyConcurrency),
    git: new GitCache(
      config.cacheDir,
      loadGitCredentials(config.gitCredentialsFile),
      guardedGitHttp({ rules: { allowHttp: config.gitAllowHttp, allowed: parseAllowList(config.gitAllowedHosts) } }),
    ),
    tools: { helmBin: config.helmBin, kustomizeBin: config.kustomizeBin },
    inventories: new ConfigMapInventoryStore(kube, config.namespace),
    hubKeys,
    sink: transport,
    metrics,
    log,
    concurrency: config.applyConcurrency,
    healthPollMs: config.healthPollMs,
    healthIdlePollMs: config.healthIdlePollMs,
    driftIntervalMs: config.driftIntervalMs,
    progressDeadlineMs: config.progressDeadlineMs,
    health: {
      crashLoopRestarts: config.crashLoopRestarts,
      unschedulableGraceMs: config.unschedulableGraceMs,
      loadBalancer: config.loadBalancerHealth,
      ingress: config.ingressHealth,
    },
    retryBackoffMs: config.retryBackoffMs,
    maxRetryBackoffMs: MAX_RETRY_BACKOFF_MS,
  };
  const controllers = new Map<string, AppController>();
  const startedAt = Date.now();

  // Resume from the cluster first, so the last desired states are enforced even before (or without) NATS.
  for (const inv of await deps.inventories.loadAll()) {
    const c = new AppController(inv.app, deps, inv);
    controllers.set(inv.app, c);
    c.start();
  }
  log.info({ apps: [...controllers.keys()] }, "resumed from inventories");

  const controllerFor = async (app: string): Promise<AppController> => {
    let c = controllers.get(app);
    if (!c) {
      const inv = await deps.inventories.load(app).catch(() => emptyInventory(app));
      c = controllers.get(app);
      if (c) return c;
      c = new AppController(app, deps, inv);
      controllers.set(app, c);
      c.start();
    }
    return c;
  };

  // The hub keeps its key set under `<cluster>._hub-keys`, signed by its current key; a set is
  // taken only when a key this agent trusts signed it and it is newer than the one held.
  const keySetKey = hubKeySetKey(config.cluster);
  const offerKeySet = (value: Uint8Array, replay: boolean): void => {
    try {
      const { message, keyId } = open(HUB_KEY_SET, value, hubKeys);
      hubTrust.offer(message, keyId);
    } catch (err) {
      // Replayed history holds sets signed by keys retired since: expected, not worth a warning.
      if (replay) log.debug({ err: (err as Error).message }, "an older hub key set does not verify");
      else log.warn({ err: (err as Error).message }, "hub key set refused");
    }
  };

  const onEntry = (entry: DesiredEntry): void => {
    if (entry.key === keySetKey) {
      if (entry.operation === "PUT") offerKeySet(entry.value, false);
      return;
    }
    let app: string;
    try {
      const parsed = parseStateKey(entry.key);
      if (parsed.cluster !== config.cluster) return;
      app = parsed.app;
    } catch {
      log.warn({ key: entry.key }, "ignoring a desired key that is not <cluster>.<app>");
      return;
    }
    if (entry.operation !== "PUT") {
      // Removing an app is an explicit signed `remove`; a deleted key alone proves nothing.
      log.info({ app, operation: entry.operation }, "desired key deleted; keeping the app as it is");
      return;
    }
    controllerFor(app).then(
      (c) => c.offer(entry.value),
      (err: unknown) => log.error({ app, err }, "cannot start app controller"),
    );
  };

  const rpc = async (msg: { data: Uint8Array }): Promise<Uint8Array> => {
    let reply: AgentResponseInit;
    try {
      const req = open(AGENT_REQUEST, msg.data, hubKeys).message;
      const app = req.refresh?.app || req.diff?.app || "";
      const c = controllers.get(app);
      if (!c) reply = { ok: false, message: `no app ${app} on this cluster` };
      else if (req.refresh) {
        await c.refresh();
        reply = { ok: true, message: `refreshed ${app}` };
      } else {
        const drifts = await c.diff();
        reply = {
          ok: true,
          message: `${drifts.length} object(s) differ`,
          diffs: drifts.map((d) => ({ ref: toProtoRef(d.ref), fields: d.fields })),
        };
      }
    } catch (err) {
      reply = { ok: false, message: (err as Error).message };
    }
    return seal(AGENT_RESPONSE, reply, agentKey);
  };

  let kubeVersion = "";
  const signals: Omit<ReadinessSignals, "natsConnected"> = {
    kubeAnsweredAtMs: 0,
    kubeError: "",
    loopAtMs: startedAt,
    natsDownSinceMs: startedAt,
  };
  /** Notes when the NATS connection went, and keeps its gauge current. */
  const watchNats = (now: number): boolean => {
    const connected = transport.connected;
    if (connected) signals.natsDownSinceMs = 0;
    else if (signals.natsDownSinceMs === 0) signals.natsDownSinceMs = now;
    metrics.natsConnected.set(connected ? 1 : 0);
    return connected;
  };
  let probing = false;
  // Probes the API server (and keeps the heartbeat's version current): readiness needs a recent answer.
  const probeKube = (): void => {
    if (probing) return;
    probing = true;
    kube
      .version()
      .then(
        (v) => {
          kubeVersion = v;
          signals.kubeAnsweredAtMs = Date.now();
          signals.kubeError = "";
        },
        (err: unknown) => {
          signals.kubeError = (err as Error).message;
        },
      )
      .finally(() => {
        probing = false;
      });
  };
  probeKube();
  // The freeze this cluster asks for: the setting, or a labelled ConfigMap read each beat. A failed
  // read keeps the last answer, so a blip of the API server neither starts nor lifts a freeze.
  let freeze: FreezeRequest | undefined = freezeRequest(config.freeze, []);
  let readingFreeze = false;
  const readFreeze = (): void => {
    if (config.freeze.trim() || readingFreeze) return;
    readingFreeze = true;
    kube
      .list("v1", "ConfigMap", config.namespace, FREEZE_LABEL)
      .then(
        (items) => {
          const next = freezeRequest("", items);
          if (next?.reason !== freeze?.reason || next?.source !== freeze?.source)
            log.warn({ freeze: next, was: freeze }, next ? "cluster asks for a freeze" : "cluster freeze lifted");
          freeze = next;
        },
        (err: unknown) => log.warn({ err: (err as Error).message }, "could not read freeze ConfigMaps"),
      )
      .finally(() => {
        readingFreeze = false;
      });
  };
  readFreeze();
  const readiness = (): Readiness => {
    const now = Date.now();
    return assessReadiness({ ...signals, natsConnected: watchNats(now) }, now, config.heartbeatIntervalMs);
  };
  const heartbeat = setInterval(() => {
    signals.loopAtMs = Date.now();
    metrics.hubKeySetVersion.set(hubTrust.held.version);
    watchNats(signals.loopAtMs);
    probeKube();
    readFreeze();
    transport.retryPending();
    transport.heartbeat({
      cluster: config.cluster,
      agentVersion: AGENT_VERSION,
      kubernetesVersion: kubeVersion,
      capabilities: ["render.manifests", "render.kustomize", "render.helm", "drift", "prune"],
      sentAtMs: Date.now(),
      apps: controllers.size,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      hubKeySetVersion: hubTrust.held.version,
      ...(freeze ? { freezeReason: freeze.reason, freezeSource: freeze.source } : {}),
    });
  }, config.heartbeatIntervalMs);
  heartbeat.unref();

  transport.onReconnect(() => {
    for (const c of controllers.values()) c.republish();
  });
  transport.connect().then(
    (nc) => {
      if (nc.isClosed()) return;
      transport.serveRpc(rpc);
      for (const c of controllers.values()) c.republish();
      // The key sets missed while away first, in order, so desired states signed by a key the
      // hub switched to meanwhile verify when the watch delivers them.
      void (async () => {
        for (const value of await transport.history(keySetKey)) offerKeySet(value, true);
        await transport.watchDesired(onEntry);
      })();
    },
    (err: unknown) => log.error({ err }, "cannot connect to NATS"),
  );

  let server: Server | undefined;
  if (config.metricsPort > 0) {
    server = await serveEndpoints(config.metricsHost, config.metricsPort, { metrics, readiness });
  }

  return {
    metrics,
    metricsPort: config.metricsPort > 0 ? config.metricsPort : undefined,
    readiness,
    async stop() {
      clearInterval(heartbeat);
      await Promise.all([...controllers.values()].map((c) => c.stop()));
      await transport.stop();
      server?.close();
      server?.closeAllConnections();
      kube.close();
    },
  };
}
