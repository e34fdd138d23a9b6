import type { Redis } from "ioredis";
import type { SigningKeyStore } from "../store.js";
import { keys } from "./keys.js";
import { PUT_HUB_KEY_SET } from "./scripts.js";

/** The generated hub signing key and the key set grown from it, sealed, shared by every replica. */
export class RedisSigningKeyStore implements SigningKeyStore {
  constructor(private readonly redis: Redis) {}

  async getSealedSigningKey(): Promise<string | undefined> {
    return (await this.redis.get(keys.signingKey)) ?? undefined;
  }

  async setSealedSigningKeyIfAbsent(sealed: string): Promise<string> {
    await this.redis.set(keys.signingKey, sealed, "NX");
    return (await this.redis.get(keys.signingKey)) ?? sealed;
  }

  async getSealedKeySet(): Promise<{ version: number; sealed: string } | undefined> {
    const [version, sealed] = await this.redis.hmget(keys.hubKeySet, "version", "sealed");
    if (version == null || sealed == null) return undefined;
    return { version: Number(version), sealed };
  }

  async putSealedKeySet(sealed: string, version: number, expected: number | undefined): Promise<boolean> {
    const stored = await this.redis.eval(
      PUT_HUB_KEY_SET,
      1,
      keys.hubKeySet,
      expected === undefined ? "" : String(expected),
      String(version),
      sealed,
    );
    return stored === 1;
  }
}
