import type { Freeze } from "@flotilla/api";
import type { Redis } from "ioredis";
import type { FreezeStore } from "../store.js";
import { keys } from "./keys.js";

/** Field of a freeze in the `freezes` hash. */
function field(environment: string | undefined): string {
  return environment === undefined ? "fleet" : `env:${environment}`;
}

/** Freezes in force: one hash, so a step reads them all at once. */
export class RedisFreezeStore implements FreezeStore {
  constructor(private readonly redis: Redis) {}

  async list(): Promise<Freeze[]> {
    const all = await this.redis.hgetall(keys.freezes);
    return Object.values(all)
      .map((text) => JSON.parse(text) as Freeze)
      .sort((a, b) => a.atMs - b.atMs);
  }

  async put(freeze: Freeze): Promise<void> {
    await this.redis.hset(keys.freezes, field(freeze.environment), JSON.stringify(freeze));
  }

  async delete(environment: string | undefined): Promise<boolean> {
    return (await this.redis.hdel(keys.freezes, field(environment))) > 0;
  }
}
