import type { Redis } from "ioredis";
import { NotLeaderError } from "../errors.js";
import { isSettled, type RolloutState, readRollout } from "../rollout/index.js";
import { type Lease, ROLLOUT_RETENTION, type RolloutFilter, type RolloutStore, type StoredRollout } from "../store.js";
import { allFromJson } from "./json.js";
import { keys, leaseValue } from "./keys.js";
import { CREATE_ROLLOUT, SAVE_ROLLOUT } from "./scripts.js";

function notLeader(fence: Lease): NotLeaderError {
  return new NotLeaderError(`replica ${fence.holder} no longer holds leader lease ${fence.token}`);
}

/**
 * Rollouts as whole JSON texts, listed in sorted sets by detection time, with the set of
 * unsettled ids the leader steps and a last-good pointer per (app, environment); see `keys.ts`.
 */
export class RedisRolloutStore implements RolloutStore {
  constructor(private readonly redis: Redis) {}

  async create(rollout: RolloutState, fence: Lease): Promise<boolean> {
    const result = Number(
      await this.redis.eval(
        CREATE_ROLLOUT,
        5,
        keys.rollout(rollout.id),
        keys.rollouts,
        keys.rolloutsBy(rollout.app, rollout.environment),
        keys.rolloutsActive,
        keys.leader,
        JSON.stringify(rollout),
        rollout.id,
        rollout.detectedAtMs,
        leaseValue(fence),
      ),
    );
    if (result < 0) throw notLeader(fence);
    if (result === 1) await this.#prune(rollout.app, rollout.environment);
    return result === 1;
  }

  /**
   * Deletes settled rollouts of (app, environment) beyond the newest {@link ROLLOUT_RETENTION},
   * except the last succeeded one. Settled is final (commands refuse ended rollouts), so what
   * is deleted cannot come back to life between the read and the delete.
   */
  async #prune(app: string, environment: string): Promise<void> {
    const old = await this.redis.zrevrange(keys.rolloutsBy(app, environment), ROLLOUT_RETENTION, -1);
    if (old.length === 0) return;
    const [pointer, members] = await Promise.all([
      this.redis.get(keys.rolloutLastGood(app, environment)),
      this.redis.smismember(keys.rolloutsActive, ...old),
    ]);
    const doomed = old.filter((id, i) => members[i] !== 1 && id !== pointer);
    if (doomed.length === 0) return;
    await this.redis
      .multi()
      .del(...doomed.map(keys.rollout))
      .zrem(keys.rollouts, ...doomed)
      .zrem(keys.rolloutsBy(app, environment), ...doomed)
      .exec();
  }

  async get(id: string): Promise<StoredRollout | undefined> {
    const raw = await this.redis.get(keys.rollout(id));
    return raw == null ? undefined : { raw, rollout: readRollout(JSON.parse(raw)) };
  }

  async compareAndSet(expected: StoredRollout, next: RolloutState, fence?: Lease): Promise<boolean> {
    const result = Number(
      await this.redis.eval(
        SAVE_ROLLOUT,
        5,
        keys.rollout(next.id),
        keys.rolloutsActive,
        keys.leader,
        keys.rolloutLastGood(next.app, next.environment),
        keys.rolloutsBy(next.app, next.environment),
        expected.raw,
        JSON.stringify(next),
        next.id,
        isSettled(next) ? "1" : "0",
        fence ? leaseValue(fence) : "",
        next.state === "Succeeded" ? "1" : "0",
      ),
    );
    if (result < 0 && fence) throw notLeader(fence);
    return result === 1;
  }

  async list(filter: RolloutFilter): Promise<RolloutState[]> {
    const ids =
      filter.app !== undefined && filter.environment !== undefined
        ? await this.redis.zrevrange(keys.rolloutsBy(filter.app, filter.environment), 0, -1)
        : await this.redis.zrevrange(keys.rollouts, 0, -1);
    if (ids.length === 0) return [];
    return allFromJson<unknown>(await this.redis.mget(ids.map(keys.rollout)))
      .map(readRollout)
      .filter(
        (r) =>
          (filter.app === undefined || r.app === filter.app) &&
          (filter.environment === undefined || r.environment === filter.environment) &&
          (filter.state === undefined || r.state === filter.state),
      );
  }

  async unsettled(): Promise<string[]> {
    const ids = await this.redis.smembers(keys.rolloutsActive);
    if (ids.length === 0) return [];
    const scores = await Promise.all(ids.map((id) => this.redis.zscore(keys.rollouts, id)));
    return ids
      .map((id, i) => ({ id, at: Number(scores[i] ?? 0) }))
      .sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1))
      .map((x) => x.id);
  }

  async active(app: string, environment: string): Promise<RolloutState[]> {
    const ids = await this.redis.smembers(keys.rolloutsActive);
    if (ids.length === 0) return [];
    return allFromJson<unknown>(await this.redis.mget(ids.map(keys.rollout)))
      .map(readRollout)
      .filter((r) => r.app === app && r.environment === environment && !isSettled(r));
  }

  async latest(app: string, environment: string): Promise<StoredRollout | undefined> {
    const [id] = await this.redis.zrevrange(keys.rolloutsBy(app, environment), 0, 0);
    return id === undefined ? undefined : this.get(id);
  }

  async lastSucceeded(app: string, environment: string): Promise<RolloutState | undefined> {
    const id = await this.redis.get(keys.rolloutLastGood(app, environment));
    if (id != null) {
      const r = (await this.get(id))?.rollout;
      if (r?.state === "Succeeded") return r;
    }
    // No pointer yet: rollouts stored before it existed, or none succeeded. Scan once (at most
    // the retained rollouts) and record what was found, without overwriting a newer pointer.
    const found = (await this.list({ app, environment, state: "Succeeded" }))[0];
    if (found) await this.redis.set(keys.rolloutLastGood(app, environment), found.id, "NX");
    return found;
  }
}
