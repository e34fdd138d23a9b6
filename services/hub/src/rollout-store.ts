import type { Redis } from "ioredis";
import { NotLeaderError } from "./errors.js";
import { KEY_PREFIX } from "./redis-store.js";
import { isSettled, type RolloutPhase, type RolloutState } from "./rollout/index.js";
import type { Lease } from "./store.js";

/** A stored rollout and the exact text it was read as, the token of a later compare-and-set. */
export interface StoredRollout {
  rollout: RolloutState;
  /** The JSON as stored; pass it back to {@link RolloutStore.compareAndSet}. */
  raw: string;
}

/** Filters of `GET /v1/rollouts`; all optional, combined with AND. */
export interface RolloutFilter {
  app?: string;
  environment?: string;
  state?: RolloutPhase;
}

/**
 * Where rollouts live. Every change of a stored rollout is a compare-and-set on the text read
 * before, so a command from any API replica and the leader's step can never overwrite each
 * other; the leader's writes also carry its lease, so a deposed leader changes nothing.
 */
export interface RolloutStore {
  /** Stores a new rollout (fenced); false when the id is taken. */
  create(rollout: RolloutState, fence: Lease): Promise<boolean>;
  get(id: string): Promise<StoredRollout | undefined>;
  /**
   * Replaces `expected` by `next`; false when the stored text changed meanwhile (read again and
   * retry). With `fence`, throws NotLeaderError when that lease no longer holds.
   */
  compareAndSet(expected: StoredRollout, next: RolloutState, fence?: Lease): Promise<boolean>;
  /** Newest first. */
  list(filter: RolloutFilter): Promise<RolloutState[]>;
  /** Ids of rollouts the engine still steps (not settled), oldest first. */
  unsettled(): Promise<string[]>;
  /** The most recently created rollout of (app, environment). */
  latest(app: string, environment: string): Promise<StoredRollout | undefined>;
  /**
   * The newest Succeeded rollout of (app, environment): its toRevision is the last good
   * revision. Derived from the rollouts themselves, so no separate record can lag behind.
   */
  lastSucceeded(app: string, environment: string): Promise<RolloutState | undefined>;
}

const k = {
  rollout: (id: string) => `${KEY_PREFIX}rollout:${id}`,
  all: `${KEY_PREFIX}rollouts`,
  by: (app: string, env: string) => `${KEY_PREFIX}rollouts-by:${app}:${env}`,
  active: `${KEY_PREFIX}rollouts-active`,
  leader: `${KEY_PREFIX}leader`,
};

const CREATE = `
if redis.call('GET', KEYS[5]) ~= ARGV[4] then return -1 end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[2])
return 1`;

const CAS = `
if ARGV[5] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[5] then return -1 end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[4] == '1' then redis.call('SREM', KEYS[2], ARGV[3]) else redis.call('SADD', KEYS[2], ARGV[3]) end
return 1`;

function leaseValue(lease: Lease): string {
  return `${lease.holder}|${lease.token}`;
}

/**
 * Redis layout (under `flotilla:`): `rollout:<id>` the RolloutState JSON; `rollouts` and
 * `rollouts-by:<app>:<env>` sorted sets of ids scored by detection time; `rollouts-active` the
 * set of unsettled ids the leader steps.
 */
export class RedisRolloutStore implements RolloutStore {
  constructor(private readonly redis: Redis) {}

  async create(rollout: RolloutState, fence: Lease): Promise<boolean> {
    const result = Number(
      await this.redis.eval(
        CREATE,
        5,
        k.rollout(rollout.id),
        k.all,
        k.by(rollout.app, rollout.environment),
        k.active,
        k.leader,
        JSON.stringify(rollout),
        rollout.id,
        rollout.detectedAtMs,
        leaseValue(fence),
      ),
    );
    if (result < 0) throw new NotLeaderError(`replica ${fence.holder} no longer holds leader lease ${fence.token}`);
    return result === 1;
  }

  async get(id: string): Promise<StoredRollout | undefined> {
    const raw = await this.redis.get(k.rollout(id));
    return raw == null ? undefined : { raw, rollout: JSON.parse(raw) as RolloutState };
  }

  async compareAndSet(expected: StoredRollout, next: RolloutState, fence?: Lease): Promise<boolean> {
    const result = Number(
      await this.redis.eval(
        CAS,
        3,
        k.rollout(next.id),
        k.active,
        k.leader,
        expected.raw,
        JSON.stringify(next),
        next.id,
        isSettled(next) ? "1" : "0",
        fence ? leaseValue(fence) : "",
      ),
    );
    if (result < 0 && fence)
      throw new NotLeaderError(`replica ${fence.holder} no longer holds leader lease ${fence.token}`);
    return result === 1;
  }

  async list(filter: RolloutFilter): Promise<RolloutState[]> {
    const ids =
      filter.app !== undefined && filter.environment !== undefined
        ? await this.redis.zrevrange(k.by(filter.app, filter.environment), 0, -1)
        : await this.redis.zrevrange(k.all, 0, -1);
    if (ids.length === 0) return [];
    const values = await this.redis.mget(ids.map(k.rollout));
    return values
      .flatMap((v) => (v == null ? [] : [JSON.parse(v) as RolloutState]))
      .filter(
        (r) =>
          (filter.app === undefined || r.app === filter.app) &&
          (filter.environment === undefined || r.environment === filter.environment) &&
          (filter.state === undefined || r.state === filter.state),
      );
  }

  async unsettled(): Promise<string[]> {
    const ids = await this.redis.smembers(k.active);
    if (ids.length === 0) return [];
    const scores = await Promise.all(ids.map((id) => this.redis.zscore(k.all, id)));
    return ids
      .map((id, i) => ({ id, at: Number(scores[i] ?? 0) }))
      .sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1))
      .map((x) => x.id);
  }

  async latest(app: string, environment: string): Promise<StoredRollout | undefined> {
    const [id] = await this.redis.zrevrange(k.by(app, environment), 0, 0);
    return id === undefined ? undefined : this.get(id);
  }

  async lastSucceeded(app: string, environment: string): Promise<RolloutState | undefined> {
    return (await this.list({ app, environment, state: "Succeeded" }))[0];
  }
}
