/**
 * The fault suite (`npm run test:faults`): every fault of docs/faults.md injected into a
 * rollout in flight, on a three-node NATS JetStream cluster (R3), Redis behind Sentinel (and a
 * single Redis for the restart case), two hub replicas and simulated agents, one of them behind
 * toxiproxy. Prints the table of figures; asserts that no rollout broke wave order, wrote a
 * cluster twice, lost a write or moved a generation backwards, that a woken leader wrote
 * nothing, and that every process it started is gone afterwards. Never asserts on times.
 *
 * `FLOTILLA_FAULT_KILLS` sets how many leader kills run (default 20); `FLOTILLA_FAULT_KEEP=1` keeps
 * the world's directory (every process's log) even when every case passed.
 */
import { existsSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import {
  aimedKills,
  blockedOnPartition,
  bothReplicasKilled,
  clockSkew,
  frozenLeader,
  gitDownDuringFetch,
  LIBFAKETIME,
  leaderKills,
  natsClusterRestarted,
  natsNodeKilled,
  partitionedAgent,
  redisFailover,
  redisRestarted,
} from "./cases.js";
import { apiserverRestartedMidApply, kubeFixturesMissing, OBJECTS, startKubeFleet } from "./kube-cases.js";
import { type FaultFigures, faultTable, toxiproxyBuilt, World } from "./world.js";

const KILLS = Number(process.env.FLOTILLA_FAULT_KILLS ?? 20);
/** Kills aimed at the window between the bucket write and its Redis record (`FLOTILLA_FAULT_AIMED`, default 5). */
const AIMED = Number(process.env.FLOTILLA_FAULT_AIMED ?? 5);
/** The cases that cut a link need toxiproxy-server, which `scripts/setup` builds among the last fixtures. */
const NO_PROXY = toxiproxyBuilt() ? false : "toxiproxy-server is not built yet (scripts/setup builds it)";
/** The clock-skew case preloads Debian's libfaketime into a hub replica. */
const NO_FAKETIME = existsSync(LIBFAKETIME) ? false : "libfaketime is not installed (Debian: apt-get install faketime)";
if (NO_FAKETIME) process.stderr.write(`clock-skew case skipped: ${NO_FAKETIME}\n`);
/** The kube-apiserver case runs real agents on fixture clusters. */
const NO_KUBE = kubeFixturesMissing();
if (NO_KUBE) process.stderr.write(`kube-apiserver case skipped: ${NO_KUBE}\n`);
if (NO_PROXY) process.stderr.write(`link cases skipped: ${NO_PROXY}\n`);
const rows: FaultFigures[] = [];

/** Runs a case, keeps its row, and checks the counts every case must keep at zero. */
async function run(
  world: { failed: boolean; logTails(): Promise<string> },
  fault: () => Promise<FaultFigures>,
): Promise<FaultFigures> {
  let row: FaultFigures;
  try {
    row = await fault();
  } catch (err) {
    world.failed = true;
    process.stderr.write(await world.logTails());
    throw err;
  }
  rows.push(row);
  process.stdout.write(`${faultTable([row])}\n`);
  const clean = row.completed === row.rollouts && row.orderViolations + row.duplicateWrites + row.lostWrites === 0;
  if (!clean || row.generationRegressions > 0) world.failed = true;
  expect(row, row.notes).toMatchObject({
    completed: row.rollouts,
    orderViolations: 0,
    duplicateWrites: 0,
    lostWrites: 0,
    generationRegressions: 0,
  });
  return row;
}

afterAll(() => {
  process.stdout.write(`\nFault table (${new Date().toISOString()}):\n${faultTable(rows)}\n`);
});

describe("faults on clustered NATS and Redis behind Sentinel", () => {
  let world: World;

  it("starts the world: NATS R3 cluster, Redis + Sentinel, two hubs, simulated agents", async () => {
    world = await World.start({ sentinel: true, clusters: 6 });
  });

  it("leader frozen past its lease: the other replica takes over, the woken one writes nothing", async () => {
    let woken = -1;
    await run(world, async () => {
      const row = await frozenLeader(world);
      woken = row.writesAfterWake;
      return row;
    });
    expect(woken).toBe(0);
  });

  it(`leader SIGKILLed ${KILLS} times at random points`, async () => {
    await run(world, () => leaderKills(world, KILLS));
  });

  it("leader SIGKILLed as its write reaches the bucket, before Redis records it", async () => {
    let landed = 0;
    await run(world, async () => {
      const row = await aimedKills(world, AIMED);
      landed = row.landed;
      return row;
    });
    process.stdout.write(`aimed kills that landed in the window: ${landed} of ${AIMED}\n`);
  });

  it("both replicas killed at once and restarted", async () => {
    await run(world, () => bothReplicasKilled(world));
  });

  it("one NATS node killed, then the whole NATS cluster restarted", async () => {
    await run(world, () => natsNodeKilled(world));
    await run(world, () => natsClusterRestarted(world));
  });

  it.skipIf(NO_FAKETIME)("a leader's wall clock 1.5 s behind, then ahead, hands a bake over mid-way", async () => {
    await run(world, () => clockSkew(world, -1.5));
    await run(world, () => clockSkew(world, 1.5));
  });

  it("Redis primary killed: Sentinel fails over and the hub follows", async () => {
    await run(world, () => redisFailover(world));
  });

  it.skipIf(NO_PROXY)(
    "an agent's link slowed, reset and blackholed: Offline, skipped, back and caught up",
    async () => {
      await run(world, () => partitionedAgent(world));
    },
  );

  it("offlineClusters: block waits on a cut-off agent, saying why, and completes once it is back", async () => {
    let waited: { waitingWhy: string; keptWaiting: boolean } = { waitingWhy: "", keptWaiting: false };
    await run(world, async () => {
      const row = await blockedOnPartition(world);
      waited = row;
      return row;
    });
    expect(waited.keptWaiting).toBe(true);
    expect(waited.waitingWhy).toContain("offlineClusters: block");
  });

  it.skipIf(NO_PROXY)("the Git server down during the leader's fetch: nothing stalls or half-applies", async () => {
    await run(world, () => gitDownDuringFetch(world));
  });

  it("stops every process it started", async () => {
    expect(await world.stop()).toEqual([]);
  });
});

describe("faults on a single Redis with append-only persistence", () => {
  let world: World;

  it("Redis SIGKILLed mid-rollout and restarted from its AOF", async () => {
    world = await World.start({ clusters: 4 });
    await run(world, () => redisRestarted(world));
    expect(await world.stop()).toEqual([]);
  });
});

describe("faults under real agents on real API servers", () => {
  it.skipIf(NO_KUBE)(
    "a kube-apiserver SIGKILLed mid-apply and restarted: the agent applies the release whole, the rollout completes",
    async () => {
      const fleet = await startKubeFleet();
      let landed = false;
      try {
        await run({ failed: false, logTails: () => fleet.logTails(80) }, async () => {
          const row = await apiserverRestartedMidApply(fleet);
          landed = row.landed;
          return row;
        });
      } finally {
        await fleet.stop();
      }
      process.stdout.write(`kube-apiserver kill landed mid-apply (some of ${OBJECTS} objects applied): ${landed}\n`);
    },
  );
});
