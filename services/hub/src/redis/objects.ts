import type { Redis } from "ioredis";
import type { ObjectStore, RecordOf, StoredKind } from "../store.js";
import { allFromJson, fromJson } from "./json.js";
import { keys } from "./keys.js";
import { CREATE_OBJECT } from "./scripts.js";

/** Registry objects: one JSON value per object and a set of names per kind. */
export class RedisObjectStore implements ObjectStore {
  constructor(private readonly redis: Redis) {}

  async getObject<K extends StoredKind>(kind: K, name: string): Promise<RecordOf[K] | undefined> {
    return fromJson<RecordOf[K]>(await this.redis.get(keys.object(kind, name)));
  }

  async listNames(kind: StoredKind): Promise<string[]> {
    return (await this.redis.smembers(keys.objectIndex(kind))).sort();
  }

  async listObjects<K extends StoredKind>(kind: K): Promise<RecordOf[K][]> {
    const names = await this.listNames(kind);
    if (names.length === 0) return [];
    return allFromJson<RecordOf[K]>(await this.redis.mget(names.map((n) => keys.object(kind, n))));
  }

  async getObjects<K extends StoredKind>(kind: K, names: readonly string[]): Promise<Map<string, RecordOf[K]>> {
    const found = new Map<string, RecordOf[K]>();
    if (names.length === 0) return found;
    const texts = await this.redis.mget(names.map((n) => keys.object(kind, n)));
    names.forEach((name, i) => {
      const record = fromJson<RecordOf[K]>(texts[i]);
      if (record) found.set(name, record);
    });
    return found;
  }

  async createObject<K extends StoredKind>(kind: K, record: RecordOf[K]): Promise<boolean> {
    const created = await this.redis.eval(
      CREATE_OBJECT,
      2,
      keys.object(kind, record.name),
      keys.objectIndex(kind),
      JSON.stringify(record),
      record.name,
    );
    return created === 1;
  }

  async putObject<K extends StoredKind>(kind: K, record: RecordOf[K]): Promise<void> {
    await this.redis
      .multi()
      .set(keys.object(kind, record.name), JSON.stringify(record))
      .sadd(keys.objectIndex(kind), record.name)
      .exec();
  }

  async deleteObject(kind: StoredKind, name: string): Promise<boolean> {
    const result = await this.redis.multi().del(keys.object(kind, name)).srem(keys.objectIndex(kind), name).exec();
    return result?.[0]?.[1] === 1;
  }
}
