import type { Redis } from "ioredis";
import { EXPIRED_TOKEN_RETENTION_MS, type TokenRecord, type TokenStore } from "../store.js";
import { allFromJson, fromJson } from "./json.js";
import { keys } from "./keys.js";

/**
 * Tokens: one JSON record per token (its secret only as a digest), a set of ids, and a hash of
 * last-use times kept apart so a use never rewrites the record. An expiring token's record
 * expires in Redis {@link EXPIRED_TOKEN_RETENTION_MS} after the token does.
 */
export class RedisTokenStore implements TokenStore {
  constructor(private readonly redis: Redis) {}

  async create(record: TokenRecord): Promise<void> {
    const tx = this.redis.multi().set(keys.token(record.id), JSON.stringify(record)).sadd(keys.tokens, record.id);
    if (record.expiresAtMs !== undefined) {
      tx.pexpireat(keys.token(record.id), record.expiresAtMs + EXPIRED_TOKEN_RETENTION_MS);
    }
    await tx.exec();
  }

  async get(id: string): Promise<TokenRecord | undefined> {
    return fromJson<TokenRecord>(await this.redis.get(keys.token(id)));
  }

  async list(): Promise<(TokenRecord & { lastUsedAtMs?: number })[]> {
    const ids = (await this.redis.smembers(keys.tokens)).sort();
    if (ids.length === 0) return [];
    const [texts, used] = await Promise.all([
      this.redis.mget(ids.map((id) => keys.token(id))),
      this.redis.hmget(keys.tokensLastUsed, ...ids),
    ]);
    // Records that expired out of Redis leave their id behind: drop it now.
    const gone = ids.filter((_, i) => texts[i] == null);
    if (gone.length > 0) {
      await this.redis
        .multi()
        .srem(keys.tokens, ...gone)
        .hdel(keys.tokensLastUsed, ...gone)
        .exec();
    }
    const lastUsed = new Map(ids.map((id, i) => [id, used[i]]));
    return allFromJson<TokenRecord>(texts).map((r) => {
      const at = lastUsed.get(r.id);
      return at ? { ...r, lastUsedAtMs: Number(at) } : r;
    });
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.redis
      .multi()
      .del(keys.token(id))
      .srem(keys.tokens, id)
      .hdel(keys.tokensLastUsed, id)
      .exec();
    return result?.[0]?.[1] === 1;
  }

  async touch(id: string, atMs: number): Promise<void> {
    await this.redis.hset(keys.tokensLastUsed, id, String(atMs));
  }
}
