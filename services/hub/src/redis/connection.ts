import { Redis, type RedisOptions } from "ioredis";
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

/**
 * Where the hub's Redis is: one server (`url`), or a primary that Sentinel names and moves on
 * failover (`sentinels` set; the URL then gives only the username, password and database).
 */
export interface RedisTarget {
  url: string;
  sentinels?: readonly { host: string; port: number }[] | undefined;
  /** The master name the sentinels monitor. */
  sentinelMaster?: string;
  /** The sentinels' own password, when they require one. */
  sentinelPassword?: string | undefined;
}

/** How a target is named in logs and errors: never with a password. */
export function describeRedisTarget(target: RedisTarget): string {
  if (!target.sentinels?.length) return redactRedisUrl(target.url);
  const hosts = target.sentinels.map((s) => (s.host.includes(":") ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`));
  return `sentinel://${hosts.join(",")}/${target.sentinelMaster ?? ""}`;
}

/**
 * ioredis options for a target. Behind Sentinel the client asks the sentinels for the primary
 * at every (re)connection, watches them for a switch (`failoverDetector`), and reconnects when
 * a demoted primary answers READONLY, resending the command, so writes follow the new primary.
 */
export function redisOptions(target: RedisTarget): RedisOptions {
  if (!target.sentinels?.length) return {};
  let username: string | undefined;
  let password: string | undefined;
  let db = 0;
  try {
    const u = new URL(target.url);
    username = u.username ? decodeURIComponent(u.username) : undefined;
    password = u.password ? decodeURIComponent(u.password) : undefined;
    db = Number(u.pathname.replace(/^\//, "") || 0);
  } catch {
    // The schema checked the URL; a bad one leaves the defaults.
  }
  return {
    sentinels: target.sentinels.map((s) => ({ host: s.host, port: s.port })),
    name: target.sentinelMaster ?? "",
    role: "master",
    ...(target.sentinelPassword ? { sentinelPassword: target.sentinelPassword } : {}),
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    db,
    failoverDetector: true,
    sentinelRetryStrategy: (attempt: number) => retryDelay(attempt),
    reconnectOnError: (err: Error) => (err.message.startsWith("READONLY") ? 2 : false),
  };
}

function retryDelay(attempt: number): number {
  return Math.min(REDIS_FIRST_RETRY_DELAY_MS * 2 ** (attempt - 1), REDIS_MAX_RETRY_DELAY_MS);
}

/**
 * Connects to Redis for the hub. At start it tries {@link REDIS_START_ATTEMPTS} times, then
 * throws RedisUnavailableError naming the URL (without credentials) and the last cause; once
 * connected it reconnects forever. Every connection error is handled here (logged once per
 * outage after start), so ioredis never prints its "Unhandled error event" stack. Behind
 * Sentinel it asks the sentinels for the primary at each connection and follows failovers.
 */
export async function connectRedis(target: RedisTarget, log: Logger): Promise<Redis> {
  let connected = false;
  let lastError: Error | undefined;
  const url = describeRedisTarget(target);
  const options: RedisOptions = {
    ...redisOptions(target),
    // Commands issued in the same tick go out in one socket write: a step's hundreds of
    // reads and writes cost a few writes, not hundreds (socket writes were ~10 % of the
    // hub's CPU at 1,000 clusters). Dedicated connections turn it off (see `openRedis`).
    enableAutoPipelining: true,
    lazyConnect: true,
    maxRetriesPerRequest: 3,
    retryStrategy: (attempt) => (!connected && attempt >= REDIS_START_ATTEMPTS ? null : retryDelay(attempt)),
  };
  const redis = target.sentinels?.length ? new Redis(options) : new Redis(target.url, options);
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
        reject(new RedisUnavailableError(url, REDIS_START_ATTEMPTS, lastError));
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
 * Give every client one, duplicates included. `label` names the target without credentials
 * ({@link describeRedisTarget}).
 */
export function handleErrors(redis: Redis, log: Logger, label: string, live: () => boolean = () => true): void {
  let logged = false;
  redis.on("error", (err: Error) => {
    if (!live() || logged) return;
    logged = true;
    log.warn({ err, redis: label }, "Redis connection failed; reconnecting");
  });
  redis.on("ready", () => {
    if (logged) log.info({ redis: label }, "Redis reachable again");
    logged = false;
  });
}

/** How long a closing client may wait for Redis to answer QUIT before it just disconnects. */
export const REDIS_QUIT_TIMEOUT_MS = 1_000;

/**
 * Closes a client whatever the state of Redis: QUIT when it answers within
 * {@link REDIS_QUIT_TIMEOUT_MS}, otherwise a plain disconnect, which also ends the reconnect
 * timer that would keep the process alive.
 */
export async function closeRedis(redis: Redis): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, REDIS_QUIT_TIMEOUT_MS);
  });
  await Promise.race([redis.quit().catch(() => {}), timeout]);
  clearTimeout(timer);
  redis.disconnect();
}
