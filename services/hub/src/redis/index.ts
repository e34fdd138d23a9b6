/**
 * Redis, the hub's one home for state: every key and script (`keys.ts`, `scripts.ts`), the
 * connection (`connection.ts`), and one store per concern of `../store.ts` over it.
 */
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { EventBus, EventLog } from "../status/events.js";
import type { Stores } from "../store.js";
import { RedisAccountJwtStore } from "./account-jwt.js";
import { RedisAuditStore } from "./audit.js";
import { RedisDesiredStore, RedisGenerationStore, RedisReportStore } from "./cluster-apps.js";
import { RedisClusterCleanup, RedisClusterStatusStore } from "./clusters.js";
import { closeRedis, connectRedis, describeRedisTarget, handleErrors, type RedisTarget } from "./connection.js";
import { RedisEventBus } from "./event-bus.js";
import { RedisFreezeStore } from "./freezes.js";
import { RedisHeadStore } from "./heads.js";
import { RedisLeaseStore } from "./lease.js";
import { RedisObjectStore } from "./objects.js";
import { RedisReceiverStore } from "./receivers.js";
import { RedisRegistrationTokenStore } from "./registration-tokens.js";
import { RedisRolloutStore } from "./rollouts.js";
import { RedisSettingsStore } from "./settings.js";
import { RedisSigningKeyStore } from "./signing-key.js";
import { RedisTokenStore } from "./tokens.js";

export { REDIS_START_ATTEMPTS, type RedisTarget, redactRedisUrl } from "./connection.js";
export { KEY_PREFIX, keys as redisKeys, NUDGE_CHANNEL } from "./keys.js";
export { RedisObjectStore } from "./objects.js";
export { RedisRolloutStore } from "./rollouts.js";

/** About how many deliveries the delivery log keeps (`MAXLEN ~`). */
export const DELIVERIES_MAX_ENTRIES = 10_000;

/** How the stores keep what grows. */
export interface StoreOptions {
  /** About how many entries the audit trail keeps (`MAXLEN ~`). */
  auditMaxEntries: number;
  /** About how many batches of events the event log keeps (`MAXLEN ~`). */
  eventsMaxEntries: number;
}

/** Every store over one connection (or a Redis primary behind Sentinel: pass the connected client). */
export function redisStores(redis: Redis, options: StoreOptions): Stores {
  return {
    objects: new RedisObjectStore(redis),
    statuses: new RedisClusterStatusStore(redis),
    cleanup: new RedisClusterCleanup(redis),
    generations: new RedisGenerationStore(redis),
    desired: new RedisDesiredStore(redis),
    reports: new RedisReportStore(redis),
    heads: new RedisHeadStore(redis),
    settings: new RedisSettingsStore(redis),
    signingKey: new RedisSigningKeyStore(redis),
    leases: new RedisLeaseStore(redis),
    rollouts: new RedisRolloutStore(redis),
    accountJwt: new RedisAccountJwtStore(redis),
    tokens: new RedisTokenStore(redis),
    registrationTokens: new RedisRegistrationTokenStore(redis),
    audit: new RedisAuditStore(redis, options.auditMaxEntries),
    freezes: new RedisFreezeStore(redis),
    receivers: new RedisReceiverStore(redis, DELIVERIES_MAX_ENTRIES),
  };
}

/** What the hub holds in Redis, over its connections. */
export interface RedisBackend {
  stores: Stores;
  /** The connection the stores use, for a library that keeps its own keys (the auth-failure limiter). */
  redis: Redis;
  /** Events and nudges to and from every replica, over dedicated reader and subscriber connections. */
  events: EventBus & EventLog;
  /** True when Redis answers. */
  ping(): Promise<boolean>;
  /**
   * Redis's clock (`TIME`) in ms: one clock for every replica, so a span that one leader starts
   * and another ends (a bake, a progress deadline) is not stretched or cut by their skew.
   */
  time(): Promise<number>;
  /** Closes the event bus and both connections. */
  close(): Promise<void>;
}

/**
 * Connects to Redis (giving up after a few attempts at start, see `connectRedis`), opens a
 * connection for pub/sub and one that blocks reading the event log, and builds the stores and
 * the event bus over them.
 */
export async function openRedis(target: RedisTarget, log: Logger, options: StoreOptions): Promise<RedisBackend> {
  const redis = await connectRedis(target, log);
  // Pub/sub and the blocking stream read each own their connection: nothing to pipeline.
  const subscriber = redis.duplicate({ enableAutoPipelining: false });
  handleErrors(subscriber, log, describeRedisTarget(target));
  const reader = redis.duplicate({ enableAutoPipelining: false });
  handleErrors(reader, log, describeRedisTarget(target));
  const quit = () => closeRedis(redis);
  try {
    await subscriber.connect().catch(() => {});
    await reader.connect().catch(() => {});
    const events = await RedisEventBus.start(redis, subscriber, reader, { maxEntries: options.eventsMaxEntries, log });
    return {
      stores: redisStores(redis, options),
      redis,
      events,
      ping: async () => (await redis.ping()) === "PONG",
      time: async () => {
        const [seconds, micros] = await redis.time();
        return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      },
      close: async () => {
        await events.close();
        await quit();
      },
    };
  } catch (err) {
    subscriber.disconnect();
    reader.disconnect();
    await quit();
    throw err;
  }
}
