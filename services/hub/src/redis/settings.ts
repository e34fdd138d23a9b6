import type { Redis } from "ioredis";
import type { AppSettings } from "../desired/index.js";
import type { SettingsStore } from "../store.js";
import { fromJson } from "./json.js";
import { keys } from "./keys.js";

/** Settings snapshots by digest; written once (SET NX), never changed. */
export class RedisSettingsStore implements SettingsStore {
  constructor(private readonly redis: Redis) {}

  async putSettings(digest: string, settings: AppSettings): Promise<void> {
    await this.redis.set(keys.settings(digest), JSON.stringify(settings), "NX");
  }

  async getSettings(digest: string): Promise<AppSettings | undefined> {
    return fromJson<AppSettings>(await this.redis.get(keys.settings(digest)));
  }
}
