import type { Redis } from "ioredis";
import type { HeadRecord, HeadStore } from "../store.js";
import { fromJson } from "./json.js";
import { keys } from "./keys.js";

/** The last branch head seen per (repo, environment). */
export class RedisHeadStore implements HeadStore {
  constructor(private readonly redis: Redis) {}

  async getHead(repo: string, environment: string): Promise<HeadRecord | undefined> {
    return fromJson<HeadRecord>(await this.redis.get(keys.head(repo, environment)));
  }

  async putHead(record: HeadRecord): Promise<void> {
    await this.redis.set(keys.head(record.repo, record.environment), JSON.stringify(record));
  }
}
