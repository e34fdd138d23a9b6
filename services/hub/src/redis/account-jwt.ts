import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { AccountJwtStore } from "../store.js";
import { keys } from "./keys.js";

/** How long a lock holder may keep the account lock before Redis lets it go (a crashed holder). */
const LOCK_TTL_MS = 30_000;
/** How long to wait for another holder to release the lock. */
const LOCK_WAIT_MS = 20_000;
/** Between attempts to take a held lock. */
const LOCK_POLL_MS = 100;

/** The account JWT in one key, and a lock key with a random token per holder and a TTL. */
export class RedisAccountJwtStore implements AccountJwtStore {
  constructor(private readonly redis: Redis) {}

  async get(): Promise<string | undefined> {
    return (await this.redis.get(keys.accountJwt)) ?? undefined;
  }

  async put(jwt: string): Promise<void> {
    await this.redis.set(keys.accountJwt, jwt);
  }

  async lock(): Promise<(() => Promise<void>) | undefined> {
    const token = randomUUID();
    const deadline = Date.now() + LOCK_WAIT_MS;
    while ((await this.redis.set(keys.accountLock, token, "PX", LOCK_TTL_MS, "NX")) !== "OK") {
      if (Date.now() > deadline) return undefined;
      await new Promise((r) => setTimeout(r, LOCK_POLL_MS));
    }
    return async () => {
      const holder = await this.redis.get(keys.accountLock);
      if (holder === token) await this.redis.del(keys.accountLock);
    };
  }
}
