import type { Redis } from "ioredis";
import { NotLeaderError } from "../errors.js";
import type {
  DesiredBatchStore,
  DesiredRecord,
  GenerationStore,
  Lease,
  ReportRecord,
  ReportStore,
  SerializedReport,
} from "../store.js";
import { allFromJson, fromJson, ParsedCache } from "./json.js";
import { keys, leaseValue } from "./keys.js";
import { ALLOCATE_GENERATION, ALLOCATE_GENERATIONS } from "./scripts.js";

/** Filter of a listing: one cluster, one app, or (neither) every registered cluster. */
type PairFilter = { cluster?: string; app?: string };
/** One (cluster, app). */
type PairKey = { cluster: string; app: string };

/**
 * JSON records kept per (cluster, app), each listed in an index set of its cluster and one of
 * its app, so either side is listed without a scan.
 */
class PairRecords<T extends { cluster: string; app: string }> {
  constructor(
    private readonly redis: Redis,
    private readonly key: (cluster: string, app: string) => string,
    private readonly byCluster: (cluster: string) => string,
    private readonly byApp: (app: string) => string,
    /** Reuses parsed values whose text did not change (their readers must not modify them). */
    private readonly parsed?: ParsedCache<T>,
  ) {}

  #parse(key: string, text: string | null | undefined): T | undefined {
    return this.parsed ? this.parsed.parse(key, text) : fromJson<T>(text);
  }

  async get(cluster: string, app: string): Promise<T | undefined> {
    const key = this.key(cluster, app);
    return this.#parse(key, await this.redis.get(key));
  }

  async put(record: T): Promise<void> {
    await this.putAll([record]);
  }

  async getAll(pairs: readonly PairKey[]): Promise<(T | undefined)[]> {
    if (pairs.length === 0) return [];
    const names = pairs.map((p) => this.key(p.cluster, p.app));
    const texts = await this.redis.mget(names);
    return texts.map((text, i) => this.#parse(names[i]!, text));
  }

  /** Whether each pair has a record, in the order asked; one round trip. */
  async exist(pairs: readonly PairKey[]): Promise<boolean[]> {
    if (pairs.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const p of pairs) pipeline.exists(this.key(p.cluster, p.app));
    const results = (await pipeline.exec()) ?? [];
    return pairs.map((_, i) => {
      const [err, count] = results[i] ?? [new Error("no answer"), 0];
      if (err) throw err;
      return count === 1;
    });
  }

  /** One transaction: every record with its index entries, so a listing never sees half of them. */
  async putAll(records: readonly T[]): Promise<void> {
    await this.putTexts(records.map((r) => ({ cluster: r.cluster, app: r.app, json: JSON.stringify(r) })));
  }

  /** {@link putAll} of records already serialized. */
  async putTexts(items: readonly { cluster: string; app: string; json: string }[]): Promise<void> {
    if (items.length === 0) return;
    const tx = this.redis.multi();
    for (const { cluster, app, json } of items) {
      tx.set(this.key(cluster, app), json).sadd(this.byCluster(cluster), app).sadd(this.byApp(app), cluster);
    }
    await tx.exec();
  }

  async list(by: PairFilter): Promise<T[]> {
    let names: string[];
    if (by.cluster !== undefined) {
      const cluster = by.cluster;
      names = (await this.redis.smembers(this.byCluster(cluster))).map((app) => this.key(cluster, app));
    } else if (by.app !== undefined) {
      const app = by.app;
      names = (await this.redis.smembers(this.byApp(app))).map((cluster) => this.key(cluster, app));
    } else {
      const clusters = await this.redis.smembers(keys.objectIndex("Cluster"));
      const perCluster = await Promise.all(
        clusters.map(async (c) => (await this.redis.smembers(this.byCluster(c))).map((a) => this.key(c, a))),
      );
      names = perCluster.flat();
    }
    if (names.length === 0) return [];
    names.sort();
    const texts = await this.redis.mget(names);
    if (!this.parsed) return allFromJson<T>(texts);
    return texts.flatMap((text, i) => {
      const value = this.#parse(names[i]!, text);
      return value === undefined ? [] : [value];
    });
  }
}

/** The last published desired state per (cluster, app). */
export class RedisDesiredStore implements DesiredBatchStore {
  readonly #records: PairRecords<DesiredRecord>;

  constructor(redis: Redis) {
    this.#records = new PairRecords(redis, keys.desired, keys.desiredByCluster, keys.desiredByApp);
  }

  getDesired(cluster: string, app: string): Promise<DesiredRecord | undefined> {
    return this.#records.get(cluster, app);
  }

  putDesired(record: DesiredRecord): Promise<void> {
    return this.#records.put(record);
  }

  getDesiredMany(pairs: readonly PairKey[]): Promise<(DesiredRecord | undefined)[]> {
    return this.#records.getAll(pairs);
  }

  putDesiredMany(records: readonly DesiredRecord[]): Promise<void> {
    return this.#records.putAll(records);
  }

  listDesired(by: PairFilter): Promise<DesiredRecord[]> {
    return this.#records.list(by);
  }

  /** Whether a desired state was ever published for each pair, in the order asked: one round trip. */
  async published(pairs: readonly PairKey[]): Promise<boolean[]> {
    return this.#records.exist(pairs);
  }
}

/** The last verified report per (cluster, app). */
export class RedisReportStore implements ReportStore {
  readonly #records: PairRecords<ReportRecord>;

  constructor(redis: Redis) {
    this.#records = new PairRecords(redis, keys.report, keys.reportByCluster, keys.reportByApp, new ParsedCache());
  }

  getReport(cluster: string, app: string): Promise<ReportRecord | undefined> {
    return this.#records.get(cluster, app);
  }

  putReport(record: ReportRecord): Promise<void> {
    return this.#records.put(record);
  }

  getReports(pairs: readonly PairKey[]): Promise<(ReportRecord | undefined)[]> {
    return this.#records.getAll(pairs);
  }

  putReports(reports: readonly SerializedReport[]): Promise<void> {
    return this.#records.putTexts(reports);
  }

  listReports(by: PairFilter): Promise<ReportRecord[]> {
    return this.#records.list(by);
  }
}

/** Generation counters per (cluster, app), incremented only behind the leader lease. */
export class RedisGenerationStore implements GenerationStore {
  constructor(private readonly redis: Redis) {}

  async allocateGeneration(cluster: string, app: string, floor: number, fence: Lease): Promise<number> {
    const g = Number(
      await this.redis.eval(
        ALLOCATE_GENERATION,
        2,
        keys.leader,
        keys.generation(cluster, app),
        leaseValue(fence),
        floor,
      ),
    );
    if (g < 0) throw new NotLeaderError(`replica ${fence.holder} no longer holds leader lease ${fence.token}`);
    return g;
  }

  async allocateGenerations(
    requests: readonly { cluster: string; app: string; floor: number }[],
    fence: Lease,
  ): Promise<number[]> {
    if (requests.length === 0) return [];
    const answer = await this.redis.eval(
      ALLOCATE_GENERATIONS,
      requests.length + 1,
      keys.leader,
      ...requests.map((r) => keys.generation(r.cluster, r.app)),
      leaseValue(fence),
      ...requests.map((r) => r.floor),
    );
    if (!Array.isArray(answer))
      throw new NotLeaderError(`replica ${fence.holder} no longer holds leader lease ${fence.token}`);
    return answer.map(Number);
  }
}
