import { clusterKeyFilter, DESIRED_BUCKET, type SigningKey, STATUS_BUCKET } from "@flotilla/proto";
import {
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  type JetStreamManager,
  type NatsConnection,
  StorageType,
  type StreamConfig,
  type StreamInfo,
} from "nats";
import type { Logger } from "pino";
import { buildApi } from "./api/server.js";
import { RolloutConductor } from "./conductor/conductor.js";
import type { HubConfig } from "./config.js";
import { LeaderElector } from "./leader/elector.js";
import { createLogger } from "./log.js";
import { HubMetrics } from "./metrics.js";
import {
  describeOperatorSetup,
  desiredStreamConfig,
  parseOperatorSetup,
  statusStreamConfig,
} from "./nats/auth/index.js";
import { NatsCredentialIssuer } from "./nats/issuer.js";
import { NatsDesiredStatePublisher } from "./nats/publisher.js";
import { connectRedis, handleErrors, RedisEventBus, redisStores } from "./redis/index.js";
import type { ClusterCredentialIssuer } from "./registry/credentials.js";
import { Registry } from "./registry/registry.js";
import { loadHubKey } from "./secrets/hub-key.js";
import { SecretBox } from "./secrets/secretbox.js";
import { Ingester } from "./status/ingest.js";
import type { Lease } from "./store.js";
import { IsomorphicGitRefLister, type RefLister } from "./tracking/git.js";
import { Tracker } from "./tracking/tracker.js";

/** Desired-state history kept per key: the latest is what agents act on, a few more help debugging. */
export const DESIRED_HISTORY = 5;
/** Report history per key: only the latest matters. */
export const STATUS_HISTORY = 1;

/** A running hub. */
export interface RunningHub {
  /** Base URL of the HTTP API, e.g. `http://127.0.0.1:8080`. */
  url: string;
  replicaId: string;
  /** The hub's signing key (agents trust its public half). */
  hubKey: SigningKey;
  /** True while this replica holds the leader lease. */
  isLeader(): boolean;
  /** Stops everything; a leader releases its lease so another replica takes over at once. */
  stop(): Promise<void>;
}

/** Extra parts for tests and embedding; production uses the defaults. */
export interface StartHubOptions {
  log?: Logger;
  refs?: RefLister;
}

/**
 * Creates a KV bucket's stream with rollup headers refused (see nats/auth/buckets.ts: a cluster
 * could otherwise purge every other cluster's reports with one `Nats-Rollup: all` put), or turns
 * them off on a stream an older hub created the nats.js way. Must run before `js.views.kv`,
 * which then binds to the stream as it is.
 */
async function ensureKvStream(jsm: JetStreamManager, wanted: Partial<StreamConfig>, log: Logger): Promise<void> {
  const name = wanted.name ?? "";
  let existing: StreamInfo | undefined;
  try {
    existing = await jsm.streams.info(name);
  } catch {
    existing = undefined;
  }
  if (!existing) {
    await jsm.streams.add(wanted);
    return;
  }
  if (existing.config.allow_rollup_hdrs || !existing.config.deny_delete) {
    log.warn({ stream: name }, "KV stream allowed rollups or deletes; turning them off");
    await jsm.streams.update(name, { ...existing.config, allow_rollup_hdrs: false, deny_delete: true });
  }
}

function natsOptions(servers: string, creds: string | undefined, name: string): ConnectionOptions {
  return {
    servers: servers.split(",").map((s) => s.trim()),
    name,
    maxReconnectAttempts: -1,
    ...(creds ? { authenticator: credsAuthenticator(new TextEncoder().encode(creds)) } : {}),
  };
}

/**
 * Starts one hub replica: connects to Redis and NATS, creates the KV buckets if missing,
 * serves the API, and joins leader election (the leader runs Git tracking, the rollout engine,
 * status ingestion and the liveness sweep).
 */
export async function startHub(config: HubConfig, options: StartHubOptions = {}): Promise<RunningHub> {
  const log = options.log ?? createLogger(config.logLevel, config.replicaId);
  const cleanups: (() => Promise<unknown>)[] = [];
  const shutdown = async () => {
    for (const c of cleanups.reverse()) await c().catch((err) => log.warn({ err }, "shutdown step failed"));
  };
  try {
    const redis = await connectRedis(config.redisUrl, log);
    cleanups.push(() => redis.quit().catch(() => redis.disconnect()));
    const subscriber = redis.duplicate();
    handleErrors(subscriber, log, config.redisUrl);
    const {
      objects,
      statuses,
      cleanup,
      generations,
      desired,
      reports,
      heads,
      signingKey,
      leases,
      rollouts,
      accountJwt,
    } = redisStores(redis);
    const box = new SecretBox(config.encryptionKey);
    const hubKey = await loadHubKey(config.signingKeyPem, signingKey, box);
    const metrics = new HubMetrics();

    const setup = config.operatorSetup ? await parseOperatorSetup(config.operatorSetup) : undefined;
    if (setup) log.info(describeOperatorSetup(setup), "NATS operator setup loaded; cluster credentials will be minted");
    const nc: NatsConnection = await connect(
      natsOptions(config.natsUrl, config.natsCreds ?? setup?.hubUser.creds, `flotilla-hub-${config.replicaId}`),
    );
    cleanups.push(() => nc.drain());
    let issuer: ClusterCredentialIssuer | undefined;
    if (setup) {
      const system = await connect(
        natsOptions(config.natsUrl, setup.systemUser.creds, `flotilla-hub-system-${config.replicaId}`),
      );
      cleanups.push(() => system.drain());
      issuer = await NatsCredentialIssuer.start(setup, accountJwt, system, log);
    }
    const js = nc.jetstream();
    const jsm = await nc.jetstreamManager();
    await ensureKvStream(jsm, desiredStreamConfig({ history: DESIRED_HISTORY }), log);
    await ensureKvStream(jsm, statusStreamConfig({ history: STATUS_HISTORY }), log);
    const desiredKv = await js.views.kv(DESIRED_BUCKET, { history: DESIRED_HISTORY, storage: StorageType.File });
    const statusKv = await js.views.kv(STATUS_BUCKET, { history: STATUS_HISTORY, storage: StorageType.File });

    await subscriber.connect().catch(() => {});
    const events = await RedisEventBus.start(redis, subscriber, log);
    cleanups.push(() => events.close());

    const registry = new Registry({
      objects,
      statuses,
      cleanup,
      box,
      events,
      hubKey,
      agentNatsUrl: config.agentNatsUrl ?? config.natsUrl,
      ...(issuer ? { issuer } : {}),
      // A deregistered cluster's keys go too: nothing is left for a re-registered namesake to misread.
      onClusterDeleted: async (cluster) => {
        for (const bucket of [DESIRED_BUCKET, STATUS_BUCKET]) {
          await jsm.streams.purge(`KV_${bucket}`, { filter: `$KV.${bucket}.${clusterKeyFilter(cluster)}` });
        }
      },
      log,
    });

    let lease: Lease | undefined;
    const currentLease = () => lease;
    const publisher = new NatsDesiredStatePublisher({
      objects,
      desired,
      generations,
      kv: desiredKv,
      hubKey,
      lease: currentLease,
      events,
      metrics,
      log,
    });
    let tracker: Tracker | undefined;
    let ingester: Ingester | undefined;
    let conductor: RolloutConductor | undefined;
    const elector = new LeaderElector({
      leases,
      replicaId: config.replicaId,
      ttlMs: config.leaseTtlMs,
      metrics,
      log,
      duties: {
        start: async (l) => {
          lease = l;
          ingester = new Ingester({
            nc,
            statusKv,
            objects,
            statuses,
            reports,
            events,
            metrics,
            log,
            liveness: {
              heartbeatIntervalMs: config.heartbeatIntervalMs,
              offlineAfterMissed: config.offlineAfterMissed,
            },
          });
          await ingester.start();
          conductor = new RolloutConductor({
            objects,
            statuses,
            reports,
            desired,
            rollouts,
            publisher,
            events,
            metrics,
            log,
            lease: currentLease,
          });
          conductor.start();
          tracker = new Tracker({
            objects,
            desired,
            heads,
            registry,
            refs: options.refs ?? new IsomorphicGitRefLister(),
            publisher,
            conductor,
            events,
            metrics,
            log,
            defaultPollMs: config.pollIntervalMs,
          });
          tracker.start();
        },
        stop: async () => {
          lease = undefined;
          await tracker?.stop();
          await conductor?.stop();
          await ingester?.stop();
          tracker = undefined;
          conductor = undefined;
          ingester = undefined;
        },
      },
    });

    const api = await buildApi({
      objects,
      statuses,
      desired,
      reports,
      leases,
      rollouts,
      registry,
      events,
      metrics,
      log,
      adminToken: config.adminToken,
      hubKey,
      replicaId: config.replicaId,
      lease: currentLease,
      ready: async () => (await redis.ping()) === "PONG" && !nc.isClosed(),
    });
    cleanups.push(() => api.close());
    const address = await api.listen({ host: config.listen.host, port: config.listen.port });
    const url = address.replace("://[::1]", "://localhost").replace("0.0.0.0", "127.0.0.1");

    elector.start();
    cleanups.push(() => elector.stop());
    log.info({ url, hubKeyId: hubKey.keyId }, "hub started");

    let stopping: Promise<void> | undefined;
    return {
      url,
      replicaId: config.replicaId,
      hubKey,
      isLeader: () => lease !== undefined,
      stop: () => {
        stopping ??= shutdown().then(() => log.info("hub stopped"));
        return stopping;
      },
    };
  } catch (err) {
    await shutdown();
    throw err;
  }
}
