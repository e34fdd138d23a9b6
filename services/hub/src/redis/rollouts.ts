import type { Redis } from "ioredis";
import { NotLeaderError } from "../errors.js";
import { isSettled, type RolloutPhase, type RolloutState } from "../rollout/index.js";
import { KEY_PREFIX } from "./store.js";

/**
 * Ended rollouts kept per (app, environment): the newest this many stay listed in
 * `GET /v1/rollouts`; older ones that have settled are deleted when a new rollout is created.
 * Rollouts in flight (or still finishing rollback writes) and the last succeeded one are kept
 * whatever their age, so the last good revision never goes with them.
 */
export const ROLLOUT_RETENTION = 50;

import type { Lease } from "../store.js";

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
  /** Newest first; at most {@link ROLLOUT_RETENTION} ended ones per (app, environment) are kept. */
  list(filter: RolloutFilter): Promise<RolloutState[]>;
  /** Ids of rollouts the engine still steps (not settled), oldest first. */
  unsettled(): Promise<string[]>;
  /** Unsettled rollouts of (app, environment): the ones that own their clusters now. */
  active(app: string, environment: string): Promise<RolloutState[]>;
  /** The most recently created rollout of (app, environment). */
  latest(app: string, environment: string): Promise<StoredRollout | undefined>;
  /**
   * The newest Succeeded rollout of (app, environment): its toRevision is the last good
   * revision. Read through a pointer that the compare-and-set saving a Succeeded rollout
   * moves in the same script, so it cannot lag behind the rollouts and needs no scan.
   */
  lastSucceeded(app: string, environment: string): Promise<RolloutState | undefined>;
}

const k = {
  rollout: (id: string) => `${KEY_PREFIX}rollout:${id}`,
  all: `${KEY_PREFIX}rollouts`,
  by: (app: string, env: string) => `${KEY_PREFIX}rollouts-by:${app}:${env}`,
  active: `${KEY_PREFIX}rollouts-active`,
  lastGood: (app: string, env: string) => `${KEY_PREFIX}rollout-last-good:${app}:${env}`,
  leader: `${KEY_PREFIX}leader`,
};

const CREATE = `
if redis.call('GET', KEYS[5]) ~= ARGV[4] then return -1 end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[2])
return 1`;

// KEYS: rollout, active set, leader, last-good pointer, by-(app, env) sorted set.
// ARGV[6] == '1' when the new state is Succeeded: the pointer moves to this rollout unless it
// already names a newer one (by detection score), so it only ever moves forward.
const CAS = `
if ARGV[5] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[5] then return -1 end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[4] == '1' then redis.call('SREM', KEYS[2], ARGV[3]) else redis.call('SADD', KEYS[2], ARGV[3]) end
if ARGV[6] == '1' then
  local current = redis.call('GET', KEYS[4])
  local mine = redis.call('ZSCORE', KEYS[5], ARGV[3])
  local theirs = current and redis.call('ZSCORE', KEYS[5], current)
  if not theirs or (mine and tonumber(theirs) <= tonumber(mine)) then redis.call('SET', KEYS[4], ARGV[3]) end
end
return 1`;

function leaseValue(lease: Lease): string {
  return `${lease.holder}|${lease.token}`;
}

/**
 * Redis layout (under `flotilla:`): `rollout:<id>` the RolloutState JSON; `rollouts` and
 * `rollouts-by:<app>:<env>` sorted sets of ids scored by detection time; `rollouts-active` the
 * set of unsettled ids the leader steps; `rollout-last-good:<app>:<env>` the id of the newest
 * Succeeded rollout.
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
    if (result === 1) await this.#prune(rollout.app, rollout.environment);
    return result === 1;
  }

  /**
   * Deletes settled rollouts of (app, environment) beyond the newest {@link ROLLOUT_RETENTION},
   * except the last succeeded one. Settled is final (commands refuse ended rollouts), so what
   * is deleted cannot come back to life between the read and the delete.
   */
  async #prune(app: string, environment: string): Promise<void> {
    const old = await this.redis.zrevrange(k.by(app, environment), ROLLOUT_RETENTION, -1);
    if (old.length === 0) return;
    const [pointer, members] = await Promise.all([
      this.redis.get(k.lastGood(app, environment)),
      this.redis.smismember(k.active, ...old),
    ]);
    const doomed = old.filter((id, i) => members[i] !== 1 && id !== pointer);
    if (doomed.length === 0) return;
    await this.redis
      .multi()
      .del(...doomed.map(k.rollout))
      .zrem(k.all, ...doomed)
      .zrem(k.by(app, environment), ...doomed)
      .exec();
  }

  async get(id: string): Promise<StoredRollout | undefined> {
    const raw = await this.redis.get(k.rollout(id));
    return raw == null ? undefined : { raw, rollout: JSON.parse(raw) as RolloutState };
  }

  async compareAndSet(expected: StoredRollout, next: RolloutState, fence?: Lease): Promise<boolean> {
    const result = Number(
      await this.redis.eval(
        CAS,
        5,
        k.rollout(next.id),
        k.active,
        k.leader,
        k.lastGood(next.app, next.environment),
        k.by(next.app, next.environment),
        expected.raw,
        JSON.stringify(next),
        next.id,
        isSettled(next) ? "1" : "0",
        fence ? leaseValue(fence) : "",
        next.state === "Succeeded" ? "1" : "0",
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

  async active(app: string, environment: string): Promise<RolloutState[]> {
    const ids = await this.redis.smembers(k.active);
    if (ids.length === 0) return [];
    const values = await this.redis.mget(ids.map(k.rollout));
    return values
      .flatMap((v) => (v == null ? [] : [JSON.parse(v) as RolloutState]))
      .filter((r) => r.app === app && r.environment === environment && !isSettled(r));
  }

  async latest(app: string, environment: string): Promise<StoredRollout | undefined> {
    const [id] = await this.redis.zrevrange(k.by(app, environment), 0, 0);
    return id === undefined ? undefined : this.get(id);
  }

  async lastSucceeded(app: string, environment: string): Promise<RolloutState | undefined> {
    const id = await this.redis.get(k.lastGood(app, environment));
    if (id != null) {
      const r = (await this.get(id))?.rollout;
      if (r?.state === "Succeeded") return r;
    }
    // No pointer yet: rollouts stored before it existed, or none succeeded. Scan once (at most
    // the retained rollouts) and record what was found, without overwriting a newer pointer.
    const found = (await this.list({ app, environment, state: "Succeeded" }))[0];
    if (found) await this.redis.set(k.lastGood(app, environment), found.id, "NX");
    return found;
  }
}
