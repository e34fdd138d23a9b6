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

  async dropAll(cluster: string): Promise<number> {
    // Cluster names are DNS labels, so the name holds no glob character to escape.
    const found = new Set<string>();
    let cursor = "0";
    do {
      const [next, batch] = await this.redis.scan(cursor, "MATCH", keys.registrationToken(cluster, "*"), "COUNT", 200);
      for (const k of batch) found.add(k);
      cursor = next;
    } while (cursor !== "0");
    return found.size === 0 ? 0 : await this.redis.del(...found);
  }
}
