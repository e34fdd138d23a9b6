/**
 * Redis, the hub's one home for state: every key and script (`keys.ts`, `scripts.ts`), the
 * connection (`connection.ts`), and one store per concern of `../store.ts` over it.
 */
import type { Redis } from "ioredis";
import type { Stores } from "../store.js";
import { RedisAccountJwtStore } from "./account-jwt.js";
import { RedisDesiredStore, RedisGenerationStore, RedisReportStore } from "./cluster-apps.js";
import { RedisClusterCleanup, RedisClusterStatusStore } from "./clusters.js";
import { RedisHeadStore } from "./heads.js";
import { RedisLeaseStore } from "./lease.js";
import { RedisObjectStore } from "./objects.js";
import { RedisRolloutStore } from "./rollouts.js";
import { RedisSigningKeyStore } from "./signing-key.js";

export { connectRedis, handleErrors, REDIS_START_ATTEMPTS, redactRedisUrl } from "./connection.js";
export { RedisEventBus } from "./event-bus.js";
export { EVENTS_CHANNEL, KEY_PREFIX, NUDGE_CHANNEL } from "./keys.js";
export { RedisRolloutStore } from "./rollouts.js";

/** Every store over one connection (or a Redis primary behind Sentinel: pass the connected client). */
export function redisStores(redis: Redis): Stores {
  return {
    objects: new RedisObjectStore(redis),
    statuses: new RedisClusterStatusStore(redis),
    cleanup: new RedisClusterCleanup(redis),
    generations: new RedisGenerationStore(redis),
    desired: new RedisDesiredStore(redis),
    reports: new RedisReportStore(redis),
    heads: new RedisHeadStore(redis),
    signingKey: new RedisSigningKeyStore(redis),
    leases: new RedisLeaseStore(redis),
    rollouts: new RedisRolloutStore(redis),
    accountJwt: new RedisAccountJwtStore(redis),
  };
}
