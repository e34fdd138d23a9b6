import type { Redis } from "ioredis";
import type { SigningKeyStore } from "../store.js";
import { keys } from "./keys.js";

/** The generated hub signing key, sealed, set once by whichever replica starts first. */
export class RedisSigningKeyStore implements SigningKeyStore {
  constructor(private readonly redis: Redis) {}

  async getSealedSigningKey(): Promise<string | undefined> {
    return (await this.redis.get(keys.signingKey)) ?? undefined;
  }

  async setSealedSigningKeyIfAbsent(sealed: string): Promise<string> {
    await this.redis.set(keys.signingKey, sealed, "NX");
    return (await this.redis.get(keys.signingKey)) ?? sealed;
  }
}
