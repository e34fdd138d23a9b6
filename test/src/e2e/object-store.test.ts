/**
 * The hub's registry object store against a real redis-server: the sorted names a replica
 * keeps between lists follow every change another replica makes, and a name set no hub of
 * this version wrote (no version counter yet) is never kept.
 */

import { type RedisServer, startRedis } from "@flotilla/devfleet";
import { KEY_PREFIX, RedisObjectStore } from "@flotilla/hub";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const cluster = (name: string) => ({ name, labels: {}, agentPublicKey: "pem", createdAtMs: 1 });

describe("registry object store on Redis", () => {
  let server: RedisServer;
  let redis: Redis;

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
  });

  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  it("lists the names another replica created, replaced and deleted since its last list", async () => {
    const a = new RedisObjectStore(redis);
    const b = new RedisObjectStore(redis);
    expect(await b.createObject("Cluster", cluster("c-2"))).toBe(true);
    expect(await b.createObject("Cluster", cluster("c-1"))).toBe(true);
    expect(await a.listNames("Cluster")).toEqual(["c-1", "c-2"]);
    expect(await b.createObject("Cluster", cluster("c-1"))).toBe(false);
    await b.putObject("Cluster", cluster("c-0"));
    expect(await a.listNames("Cluster")).toEqual(["c-0", "c-1", "c-2"]);
    expect(await b.deleteObject("Cluster", "c-1")).toBe(true);
    expect(await a.listNames("Cluster")).toEqual(["c-0", "c-2"]);
    // What a caller does with the list it got never changes the next one.
    (await a.listNames("Cluster")).pop();
    expect(await a.listNames("Cluster")).toEqual(["c-0", "c-2"]);
  });

  it("reads the set again on every list while it has no version (written by an earlier hub)", async () => {
    const store = new RedisObjectStore(redis);
    await redis.sadd(`${KEY_PREFIX}idx:team`, "t-1");
    expect(await store.listNames("Team")).toEqual(["t-1"]);
    await redis.sadd(`${KEY_PREFIX}idx:team`, "t-0");
    expect(await store.listNames("Team")).toEqual(["t-0", "t-1"]);
  });
});
