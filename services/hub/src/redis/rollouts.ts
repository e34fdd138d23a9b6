import type { Redis } from "ioredis";
import { NotLeaderError } from "../errors.js";
import { isSettled, type RolloutState } from "../rollout/index.js";
import { type Lease, ROLLOUT_RETENTION, type RolloutFilter, type RolloutStore, type StoredRollout } from "../store.js";
import { keys, leaseValue } from "./keys.js";
import {
  changedEntries,
  changedSince,
  entryTexts,
  headerRevision,
  headerText,
  joinRollout,
  type ReadParts,
  splitRollout,
  withChanges,
} from "./rollout-parts.js";
import { CREATE_ROLLOUT, SAVE_ROLLOUT } from "./scripts.js";

/** Rollouts whose last read or save is kept, so reading one that did not change costs one small GET. */
const CACHED_ROLLOUTS = 32;

interface Cached {
  stored: StoredRollout;
  parts: ReadParts;
}

/**
 * Freezes a rollout the cache hands out to every reader, so a caller that changed it in place
 * (instead of through the pure functions, which copy) fails at once instead of changing what
 * the next reader sees.
 */
function freeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) freeze(v);
  }
  return value;
}

function notLeader(fence: Lease): NotLeaderError {
  return new NotLeaderError(`replica ${fence.holder} no longer holds leader lease ${fence.token}`);
}

/**
 * Rollouts as a header and a hash of cluster entries each (see `rollout-parts.ts`), listed in
 * sorted sets by detection time, with the set of unsettled ids the leader steps and a last-good
 * pointer per (app, environment); see `keys.ts`. A save writes the header and the entries that
 * changed, compared against the header's text. The last rollouts read or saved are kept with
 * their entries: reading one again costs one GET of its header when it did not change since.
 */
export class RedisRolloutStore implements RolloutStore {
  /** By id, in least recently used order. */
  readonly #cache = new Map<string, Cached>();
  /** What each StoredRollout handed out was read as, for the diff of its next save. */
  readonly #read = new WeakMap<StoredRollout, ReadParts>();

  constructor(private readonly redis: Redis) {}

  async create(rollout: RolloutState, fence: Lease): Promise<boolean> {
    const parts = splitRollout(rollout, 1);
    const result = Number(
      await this.redis.eval(
        CREATE_ROLLOUT,
        6,
        keys.rollout(rollout.id),
        keys.rolloutClusters(rollout.id),
        keys.rollouts,
        keys.rolloutsBy(rollout.app, rollout.environment),
        keys.rolloutsActive,
        keys.leader,
        parts.header,
        rollout.id,
        rollout.detectedAtMs,
        leaseValue(fence),
        ...changedEntries(new Map(), parts.entries),
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
      .del(...doomed.map(keys.rollout), ...doomed.map(keys.rolloutClusters))
      .zrem(keys.rollouts, ...doomed)
      .zrem(keys.rolloutsBy(app, environment), ...doomed)
      .exec();
  }

  async get(id: string): Promise<StoredRollout | undefined> {
    const header = await this.redis.get(keys.rollout(id));
    if (header == null) {
      this.#cache.delete(id);
      return undefined;
    }
    const cached = this.#cache.get(id);
    if (cached && cached.stored.raw === header) {
      this.#remember(id, cached);
      return cached.stored;
    }
    return this.#read1(id, header, await this.redis.hgetall(keys.rolloutClusters(id)));
  }

  #read1(id: string, header: string, entries: Record<string, string>): StoredRollout {
    const parts = joinRollout(header, entries);
    freeze(parts.rollout);
    const stored: StoredRollout = { raw: header, rollout: parts.rollout };
    this.#read.set(stored, parts);
    this.#remember(id, { stored, parts });
    return stored;
  }

  #remember(id: string, entry: Cached): void {
    this.#cache.delete(id);
    this.#cache.set(id, entry);
    for (const old of this.#cache.keys()) {
      if (this.#cache.size <= CACHED_ROLLOUTS) break;
      this.#cache.delete(old);
    }
  }

  async compareAndSet(expected: StoredRollout, next: RolloutState, fence?: Lease): Promise<boolean> {
    // A StoredRollout this store did not hand out: write every entry.
    const read = this.#read.get(expected);
    const before = read ?? { rev: headerRevision(expected.raw), entries: new Map<string, string>() };
    // Clusters a copy-on-write step left alone are not turned into text again.
    const changed = read
      ? changedSince(read.rollout, read.entries, next)
      : changedEntries(before.entries, entryTexts(next));
    // Nothing changed: nothing to save, as when the caller compared the texts itself. A settled
    // rollout is saved all the same: the save is what drops it from the unsettled set.
    if (changed.length === 0 && !isSettled(next) && headerText(next, before.rev) === expected.raw) return true;
    const parts = { header: headerText(next, before.rev + 1), entries: withChanges(before.entries, changed) };
    const result = Number(
      await this.redis.eval(
        SAVE_ROLLOUT,
        6,
        keys.rollout(next.id),
        keys.rolloutClusters(next.id),
        keys.rolloutsActive,
        keys.leader,
        keys.rolloutLastGood(next.app, next.environment),
        keys.rolloutsBy(next.app, next.environment),
        expected.raw,
        parts.header,
        next.id,
        isSettled(next) ? "1" : "0",
        fence ? leaseValue(fence) : "",
        next.state === "Succeeded" ? "1" : "0",
        ...changed,
      ),
    );
    if (result < 0 && fence) throw notLeader(fence);
    if (result !== 1) return false;
    const stored: StoredRollout = { raw: parts.header, rollout: next };
    const saved: ReadParts = { rollout: freeze(next), rev: before.rev + 1, entries: parts.entries };
    this.#read.set(stored, saved);
    this.#remember(next.id, { stored, parts: saved });
    return true;
  }

  /** The rollouts of `ids` that exist, in order: headers in one round trip, entries in one pipeline. */
  async #readMany(ids: readonly string[]): Promise<RolloutState[]> {
    if (ids.length === 0) return [];
    const headers = await this.redis.mget(ids.map(keys.rollout));
    const found = ids.flatMap((id, i) => {
      const header = headers[i];
      return header == null ? [] : [{ id, header }];
    });
    const stale = found.filter(({ id, header }) => this.#cache.get(id)?.stored.raw !== header);
    // A changed rollout's header and entries are read again together, in one transaction: read
    // apart, a prune of old rollouts between them left a header without its entries (a 500).
    const tx = this.redis.multi();
    for (const { id } of stale) tx.get(keys.rollout(id)).hgetall(keys.rolloutClusters(id));
    const replies = stale.length > 0 ? ((await tx.exec()) ?? []) : [];
    const fresh = new Map(
      stale.map(({ id }, i) => [
        id,
        {
          header: replies[2 * i]?.[1] as string | null | undefined,
          entries: (replies[2 * i + 1]?.[1] ?? {}) as Record<string, string>,
        },
      ]),
    );
    return found.flatMap(({ id, header }) => {
      const cached = this.#cache.get(id);
      if (cached && cached.stored.raw === header) return [cached.stored.rollout];
      const read = fresh.get(id);
      // Gone since the first read (pruned): left out, as if listed a moment later.
      if (read?.header == null) return [];
      return [joinRollout(read.header, read.entries).rollout];
    });
  }

  async list(filter: RolloutFilter): Promise<RolloutState[]> {
    const ids =
      filter.app !== undefined && filter.environment !== undefined
        ? await this.redis.zrevrange(keys.rolloutsBy(filter.app, filter.environment), 0, -1)
        : await this.redis.zrevrange(keys.rollouts, 0, -1);
    return (await this.#readMany(ids)).filter(
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
    return (await this.#readMany(ids)).filter((r) => r.app === app && r.environment === environment && !isSettled(r));
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
