import type { Redis } from "ioredis";
import { NotLeaderError } from "../errors.js";
import type {
  ClusterStatus,
  DesiredRecord,
  HeadRecord,
  Lease,
  RecordOf,
  ReportRecord,
  Store,
  StoredKind,
} from "../store.js";

/**
 * Redis key layout (all under `flotilla:`):
 * - `obj:<kind>:<name>` JSON record; `idx:<kind>` set of names (kind lowercase: cluster, team, repo, app, environment)
 * - `cluster-status:<cluster>` JSON ClusterStatus
 * - `gen:<cluster>.<app>` generation counter (INCR; never reset, not even on deregistration)
 * - `desired:<cluster>.<app>` JSON DesiredRecord; `desired-by-cluster:<cluster>`, `desired-by-app:<app>` index sets
 * - `report:<cluster>.<app>` JSON ReportRecord; `report-by-cluster:<cluster>`, `report-by-app:<app>` index sets
 * - `head:<repo>:<environment>` JSON HeadRecord
 * - `hub-signing-key` sealed PKCS#8 PEM of a generated hub key
 * - `leader` lease value `<holder>|<token>` with a TTL; `leader-fence` fencing token counter
 * - pub/sub channels `events` (SSE fan-out) and `nudge` (wake the tracker for one repo)
 */
export const KEY_PREFIX = "flotilla:";

const k = {
  obj: (kind: StoredKind, name: string) => `${KEY_PREFIX}obj:${kind.toLowerCase()}:${name}`,
  idx: (kind: StoredKind) => `${KEY_PREFIX}idx:${kind.toLowerCase()}`,
  status: (cluster: string) => `${KEY_PREFIX}cluster-status:${cluster}`,
  gen: (cluster: string, app: string) => `${KEY_PREFIX}gen:${cluster}.${app}`,
  desired: (cluster: string, app: string) => `${KEY_PREFIX}desired:${cluster}.${app}`,
  desiredByCluster: (cluster: string) => `${KEY_PREFIX}desired-by-cluster:${cluster}`,
  desiredByApp: (app: string) => `${KEY_PREFIX}desired-by-app:${app}`,
  report: (cluster: string, app: string) => `${KEY_PREFIX}report:${cluster}.${app}`,
  reportByCluster: (cluster: string) => `${KEY_PREFIX}report-by-cluster:${cluster}`,
  reportByApp: (app: string) => `${KEY_PREFIX}report-by-app:${app}`,
  head: (repo: string, env: string) => `${KEY_PREFIX}head:${repo}:${env}`,
  signingKey: `${KEY_PREFIX}hub-signing-key`,
  leader: `${KEY_PREFIX}leader`,
  fence: `${KEY_PREFIX}leader-fence`,
};

/** Pub/sub channel carrying hub events to every replica's SSE clients. */
export const EVENTS_CHANNEL = `${KEY_PREFIX}events`;
/** Pub/sub channel asking the leader's tracker to poll one repo now (webhooks, registry changes). */
export const NUDGE_CHANNEL = `${KEY_PREFIX}nudge`;

const CREATE = `if redis.call('SET', KEYS[1], ARGV[1], 'NX') then redis.call('SADD', KEYS[2], ARGV[2]) return 1 end return 0`;

const ALLOCATE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local g = redis.call('INCR', KEYS[2])
local floor = tonumber(ARGV[2])
if g < floor then redis.call('SET', KEYS[2], floor) g = floor end
return g`;

const ACQUIRE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local t = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. t, 'PX', ARGV[2])
return t`;

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end return 0`;

function leaseValue(lease: Lease): string {
  return `${lease.holder}|${lease.token}`;
}

function parse<T>(text: string | null | undefined): T | undefined {
  return text == null ? undefined : (JSON.parse(text) as T);
}

/** The Store over one Redis (or a Redis primary behind Sentinel: pass the connected client). */
export class RedisStore implements Store {
  constructor(private readonly redis: Redis) {}

  async getObject<K extends StoredKind>(kind: K, name: string): Promise<RecordOf[K] | undefined> {
    return parse<RecordOf[K]>(await this.redis.get(k.obj(kind, name)));
  }

  async listObjects<K extends StoredKind>(kind: K): Promise<RecordOf[K][]> {
    const names = (await this.redis.smembers(k.idx(kind))).sort();
    if (names.length === 0) return [];
    const values = await this.redis.mget(names.map((n) => k.obj(kind, n)));
    return values.flatMap((v) => (v == null ? [] : [JSON.parse(v) as RecordOf[K]]));
  }

  async createObject<K extends StoredKind>(kind: K, record: RecordOf[K]): Promise<boolean> {
    const created = await this.redis.eval(
      CREATE,
      2,
      k.obj(kind, record.name),
      k.idx(kind),
      JSON.stringify(record),
      record.name,
    );
    return created === 1;
  }

  async putObject<K extends StoredKind>(kind: K, record: RecordOf[K]): Promise<void> {
    await this.redis
      .multi()
      .set(k.obj(kind, record.name), JSON.stringify(record))
      .sadd(k.idx(kind), record.name)
      .exec();
  }

  async deleteObject(kind: StoredKind, name: string): Promise<boolean> {
    const result = await this.redis.multi().del(k.obj(kind, name)).srem(k.idx(kind), name).exec();
    return result?.[0]?.[1] === 1;
  }

  async getClusterStatus(cluster: string): Promise<ClusterStatus | undefined> {
    return parse<ClusterStatus>(await this.redis.get(k.status(cluster)));
  }

  async getClusterStatuses(clusters: readonly string[]): Promise<Map<string, ClusterStatus>> {
    const statuses = new Map<string, ClusterStatus>();
    if (clusters.length === 0) return statuses;
    const values = await this.redis.mget(clusters.map(k.status));
    clusters.forEach((name, i) => {
      const status = parse<ClusterStatus>(values[i]);
      if (status) statuses.set(name, status);
    });
    return statuses;
  }

  async putClusterStatus(cluster: string, status: ClusterStatus): Promise<void> {
    await this.redis.set(k.status(cluster), JSON.stringify(status));
  }

  async forgetCluster(cluster: string): Promise<void> {
    const [desiredApps, reportApps] = await Promise.all([
      this.redis.smembers(k.desiredByCluster(cluster)),
      this.redis.smembers(k.reportByCluster(cluster)),
    ]);
    const tx = this.redis.multi().del(k.status(cluster), k.desiredByCluster(cluster), k.reportByCluster(cluster));
    for (const app of desiredApps) tx.del(k.desired(cluster, app)).srem(k.desiredByApp(app), cluster);
    for (const app of reportApps) tx.del(k.report(cluster, app)).srem(k.reportByApp(app), cluster);
    await tx.exec();
  }

  async allocateGeneration(cluster: string, app: string, floor: number, fence: Lease): Promise<number> {
    const g = Number(await this.redis.eval(ALLOCATE, 2, k.leader, k.gen(cluster, app), leaseValue(fence), floor));
    if (g < 0) throw new NotLeaderError(`replica ${fence.holder} no longer holds leader lease ${fence.token}`);
    return g;
  }

  async currentGeneration(cluster: string, app: string): Promise<number> {
    return Number((await this.redis.get(k.gen(cluster, app))) ?? 0);
  }

  async getDesired(cluster: string, app: string): Promise<DesiredRecord | undefined> {
    return parse<DesiredRecord>(await this.redis.get(k.desired(cluster, app)));
  }

  async putDesired(record: DesiredRecord): Promise<void> {
    await this.redis
      .multi()
      .set(k.desired(record.cluster, record.app), JSON.stringify(record))
      .sadd(k.desiredByCluster(record.cluster), record.app)
      .sadd(k.desiredByApp(record.app), record.cluster)
      .exec();
  }

  async listDesired(by: { cluster?: string; app?: string }): Promise<DesiredRecord[]> {
    return this.#listPairs(by, k.desiredByCluster, k.desiredByApp, k.desired);
  }

  async getReport(cluster: string, app: string): Promise<ReportRecord | undefined> {
    return parse<ReportRecord>(await this.redis.get(k.report(cluster, app)));
  }

  async putReport(record: ReportRecord): Promise<void> {
    await this.redis
      .multi()
      .set(k.report(record.cluster, record.app), JSON.stringify(record))
      .sadd(k.reportByCluster(record.cluster), record.app)
      .sadd(k.reportByApp(record.app), record.cluster)
      .exec();
  }

  async listReports(by: { cluster?: string; app?: string }): Promise<ReportRecord[]> {
    return this.#listPairs(by, k.reportByCluster, k.reportByApp, k.report);
  }

  async #listPairs<T>(
    by: { cluster?: string; app?: string },
    byCluster: (c: string) => string,
    byApp: (a: string) => string,
    key: (c: string, a: string) => string,
  ): Promise<T[]> {
    let keys: string[];
    if (by.cluster !== undefined) {
      const cluster = by.cluster;
      keys = (await this.redis.smembers(byCluster(cluster))).map((app) => key(cluster, app));
    } else if (by.app !== undefined) {
      const app = by.app;
      keys = (await this.redis.smembers(byApp(app))).map((cluster) => key(cluster, app));
    } else {
      const clusters = await this.redis.smembers(k.idx("Cluster"));
      const perCluster = await Promise.all(
        clusters.map(async (c) => (await this.redis.smembers(byCluster(c))).map((a) => key(c, a))),
      );
      keys = perCluster.flat();
    }
    if (keys.length === 0) return [];
    keys.sort();
    const values = await this.redis.mget(keys);
    return values.flatMap((v) => (v == null ? [] : [JSON.parse(v) as T]));
  }

  async getHead(repo: string, environment: string): Promise<HeadRecord | undefined> {
    return parse<HeadRecord>(await this.redis.get(k.head(repo, environment)));
  }

  async putHead(record: HeadRecord): Promise<void> {
    await this.redis.set(k.head(record.repo, record.environment), JSON.stringify(record));
  }

  async getSealedSigningKey(): Promise<string | undefined> {
    return (await this.redis.get(k.signingKey)) ?? undefined;
  }

  async setSealedSigningKeyIfAbsent(sealed: string): Promise<string> {
    await this.redis.set(k.signingKey, sealed, "NX");
    return (await this.redis.get(k.signingKey)) ?? sealed;
  }

  async acquireLease(holder: string, ttlMs: number): Promise<Lease | undefined> {
    const token = Number(await this.redis.eval(ACQUIRE, 2, k.leader, k.fence, holder, ttlMs));
    return token > 0 ? { holder, token } : undefined;
  }

  async renewLease(lease: Lease, ttlMs: number): Promise<boolean> {
    return (await this.redis.eval(RENEW, 1, k.leader, leaseValue(lease), ttlMs)) === 1;
  }

  async releaseLease(lease: Lease): Promise<void> {
    await this.redis.eval(RELEASE, 1, k.leader, leaseValue(lease));
  }

  async currentLease(): Promise<Lease | undefined> {
    const value = await this.redis.get(k.leader);
    if (!value) return undefined;
    const at = value.lastIndexOf("|");
    return { holder: value.slice(0, at), token: Number(value.slice(at + 1)) };
  }
}
