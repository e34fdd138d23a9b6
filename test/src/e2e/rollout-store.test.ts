/**
 * The hub's rollout store against a real redis-server: the last-good pointer and the pruning
 * of old rollouts, which the conductor relies on instead of scanning every rollout per pass.
 */

import type { RolloutState } from "@flotilla/api";
import { type RedisServer, startRedis } from "@flotilla/devfleet";
import { KEY_PREFIX, RedisRolloutStore, ROLLOUT_RETENTION } from "@flotilla/hub";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const FENCE = { holder: "test", token: 1 };
let clock = 1_000_000;

function rollout(id: string, env: string): RolloutState {
  clock += 1000;
  return {
    version: 2,
    id,
    app: "web",
    environment: env,
    to: { revision: `rev-${id}`, settings: "s".repeat(64) },
    changed: ["revision", "settings"],
    state: "Pending",
    progressDeadlineSeconds: 600,
    autoRollback: true,
    offlineClusters: "block",
    waves: [],
    detectedAtMs: clock,
  };
}

describe("rollout store on Redis", () => {
  let server: RedisServer;
  let redis: Redis;
  let store: RedisRolloutStore;

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
    await redis.set(`${KEY_PREFIX}leader`, `${FENCE.holder}|${FENCE.token}`);
    store = new RedisRolloutStore(redis);
  });

  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  /** Creates a rollout and ends it in `state` (settled: it has no waves). */
  async function ended(id: string, env: string, state: RolloutState["state"]): Promise<RolloutState> {
    const r = rollout(id, env);
    expect(await store.create(r, FENCE)).toBe(true);
    const stored = (await store.get(id))!;
    const next = { ...r, state, finishedAtMs: clock };
    expect(await store.compareAndSet(stored, next, FENCE)).toBe(true);
    return next;
  }

  it("points at the newest succeeded rollout, which a later failure does not move", async () => {
    expect(await store.lastSucceeded("web", "dev")).toBeUndefined();
    await ended("d1", "dev", "Succeeded");
    await ended("d2", "dev", "Succeeded");
    await ended("d3", "dev", "Failed");
    expect((await store.lastSucceeded("web", "dev"))?.id).toBe("d2");
    expect(await redis.get(`${KEY_PREFIX}rollout-last-good:web:dev`)).toBe("d2");
    expect(await store.lastSucceeded("web", "prod")).toBeUndefined();
  });

  it(`keeps the newest ${ROLLOUT_RETENTION} ended rollouts per app and environment, plus the last good one and any in flight`, async () => {
    const good = await ended("p-good", "prod", "Succeeded");
    const flying = rollout("p-flying", "prod");
    expect(await store.create(flying, FENCE)).toBe(true);
    const failed: string[] = [];
    for (let i = 0; i < ROLLOUT_RETENTION + 10; i++) {
      const id = `p-fail-${i}`;
      await ended(id, "prod", "Failed");
      failed.push(id);
    }
    const listed = (await store.list({ app: "web", environment: "prod" })).map((r) => r.id);
    expect(listed).toEqual([...failed.slice(-ROLLOUT_RETENTION).reverse(), "p-flying", "p-good"]);
    expect(await store.get("p-fail-0")).toBeUndefined();
    expect((await store.list({})).map((r) => r.id)).not.toContain("p-fail-0");
    expect((await store.lastSucceeded("web", "prod"))?.to).toEqual(good.to);
    expect((await store.active("web", "prod")).map((r) => r.id)).toEqual(["p-flying"]);
    // Other environments are not touched by prod's pruning.
    expect((await store.list({ app: "web", environment: "dev" })).map((r) => r.id)).toEqual(["d3", "d2", "d1"]);
  });

  it("reads a rollout stored by an older hub (version 1) as a revision change with unknown settings", async () => {
    const { to: _to, changed: _changed, ...rest } = rollout("v1-old", "stage");
    const raw = JSON.stringify({ ...rest, version: 1, fromRevision: "rev-a", toRevision: "rev-b" });
    await redis.set(`${KEY_PREFIX}rollout:v1-old`, raw);
    const stored = await store.get("v1-old");
    expect(stored?.raw).toBe(raw);
    expect(stored?.rollout).toMatchObject({
      version: 2,
      from: { revision: "rev-a", settings: "" },
      to: { revision: "rev-b", settings: "" },
      changed: ["revision"],
    });
    // Saving it writes the current version over the old text, compared against what was read.
    expect(await store.compareAndSet(stored!, { ...stored!.rollout, state: "Failed" }, FENCE)).toBe(true);
    expect(JSON.parse((await redis.get(`${KEY_PREFIX}rollout:v1-old`)) ?? "{}").version).toBe(2);
  });

  it("keeps a cluster per hash entry: a save writes only what changed, against the header another replica may have moved", async () => {
    const clusters = ["c-1", "c-2", "c-3"].map((name) => ({ name, state: "pending" as const }));
    const base: RolloutState = {
      ...rollout("split", "qa"),
      waves: [
        {
          name: "all",
          implicit: false,
          maxConcurrency: 3,
          failureBudget: 0,
          bakeSeconds: 0,
          requireApproval: false,
          status: "pending",
          clusters,
        },
      ],
    };
    expect(await store.create(base, FENCE)).toBe(true);
    expect(await redis.hlen(`${KEY_PREFIX}rollout-clusters:split`)).toBe(3);
    const first = (await store.get("split"))!;
    expect(first.rollout).toEqual(base);

    const writing = structuredClone(base);
    writing.waves[0]!.clusters[1]!.state = "writing";
    const before = await redis.hgetall(`${KEY_PREFIX}rollout-clusters:split`);
    expect(await store.compareAndSet(first, writing, FENCE)).toBe(true);
    const after = await redis.hgetall(`${KEY_PREFIX}rollout-clusters:split`);
    expect(Object.keys(after).filter((k) => after[k] !== before[k])).toEqual(["c-2"]);

    // Another replica's store (its own cache) saves next; the stale token no longer saves here.
    const other = new RedisRolloutStore(redis);
    const seen = (await other.get("split"))!;
    expect(seen.rollout).toEqual(writing);
    expect(await other.compareAndSet(seen, { ...writing, state: "Paused" }, FENCE)).toBe(true);
    expect(await store.compareAndSet(first, { ...base, state: "Progressing" }, FENCE)).toBe(false);
    expect((await store.get("split"))?.rollout.state).toBe("Paused");
    // Unchanged saves nothing; a deposed leader saves nothing either.
    const current = (await store.get("split"))!;
    expect(await store.compareAndSet(current, current.rollout, FENCE)).toBe(true);
    await expect(
      store.compareAndSet(current, { ...current.rollout, state: "Progressing" }, { holder: "old", token: 0 }),
    ).rejects.toThrow(/no longer holds/);
  });

  it("reads a whole rollout document stored by an earlier hub and splits it on its next save", async () => {
    const whole: RolloutState = {
      ...rollout("whole", "qa"),
      waves: [
        {
          name: "all",
          implicit: true,
          maxConcurrency: 1,
          failureBudget: 0,
          bakeSeconds: 0,
          requireApproval: false,
          status: "progressing",
          clusters: [{ name: "c-1", state: "writing", dispatchedAtMs: 5 }],
        },
      ],
    };
    const raw = JSON.stringify(whole);
    await redis.set(`${KEY_PREFIX}rollout:whole`, raw);
    const stored = (await store.get("whole"))!;
    expect(stored.raw).toBe(raw);
    expect(stored.rollout).toEqual(whole);
    expect(await store.compareAndSet(stored, { ...whole, state: "Paused" }, FENCE)).toBe(true);
    expect(await redis.hlen(`${KEY_PREFIX}rollout-clusters:whole`)).toBe(1);
    expect((await new RedisRolloutStore(redis).get("whole"))?.rollout).toEqual({ ...whole, state: "Paused" });
  });
});
