/**
 * Wiring only: builds the hub's parts from its configuration and starts them. What each part
 * does is in its folder; what only the leader runs is listed in `leaderDuties` below.
 */
import { guardedGitHttp, parseAllowList, type UrlRules } from "@flotilla/netguard";
import type { SigningKey } from "@flotilla/proto";
import type { Logger } from "pino";
import { EventsTokens } from "./access/events-token.js";
import { TokenService } from "./access/tokens.js";
import { buildApi, serve } from "./api/server.js";
import { RolloutConductor } from "./conductor/conductor.js";
import type { HubConfig } from "./config.js";
import { KeySetAnnouncer } from "./keys/announcer.js";
import { HubKeys } from "./keys/hub-keys.js";
import { dutiesOf } from "./leader/duties.js";
import { LeaderElector } from "./leader/elector.js";
import { createLogger } from "./log.js";
import { HubMetrics } from "./metrics.js";
import { AgentCalls, natsAgentChannel } from "./nats/agent-calls.js";
import { DEFAULT_ACCOUNT_LIMITS, describeOperatorSetup, parseOperatorSetup } from "./nats/auth/index.js";
import { openBuckets } from "./nats/buckets.js";
import { closeNats, connectNats, watchConnection } from "./nats/connection.js";
import { CredsResponder } from "./nats/creds.js";
import { StoreStatusGrants } from "./nats/grants.js";
import { NatsCredentialIssuer } from "./nats/issuer.js";
import { NatsDesiredStatePublisher } from "./nats/publisher.js";
import { Notifier } from "./notify/notifier.js";
import { Receivers } from "./notify/receivers.js";
import { PrometheusClient } from "./prometheus/client.js";
import { openRedis } from "./redis/index.js";
import type { ClusterCredentialIssuer } from "./registry/credentials.js";
import { Registrations } from "./registry/registration.js";
import { Registry } from "./registry/registry.js";
import { loadHubKey } from "./secrets/hub-key.js";
import { SecretBox } from "./secrets/secretbox.js";
import { Ingester } from "./status/ingest.js";
import { publishedAssignments } from "./status/reports.js";
import { createVerifier } from "./status/verifier.js";
import { IsomorphicGitRefLister, type RefLister } from "./tracking/git.js";
import { GitSourceCache } from "./tracking/source-cache.js";
import { Tracker } from "./tracking/tracker.js";

/** A running hub. */
/** Largest ref listing accepted from a Git server: thousands of branches fit in far less. */
const MAX_REF_LISTING_BYTES = 16 * 1024 * 1024;

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
    const redis = await openRedis(
      {
        url: config.redisUrl,
        sentinels: config.redisSentinels,
        sentinelMaster: config.redisSentinelMaster,
        sentinelPassword: config.redisSentinelPassword,
      },
      log,
      { auditMaxEntries: config.auditMaxEntries, eventsMaxEntries: config.eventsMaxEntries },
    );
    cleanups.push(() => redis.close());
    const { events } = redis;
    const {
      objects,
      statuses,
      cleanup,
      generations,
      desired,
      reports,
      heads,
      settings,
      signingKey,
      leases,
      rollouts,
      accountJwt,
      tokens: tokenStore,
      registrationTokens,
      audit,
      freezes,
      receivers: receiverStore,
    } = redis.stores;
    const metricsSource = config.prometheusUrl
      ? new PrometheusClient({
          url: config.prometheusUrl,
          timeoutMs: config.prometheusTimeoutMs,
          ...(config.prometheusToken ? { token: config.prometheusToken } : {}),
        })
      : undefined;
    const gitRules: UrlRules = { allowHttp: config.gitAllowHttp, allowed: parseAllowList(config.gitAllowedHosts) };
    const sources = new GitSourceCache({
      http: guardedGitHttp({ rules: gitRules }),
      ...(config.gitCacheDir ? { dir: config.gitCacheDir } : {}),
      maxBytes: config.gitCacheMaxBytes,
    });
    cleanups.push(() => sources.close());
    const box = new SecretBox(config.encryptionKey);
    const metrics = new HubMetrics();
    // The key set (first made from the one signing key a hub had before key sets) and the key it
    // signs with now: every part below signs through `hubKey`, which follows rotations.
    const hubKey = await HubKeys.load(
      { store: signingKey, box, metrics, log },
      await loadHubKey(config.signingKeyPem, signingKey, box),
      config.signingKeyPem !== undefined,
    );
    hubKey.follow(events);
    cleanups.push(async () => hubKey.stop());
    const receiverRules: UrlRules = {
      allowHttp: config.notifyAllowHttp,
      allowed: parseAllowList(config.notifyAllowedHosts),
    };
    const receivers = new Receivers(receiverStore, box, receiverRules);

    const setup = config.operatorSetup ? await parseOperatorSetup(config.operatorSetup) : undefined;
    if (setup) log.info(describeOperatorSetup(setup), "NATS operator setup loaded; cluster credentials will be minted");
    const nc = await connectNats(
      config.natsUrl,
      config.natsCreds ?? setup?.hubUser.creds,
      `flotilla-hub-${config.replicaId}`,
      log,
      config,
    );
    cleanups.push(() => closeNats(nc));
    watchConnection(nc, (connected) => metrics.natsConnected.set(connected ? 1 : 0));
    let issuer: ClusterCredentialIssuer | undefined;
    if (setup) {
      const system = await connectNats(
        config.natsUrl,
        setup.systemUser.creds,
        `flotilla-hub-system-${config.replicaId}`,
        log,
        config,
      );
      cleanups.push(() => closeNats(system));
      issuer = await NatsCredentialIssuer.start(setup, accountJwt, system, log, {
        limits: { ...DEFAULT_ACCOUNT_LIMITS, diskStorage: config.natsAccountMaxBytes },
        credsTtlSeconds: config.agentCredsTtlMs / 1000,
        metrics,
      });
    }
    const buckets = await openBuckets(nc, log, {
      replicas: config.natsReplicas,
      limits: {
        statusMaxBytes: config.natsStatusMaxBytes,
        statusMaxValueSize: config.natsStatusMaxValueSize,
        desiredMaxBytes: config.natsDesiredMaxBytes,
        desiredMaxValueSize: config.natsDesiredMaxValueSize,
      },
    });
    const tokens = new TokenService({ tokens: tokenStore, objects, bootstrapToken: config.adminToken, log });
    const verifier = createVerifier(config.verifyThreads);
    cleanups.push(() => verifier.close());

    const agentNatsCa = config.agentNatsCa ?? config.natsCa;
    const registry = new Registry({
      objects,
      gitRules,
      statuses,
      cleanup,
      box,
      events,
      hubKey,
      agentNatsUrl: config.agentNatsUrl ?? config.natsUrl,
      ...(agentNatsCa ? { agentNatsCa } : {}),
      ...(issuer ? { issuer } : {}),
      onClusterDeleted: (cluster) => buckets.purgeCluster(cluster),
      teamTokens: (team) => tokens.ofTeam(team),
      receivers,
      log,
    });

    // The status keys a cluster user is minted with, at renewals and registrations alike.
    const grants = new StoreStatusGrants({ desired, reports, desiredKv: buckets.desired });
    if (issuer) {
      const responder = new CredsResponder({
        objects,
        issuer,
        grants,
        hubKey,
        hubKeySet: () => hubKey.set,
        metrics,
        log,
      });
      responder.start(nc);
      cleanups.push(async () => responder.stop());
    }

    // Built afresh at each election, which comes only after everything below exists.
    const leaderDuties = () => {
      const ingester = new Ingester({
        nc,
        statusKv: buckets.status,
        objects,
        statuses,
        reports,
        events,
        metrics,
        log,
        liveness: { heartbeatIntervalMs: config.heartbeatIntervalMs, offlineAfterMissed: config.offlineAfterMissed },
        verifier,
        assignments: publishedAssignments(desired, buckets.desired),
      });
      const conductor = new RolloutConductor({
        objects,
        statuses,
        reports,
        desired,
        rollouts,
        settings,
        freezes,
        ...(metricsSource ? { metricsSource } : {}),
        prometheusCredentials: (environment) => registry.prometheusCredentials(environment),
        publisher,
        events,
        metrics,
        log,
        lease,
        clock: () => redis.time(),
      });
      const tracker = new Tracker({
        objects,
        desired,
        heads,
        registry,
        refs:
          options.refs ??
          new IsomorphicGitRefLister(guardedGitHttp({ rules: gitRules, maxResponseBytes: MAX_REF_LISTING_BYTES })),
        sources,
        rollouts,
        publisher,
        conductor,
        events,
        metrics,
        log,
        defaultPollMs: config.pollIntervalMs,
      });
      const notifier = new Notifier({
        events,
        receivers: receiverStore,
        secrets: receivers,
        objects,
        metrics,
        log,
        retryMinMs: config.notifyRetryMinMs,
        rules: receiverRules,
      });
      const announcer = new KeySetAnnouncer({
        keys: hubKey,
        objects,
        desired,
        kv: buckets.desired,
        events,
        lease,
        metrics,
        log,
      });
      // First of all, a new leader reads the key set again: one up to a reload old could sign
      // with a key a rotation on another replica has just retired.
      const freshKeys = { start: () => hubKey.reload(), stop: async () => {} };
      return [freshKeys, ingester, conductor, tracker, notifier, announcer];
    };
    const elector = new LeaderElector({
      leases,
      replicaId: config.replicaId,
      ttlMs: config.leaseTtlMs,
      metrics,
      log,
      duties: dutiesOf(leaderDuties),
    });
    // A broken connection to the primary leaves the lease unconfirmed until the next renewal
    // (Sentinel may have promoted a replica that never got it); a new one renews at once.
    redis.redis.on("close", () => elector.suspect());
    redis.redis.on("ready", () => elector.wake());
    const lease = () => elector.lease;
    const publisher = new NatsDesiredStatePublisher({
      objects,
      settings,
      desired,
      generations,
      kv: buckets.desired,
      hubKey,
      trusted: () => hubKey.ring,
      lease,
      events,
      metrics,
      log,
    });

    const api = await buildApi({
      objects,
      statuses,
      desired,
      reports,
      leases,
      rollouts,
      settings,
      registry,
      eventLog: events,
      receivers,
      agents: new AgentCalls({ objects, desired, channel: natsAgentChannel(nc), hubKey }),
      registrations: new Registrations({
        tokens: registrationTokens,
        objects,
        ...(issuer ? { issuer } : {}),
        grants,
        hubKey,
        metrics,
        log,
      }),
      events,
      metrics,
      log,
      tokens,
      eventsTokens: new EventsTokens(config.encryptionKey),
      audit,
      freezes,
      redis: redis.redis,
      limits: {
        requestTimeoutMs: config.requestTimeoutMs,
        keepAliveTimeoutMs: config.keepAliveTimeoutMs,
        maxStreamsPerToken: config.maxStreamsPerToken,
        authFailureLimit: config.authFailureLimit,
        trustedProxies: config.trustedProxies,
      },
      ...(config.metricsToken ? { metricsToken: config.metricsToken } : {}),
      hubKey,
      hubKeys: hubKey,
      replicaId: config.replicaId,
      lease,
      ready: async () => (await redis.ping()) && !nc.isClosed(),
    });
    cleanups.push(() => api.close());
    const url = await serve(api, config.listen);

    elector.start();
    cleanups.push(() => elector.stop());
    log.info({ url, hubKeyId: hubKey.keyId }, "hub started");

    let stopping: Promise<void> | undefined;
    return {
      url,
      replicaId: config.replicaId,
      hubKey,
      isLeader: () => elector.lease !== undefined,
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
