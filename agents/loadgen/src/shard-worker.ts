/**
 * One shard of a {@link ShardedFleet}, run in a worker thread: a {@link SimulatedFleet} of the
 * shard's clusters on the worker's own event loop, so its heartbeat and report timers are
 * never held up by the process that measures the hub.
 */
import { parentPort, workerData } from "node:worker_threads";
import { SimulatedFleet } from "./fleet.js";
import type { ShardAnswers, ShardInit, ShardMessage, ShardRequest } from "./shard-protocol.js";

if (!parentPort) throw new Error("shard-worker.js runs only as a worker thread of ShardedFleet");
const port = parentPort;
const init = workerData as ShardInit;
const send = (m: ShardMessage) => port.postMessage(m);

async function answer(fleet: SimulatedFleet, q: ShardRequest): Promise<ShardAnswers[ShardRequest["op"]]> {
  switch (q.op) {
    case "setBehaviour":
      fleet.setBehaviour(q.change);
      return undefined;
    case "progress":
      return fleet.progressAll(q.app);
    case "counts":
      return { counts: fleet.counters.snapshot(), window: fleet.counters.window };
    case "openWindow":
      fleet.counters.openWindow();
      return undefined;
    case "prepareBurst":
      return fleet.prepareBurst(q.reports);
    case "sendBurst":
      await fleet.sendBurst(q.acked);
      return undefined;
    case "beatAll":
      await fleet.beatAll();
      return undefined;
    case "stop":
      await fleet.stop();
      port.close();
      return undefined;
  }
}

try {
  const fleet = await SimulatedFleet.start({
    natsUrl: init.natsUrl,
    bundles: init.bundles,
    behaviour: init.behaviour,
    ...(init.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: init.heartbeatIntervalMs } : {}),
    ...(init.clustersPerConnection !== undefined ? { clustersPerConnection: init.clustersPerConnection } : {}),
    ...(init.ignoreClusterUpdates !== undefined ? { ignoreClusterUpdates: init.ignoreClusterUpdates } : {}),
    ...(init.verifyDesired !== undefined ? { verifyDesired: init.verifyDesired } : {}),
    ...(init.tls !== undefined ? { tls: init.tls } : {}),
  });
  port.on("message", (q: ShardRequest) => {
    answer(fleet, q).then(
      (value) => send({ kind: "answer", id: q.id, value }),
      (err: unknown) => send({ kind: "answer", id: q.id, error: (err as Error).message ?? String(err) }),
    );
  });
  send({ kind: "started" });
} catch (err) {
  send({ kind: "failed", message: (err as Error).message ?? String(err) });
}
