import { Redis } from "ioredis";
import type { Logger } from "pino";
import { RedisUnavailableError } from "../errors.js";

/** Connection attempts at start before the hub gives up on Redis (about 3 s in all). */
export const REDIS_START_ATTEMPTS = 6;
/** First delay between attempts; it doubles up to {@link REDIS_MAX_RETRY_DELAY_MS}. */
export const REDIS_FIRST_RETRY_DELAY_MS = 100;
/** Longest delay between reconnection attempts, at start and after. */
export const REDIS_MAX_RETRY_DELAY_MS = 2_000;

/** `url` without its username and password, safe to print. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    return u.toString().replace(/\/$/, "");
  } catch {
    return "(unparseable Redis URL)";
  }
}

function retryDelay(attempt: number): number {
  return Math.min(REDIS_FIRST_RETRY_DELAY_MS * 2 ** (attempt - 1), REDIS_MAX_RETRY_DELAY_MS);
}

/**
 * Connects to Redis for the hub. At start it tries {@link REDIS_START_ATTEMPTS} times, then
 * throws RedisUnavailableError naming the URL (without credentials) and the last cause; once
 * connected it reconnects forever. Every connection error is handled here (logged once per
 * outage after start), so ioredis never prints its "Unhandled error event" stack.
 */
export async function connectRedis(url: string, log: Logger): Promise<Redis> {
  let connected = false;
  let lastError: Error | undefined;
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 3,
    retryStrategy: (attempt) => (!connected && attempt >= REDIS_START_ATTEMPTS ? null : retryDelay(attempt)),
  });
  redis.on("error", (err: Error) => {
    lastError = err;
  });
  handleErrors(redis, log, url, () => connected);
  try {
    await new Promise<void>((resolve, reject) => {
      const onReady = () => {
        redis.off("end", onEnd);
        resolve();
      };
      const onEnd = () => {
        redis.off("ready", onReady);
        reject(new RedisUnavailableError(redactRedisUrl(url), REDIS_START_ATTEMPTS, lastError));
      };
      redis.once("ready", onReady);
      redis.once("end", onEnd);
      // The first failed attempt rejects connect(); the retry strategy goes on until "ready" or "end".
      redis.connect().catch(() => {});
    });
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  connected = true;
  return redis;
}

/**
 * Handles a client's "error" events (ioredis prints a stack for unhandled ones): while `live()`
 * is true, logs the first error of each outage and the recovery; before that, stays quiet.
 * Give every client one, duplicates included.
 */
export function handleErrors(redis: Redis, log: Logger, url: string, live: () => boolean = () => true): void {
  let logged = false;
  redis.on("error", (err: Error) => {
    if (!live() || logged) return;
    logged = true;
    log.warn({ err, redis: redactRedisUrl(url) }, "Redis connection failed; reconnecting");
  });
  redis.on("ready", () => {
    if (logged) log.info({ redis: redactRedisUrl(url) }, "Redis reachable again");
    logged = false;
  });
}
