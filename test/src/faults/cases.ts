/**
 * The fault cases: each injects one fault into a rollout in flight on a {@link World} and
 * returns the row of figures it measured. The suites (`npm run test:faults`, and the reduced
 * set in `npm test`) run them and assert on the counts (violations, duplicates, losses, writes
 * by a woken leader), never on the times.
 */
import { readFile } from "node:fs/promises";
import type { ClusterDetail } from "@flotilla/api";
import { until } from "@flotilla/devfleet";
import {
  APP,
  EDGE,
  type FaultFigures,
  LEASE_TTL_MS,
  ROLLOUT_WAIT_MS,
  seconds,
  sumRows,
  type World,
  type Written,
} from "./world.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How many clusters a rollout writes before a fault: the canary alone, or into the main wave. */
function randomPoint(world: World): number {
  return 1 + Math.floor(Math.random() * (world.clusterNames.length - 1));
}

/** The leader replica SIGKILLed `times` times, one rollout each, at a random point; it comes back as a follower. */
export async function leaderKills(world: World, times: number): Promise<FaultFigures> {
  const rows: FaultFigures[] = [];
  for (let i = 0; i < times; i++) {
    rows.push(
      await world.faultDuringRollout(`leader SIGKILL #${i + 1}`, randomPoint(world), async () => {
        await sleep(Math.floor(Math.random() * 800));
        const leader = await world.waitLeader();
        await world.hubs[leader]?.kill();
        const next = await world.waitLeader(leader);
        const detectedAtMs = Date.now();
        await world.startHub(leader);
        return { detectedAtMs, notes: `hub-${leader} → hub-${next}` };
      }),
    );
  }
  return sumRows(`leader SIGKILL ×${times} (random points)`, rows);
}

/**
 * Kills aimed at the window between a desired-state write reaching the NATS bucket and its
 * record in Redis: the bucket watch SIGKILLs the leader the moment it sees the rollout's first
 * write, then asks the other replica what Redis recorded for that cluster. A record older than
 * the write means the kill landed in the window; the successor must then find the write in the
 * bucket and record it without writing again (no duplicate write, no lost write). The hub needs
 * no fault point of its own; `landed` counts the kills that hit the window.
 */
export async function aimedKills(world: World, times: number): Promise<FaultFigures & { landed: number }> {
  const rows: FaultFigures[] = [];
  let landed = 0;
  for (let i = 0; i < times; i++) {
    const leader = await world.waitLeader();
    const hub = world.hubs[leader];
    const other = world.hubs[1 - leader];
    if (!hub || !other) throw new Error("two replicas are needed");
    rows.push(
      await world.faultDuringRollout(`aimed kill #${i + 1}`, "push", async (revision) => {
        let aimed: Written | undefined;
        world.onWrite((w) => {
          if (aimed || w.revision !== revision) return;
          aimed = w;
          hub.process.signal("SIGKILL");
        });
        const w = await until("the rollout's first write to reach the bucket", async () => aimed, ROLLOUT_WAIT_MS, 5);
        world.offWrite();
        const detail = await other.api
          .request<ClusterDetail>("GET", `/v1/clusters/${w.cluster}`)
          .catch(() => undefined);
        const recorded = detail?.json?.apps.find((a) => a.app === APP)?.desired?.generation;
        const inWindow = recorded === undefined || recorded < w.generation;
        if (inWindow) landed++;
        await hub.kill();
        const next = await world.waitLeader(leader);
        const detectedAtMs = Date.now();
        await world.startHub(leader);
        return {
          detectedAtMs,
          notes: `hub-${leader} → hub-${next}; ${inWindow ? "killed between the bucket write and its Redis record" : "Redis had recorded the write first"}`,
        };
      }),
    );
  }
  world.offWrite();
  const row = sumRows(`leader SIGKILLed as its write reaches the bucket ×${times}`, rows);
  return { ...row, notes: `${landed} of ${times} landed between the bucket and Redis; ${row.notes}`, landed };
}

/** `desired state published` lines a replica logged at or after `sinceMs`. */
async function publishedSince(logPath: string, sinceMs: number): Promise<number> {
  const text = await readFile(logPath, "utf8").catch(() => "");
  let count = 0;
  for (const line of text.split("\n")) {
    if (!line.includes('"desired state published"') && !line.includes('"app removal published"')) continue;
    try {
      if ((JSON.parse(line) as { time: number }).time >= sinceMs) count++;
    } catch {
      // A line cut by a kill.
    }
  }
  return count;
}

/**
 * The leader frozen (SIGSTOP) past its lease while the other replica takes over, then resumed:
 * it must write nothing once awake. `writesAfterWake` is in the notes and in the result.
 */
export async function frozenLeader(world: World): Promise<FaultFigures & { writesAfterWake: number }> {
  let writesAfterWake = 0;
  const row = await world.faultDuringRollout("leader frozen (SIGSTOP) past its lease, then SIGCONT", 1, async () => {
    const leader = await world.waitLeader();
    const frozen = world.hubs[leader];
    if (!frozen) throw new Error("no leader to freeze");
    frozen.process.signal("SIGSTOP");
    const next = await world.waitLeader(leader);
    const detectedAtMs = Date.now();
    // Let the new leader write while the frozen one sleeps, one more TTL.
    await sleep(LEASE_TTL_MS);
    const wokeAtMs = Date.now();
    frozen.process.signal("SIGCONT");
    // Give the woken replica time to act on whatever it had in flight.
    await sleep(2 * LEASE_TTL_MS);
    writesAfterWake = await publishedSince(frozen.process.logPath, wokeAtMs);
    return {
      detectedAtMs,
      notes: `hub-${next} took over; woken hub-${leader} wrote ${writesAfterWake} desired states`,
    };
  });
  return { ...row, writesAfterWake };
}

/** Both replicas SIGKILLed at once mid-rollout, then both started again. */
export async function bothReplicasKilled(world: World): Promise<FaultFigures> {
  return world.faultDuringRollout("both replicas SIGKILLed at once, restarted", 2, async () => {
    await Promise.all(world.hubs.map((h) => h?.kill()));
    await world.startHub(0);
    await world.startHub(1);
    await world.waitLeader();
    return { detectedAtMs: Date.now(), notes: "detect = a replica leads again" };
  });
}

/** One NATS node SIGKILLed mid-rollout (the buckets are R3), started again after the rollout. */
export async function natsNodeKilled(world: World): Promise<FaultFigures> {
  // The last node: the edge cluster's proxy goes to the first.
  const node = world.nats.nodes[world.nats.nodes.length - 1];
  if (!node) throw new Error("no NATS node");
  const row = await world.faultDuringRollout(`NATS node ${node.name} SIGKILLed (R3)`, 1, async () => {
    await node.kill();
    return { notes: "detect: clients move to the other nodes" };
  });
  await node.start();
  return row;
}

/** Every NATS node stopped and started again mid-rollout (stores kept). */
export async function natsClusterRestarted(world: World): Promise<FaultFigures> {
  return world.faultDuringRollout("whole NATS cluster restarted", 1, async () => {
    await world.nats.restart();
    return { detectedAtMs: Date.now(), notes: "detect = cluster healthy again" };
  });
}

/** The Redis primary SIGKILLed mid-rollout; Sentinel promotes the replica; the old primary comes back as a replica. */
export async function redisFailover(world: World): Promise<FaultFigures & { longestGapMs: number; overlapMs: number }> {
  const sentinel = world.redis.sentinel;
  if (!sentinel) throw new Error("this world runs Redis without Sentinel");
  const primary = await sentinel.primary();
  let leaders: { longestGapMs: number; overlapMs: number } = { longestGapMs: 0, overlapMs: 0 };
  const row = await world.faultDuringRollout("Redis primary SIGKILLed (Sentinel failover)", 1, async (revision) => {
    const sampler = world.sampleLeaders();
    await primary.kill();
    await until(
      "the sentinels to promote the replica",
      async () => (await sentinel.primaryPort()) !== primary.port,
      60_000,
      100,
    );
    const detectedAtMs = Date.now();
    await world.waitSettled(revision);
    leaders = await sampler.stop();
    return {
      detectedAtMs,
      notes: `detect = sentinels name the new primary; no replica led for ${seconds(0, leaders.longestGapMs)} s at most, two at once for ${seconds(0, leaders.overlapMs)} s`,
    };
  });
  await primary.start();
  return { ...row, ...leaders };
}

/** The single Redis server SIGKILLed mid-rollout and started again from its append-only file. */
export async function redisRestarted(world: World): Promise<FaultFigures> {
  const server = world.redis.server;
  if (!server) throw new Error("this world runs Redis behind Sentinel");
  return world.faultDuringRollout("Redis SIGKILLed, restarted (AOF, fsync always)", 1, async () => {
    await server.kill();
    await sleep(1_000);
    await server.start();
    return { detectedAtMs: Date.now(), notes: "detect = Redis answers again" };
  });
}

async function clusterState(world: World, name: string): Promise<string | undefined> {
  const d = (await world.api.request<ClusterDetail>("GET", `/v1/clusters/${name}`).catch(() => undefined))?.json;
  return d?.status.state;
}

/**
 * The edge cluster's link to NATS through toxiproxy: 400 ms of latency through one rollout,
 * connections reset in the next, then blackholed (no bytes either way) through a third until
 * the hub calls it Offline; `offlineClusters: skip` lets that rollout complete without it.
 * Healed, the cluster turns Ready and takes the desired state it missed.
 */
export async function partitionedAgent(world: World): Promise<FaultFigures> {
  const link = world.link("edge");
  const latency = await world.faultDuringRollout("agent link: +400 ms latency (toxiproxy)", 1, async () => {
    await link.addToxic({ name: "slow", type: "latency", attributes: { latency: 400, jitter: 100 } });
    return {};
  });
  await link.heal();
  const reset = await world.faultDuringRollout("agent link: connections reset (toxiproxy)", 1, async () => {
    await link.addToxic({ name: "reset", type: "reset_peer", attributes: { timeout: 500 } });
    await sleep(3_000);
    await link.heal();
    return {};
  });
  let backAtMs: number | undefined;
  // Cut as the rollout starts, so the edge (last of the main wave) is Offline before its turn.
  const blackhole = await world.faultDuringRollout("agent link: blackholed until Offline (skip)", 0, async () => {
    await link.addToxic({ name: "hole-down", type: "timeout", stream: "downstream", attributes: { timeout: 0 } });
    await link.addToxic({ name: "hole-up", type: "timeout", stream: "upstream", attributes: { timeout: 0 } });
    await until(`${EDGE} to turn Offline`, async () => (await clusterState(world, EDGE)) === "Offline", 60_000, 200);
    return { detectedAtMs: Date.now() };
  });
  const skipped = (await world.lastRollout())?.waves.flatMap((w) => w.clusters).find((c) => c.name === EDGE);
  // The rollout completed without the edge (skip); heal and see it come back and catch up.
  await link.heal();
  const healedAtMs = Date.now();
  await until(`${EDGE} to turn Ready`, async () => (await clusterState(world, EDGE)) === "Ready", 60_000, 200).then(
    () => {
      backAtMs = Date.now();
    },
    () => undefined,
  );
  const lost = await world.lostWrites();
  blackhole.lostWrites = lost.lost;
  blackhole.notes = [
    blackhole.notes,
    `edge ${skipped?.state ?? "?"}`,
    `Ready again ${seconds(healedAtMs, backAtMs)} s after healing`,
    ...lost.detail,
  ].join("; ");
  return sumRows("agent link via toxiproxy: latency, resets, blackhole", [latency, reset, blackhole]);
}

/**
 * `offlineClusters: block`: the edge cluster cut off before a rollout starts (its link
 * blackholed through toxiproxy; its simulated agent stopped while toxiproxy is not built).
 * The rollout writes every other cluster and then waits on the edge, saying why in its API
 * (`why` of the cluster); healed, the edge turns Ready, is written and the rollout completes.
 * Notes carry the reason as the API gave it and how long the rollout waited.
 */
export async function blockedOnPartition(
  world: World,
): Promise<FaultFigures & { waitingWhy: string; keptWaiting: boolean }> {
  await world.setOfflinePolicy("block");
  let waitingWhy = "";
  let keptWaiting = false;
  try {
    const cut = await world.cutEdge();
    await until(`${EDGE} to turn Offline`, async () => (await clusterState(world, EDGE)) === "Offline", 60_000, 200);
    const others = world.clusterNames.length - 1;
    const row = await world.faultDuringRollout("agent cut off, offlineClusters: block", others, async (revision) => {
      // Every other cluster written and healthy: all that is left is the partitioned one.
      const waiting = await until(
        `the rollout to wait on ${EDGE}`,
        async () => {
          const r = await world.rollout(revision);
          const clusters = r?.waves.flatMap((w) => w.clusters) ?? [];
          const edge = clusters.find((c) => c.name === EDGE);
          const rest = clusters.filter((c) => c.name !== EDGE);
          return r && edge?.state === "pending" && rest.every((c) => c.state === "healthy") ? { r, edge } : undefined;
        },
        120_000,
        200,
      );
      waitingWhy = waiting.edge.why ?? "";
      // It keeps waiting while the partition lasts: still Progressing, the edge still unwritten.
      await sleep(3 * LEASE_TTL_MS);
      const still = await world.rollout(revision);
      const edgeNow = still?.waves.flatMap((w) => w.clusters).find((c) => c.name === EDGE);
      keptWaiting = still?.state === "Progressing" && edgeNow?.state === "pending" && edgeNow.generation === undefined;
      const healedAtMs = Date.now();
      await world.healEdge();
      await until(`${EDGE} to turn Ready`, async () => (await clusterState(world, EDGE)) === "Ready", 60_000, 200);
      return {
        detectedAtMs: healedAtMs,
        notes: `${EDGE}: ${cut}; the rollout waited on it (${keptWaiting ? "still waiting 6 s later" : "did NOT keep waiting"}), its why: "${waitingWhy}"; detect = healed`,
      };
    });
    return { ...row, waitingWhy, keptWaiting };
  } finally {
    await world.healEdge();
    await world.setOfflinePolicy("skip");
  }
}

/** Requests the Git server received since index `from` with `method`. */
function gitRequests(world: World, from: number, method: string): number {
  return world.git.requests.slice(from).filter((r) => r.startsWith(`${method} `)).length;
}

/**
 * The Git server cut off from the hubs in the middle of the leader's fetch of a new commit:
 * every Git response is slowed by 1 s (toxiproxy, downstream), and once the server has taken
 * the fetch's request (the second POST after the push: the first is the listing that saw the
 * new head) the link is disabled, which closes the connection under the response and refuses
 * new ones, for 4 s. The hub must neither stall nor half-apply: the rollout, once created, must
 * complete like any other, every write once, and the leader must list Git again once it is back.
 */
export async function gitDownDuringFetch(world: World): Promise<FaultFigures> {
  const link = world.link("git");
  await link.addToxic({ name: "slow-git", type: "latency", stream: "downstream", attributes: { latency: 1_000 } });
  const from = world.git.requests.length;
  try {
    return await world.faultDuringRollout("Git server down during the hub's fetch", "push", async (revision) => {
      await until("the leader to fetch the new commit", async () => gitRequests(world, from, "POST") >= 2, 60_000, 20);
      await link.setEnabled(false);
      const cutAt = world.git.requests.length;
      await sleep(4_000);
      const createdWhileDown = (await world.rollout(revision)) !== undefined;
      await link.heal();
      const healedAtMs = Date.now();
      await until("the leader to reach Git again", async () => gitRequests(world, cutAt, "POST") >= 1, 60_000, 50);
      const r = await world.rollout(revision);
      return {
        detectedAtMs: healedAtMs,
        notes: [
          `rollout ${createdWhileDown ? "created while Git was down" : "created after Git came back"}`,
          r?.commitUnknown ? `commit unknown: ${r.commitUnknown}` : "commit read",
          "detect = Git back",
        ].join("; "),
      };
    });
  } finally {
    await link.heal();
  }
}

/**
 * libfaketime from Debian's `faketime` package (`apt-get install faketime`): preloaded into a
 * hub replica, it shifts that process's wall clock (Date.now) by a fixed offset and leaves its
 * monotonic clock alone, as a host whose NTP is off would. The hub has no clock of its own to
 * skew, so this is the fault point.
 */
export const LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

/** The environment that runs a process `seconds` off the true wall clock. */
function skewed(seconds: number): Record<string, string> {
  return {
    LD_PRELOAD: LIBFAKETIME,
    FAKETIME: `${seconds >= 0 ? "+" : ""}${seconds}`,
    FAKETIME_DONT_FAKE_MONOTONIC: "1",
  };
}

/**
 * Clock skew between hub replicas, within the lease TTL: the replica whose wall clock is
 * `skewSeconds` off leads while the canary turns healthy and its bake starts, then stops
 * (SIGTERM: it releases the lease, so the other takes over at once) and the replica with the
 * true clock finishes the bake it did not start. The lease is unaffected (its deadline runs on
 * the monotonic clock); what the skew reaches is every time stamp the rollout carries from one
 * leader to the next. Measured, on the test's own clock: the canary seen baking → the first
 * main-wave write reaching the bucket (`real bake`), against the configured bake.
 */
export async function clockSkew(
  world: World,
  skewSeconds: number,
): Promise<FaultFigures & { realBakeSeconds: number }> {
  // The skewed replica leads: restart the follower skewed, then hand it the lease.
  const leader = await world.waitLeader();
  const other = 1 - leader;
  await world.hubs[other]?.stop();
  await world.startHub(other, "ready", skewed(skewSeconds));
  await world.hubs[leader]?.stop();
  await world.waitLeader(leader);
  await world.startHub(leader);
  let realBakeSeconds = Number.NaN;
  const name = `hub leader's wall clock ${skewSeconds > 0 ? "+" : ""}${skewSeconds} s, handed over mid-bake`;
  const row = await world.faultDuringRollout(name, 1, async (revision) => {
    const bakingSeenAtMs = await until(
      "the canary wave to bake",
      async () => {
        const r = await world.rollout(revision);
        return r?.waves[0]?.status === "baking" ? Date.now() : undefined;
      },
      60_000,
      20,
    );
    await world.hubs[other]?.stop();
    const next = await world.waitLeader(other);
    const detectedAtMs = Date.now();
    await world.startHub(other);
    const r = await world.waitWrites(revision, 2);
    const firstMainMs = Math.min(
      ...world.written.filter((w) => w.rolloutId === r.id && w.cluster !== "canary").map((w) => w.atMs),
    );
    realBakeSeconds = (firstMainMs - bakingSeenAtMs) / 1000;
    return {
      detectedAtMs,
      notes: `hub-${next} (true clock) took over the bake; real bake ≤ ${realBakeSeconds.toFixed(1)} s of ${world.canaryBakeSeconds} s`,
    };
  });
  return { ...row, realBakeSeconds };
}
