import type { Redis } from "ioredis";
import type { RegistrationTokenRecord, RegistrationTokenStore } from "../store.js";
import { fromJson } from "./json.js";
import { keys } from "./keys.js";

/**
 * Registration tokens: one key per token, named by its cluster and the token's SHA-256, holding
 * its record and expiring with it. A use takes the key with GETDEL, one atomic command, so two
 * agents presenting the same token at once cannot both get it.
 */
export class RedisRegistrationTokenStore implements RegistrationTokenStore {
  constructor(private readonly redis: Redis) {}

  async put(digest: string, record: RegistrationTokenRecord): Promise<void> {
    // A lifetime, not a point in time: Redis's clock counts it, whatever the replica's clock says.
    const ttlMs = Math.max(1, record.expiresAtMs - record.createdAtMs);
    await this.redis.set(keys.registrationToken(record.cluster, digest), JSON.stringify(record), "PX", ttlMs);
  }

  async take(cluster: string, digest: string): Promise<RegistrationTokenRecord | undefined> {
    return fromJson<RegistrationTokenRecord>(await this.redis.getdel(keys.registrationToken(cluster, digest)));
  }
}
