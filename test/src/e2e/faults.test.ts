/**
 * The reduced fault set in `npm test` (the whole suite is `npm run test:faults`): on a
 * three-node NATS JetStream cluster (R3), a single Redis, two hub replicas and simulated
 * agents, the leader frozen past its lease (the woken replica must write nothing) and one NATS
 * node killed mid-rollout; then a hub whose Redis and NATS are both gone must still exit on
 * SIGTERM by itself. Asserts on counts, never on times; prints the figures.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { frozenLeader, natsNodeKilled } from "../faults/cases.js";
import { type FaultFigures, faultTable, World } from "../faults/world.js";

describe("faults, reduced set", () => {
  let world: World;
  const rows: FaultFigures[] = [];
  const clean = { orderViolations: 0, duplicateWrites: 0, lostWrites: 0, generationRegressions: 0, completed: 1 };

  beforeAll(async () => {
    world = await World.start({ clusters: 2, canaryBakeSeconds: 1, reportDelayMs: 300 });
  });

  afterAll(async () => {
    process.stdout.write(`${faultTable(rows)}\n`);
    if (world) expect(await world.stop()).toEqual([]);
  });

  it("a leader frozen past its lease is replaced, and writes nothing once it wakes", async () => {
    const row = await frozenLeader(world);
    rows.push(row);
    expect(row.writesAfterWake).toBe(0);
    expect(row, row.notes).toMatchObject(clean);
  });

  it("a NATS node killed mid-rollout loses no write on R3 buckets", async () => {
    const row = await natsNodeKilled(world);
    rows.push(row);
    expect(row, row.notes).toMatchObject(clean);
  });

  it("a hub whose Redis and NATS are gone still ends on SIGTERM, by itself", async () => {
    await world.stopAgents();
    await Promise.all([...world.nats.nodes.map((n) => n.kill()), world.redis.server?.kill()]);
    for (const hub of world.hubs) {
      if (!hub) continue;
      // A long grace: the harness's SIGKILL must not be what ends it. Code 0 is a stop that
      // finished; 1 is the entry point's 15 s deadline, which a machine under heavy load reaches.
      await hub.process.stop(60_000);
      expect(hub.process.exitStatus?.signal).toBeNull();
      expect([0, 1]).toContain(hub.process.exitStatus?.code);
      process.stdout.write(`hub with Redis and NATS gone: exit code ${hub.process.exitStatus?.code}\n`);
    }
  });
});
