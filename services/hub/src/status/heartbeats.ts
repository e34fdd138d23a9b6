import type { Logger } from "pino";
import type { HubMetrics } from "../metrics.js";
import type { ClusterStatus, ClusterStatusStore, ObjectReader } from "../store.js";
import type { EventBus, HubEvent } from "./events.js";
import { type LivenessPolicy, nextClusterStatus } from "./liveness.js";
import type { HeartbeatFacts, SignedItem } from "./verification.js";
import type { Verifier } from "./verifier.js";

/** A heartbeat as it arrived, not yet verified. */
export interface ReceivedHeartbeat {
  /** The cluster its subject names. */
  cluster: string;
  data: Uint8Array;
  /** Hub clock when it arrived: the cluster was alive then, however long the batch waited. */
  atMs: number;
}

export interface HeartbeatIngestOptions {
  objects: ObjectReader;
  statuses: ClusterStatusStore;
  events: EventBus;
  metrics: HubMetrics;
  log: Logger;
  liveness: LivenessPolicy;
  verifier: Verifier;
}

function stateChange(cluster: string, previous: string, state: string, atMs: number): HubEvent {
  return { type: "cluster-state", cluster, state, previous, atMs };
}

/**
 * Folds heartbeats into cluster liveness a batch at a time (one read of the clusters' keys, one
 * of their statuses, one write, one event message per batch), and sweeps silent clusters
 * Offline. Each heartbeat is verified with its cluster's own agent key and must name that
 * cluster; anything else is counted and dropped.
 */
export class HeartbeatIngest {
  constructor(private readonly o: HeartbeatIngestOptions) {}

  /** Verifies and records one batch, in arrival order; logs (never throws) when Redis fails. */
  async store(batch: readonly ReceivedHeartbeat[]): Promise<void> {
    const { metrics, log } = this.o;
    try {
      const records = await this.o.objects.getObjects("Cluster", [...new Set(batch.map((b) => b.cluster))]);
      const accepted = new Map<string, { beat: HeartbeatFacts; atMs: number }>();
      const dropped = new Map<string, number>();
      const drop = (result: string) => dropped.set(result, (dropped.get(result) ?? 0) + 1);
      const signed: (SignedItem & { atMs: number })[] = [];
      for (const b of batch) {
        const cluster = records.get(b.cluster);
        if (cluster) signed.push({ cluster: b.cluster, pem: cluster.agentPublicKey, bytes: b.data, atMs: b.atMs });
        else drop("unknown_cluster");
      }
      const verdicts = await this.o.verifier.heartbeats(signed);
      signed.forEach((item, i) => {
        const verdict = verdicts[i];
        if (!verdict?.ok) {
          drop(verdict?.reason ?? "error");
          log.warn({ cluster: item.cluster, reason: verdict?.reason, detail: verdict?.detail }, "heartbeat rejected");
          return;
        }
        // A later beat of the same cluster in this batch replaces an earlier one.
        accepted.delete(item.cluster);
        accepted.set(item.cluster, { beat: verdict.value, atMs: item.atMs });
      });
      for (const [result, n] of dropped) metrics.heartbeats.inc({ result }, n);
      const acceptedCount = batch.length - [...dropped.values()].reduce((a, n) => a + n, 0);
      if (acceptedCount > 0) metrics.heartbeats.inc({ result: "accepted" }, acceptedCount);
      if (accepted.size === 0) return;

      const current = await this.o.statuses.getClusterStatuses([...accepted.keys()]);
      const next = new Map<string, ClusterStatus>();
      const events: HubEvent[] = [];
      for (const [name, { beat, atMs }] of accepted) {
        const before = current.get(name);
        const after = nextClusterStatus(
          before,
          {
            kind: "heartbeat",
            atMs,
            agentVersion: beat.agentVersion,
            kubernetesVersion: beat.kubernetesVersion,
            capabilities: beat.capabilities,
            hubKeySetVersion: beat.hubKeySetVersion,
            ...(beat.freeze ? { freeze: beat.freeze } : {}),
          },
          this.o.liveness,
        );
        next.set(name, after);
        events.push({ type: "heartbeat", cluster: name, agentVersion: beat.agentVersion, atMs });
        const previous = before?.state ?? "Pending";
        if (previous !== after.state) {
          log.info({ cluster: name, previous, state: after.state }, "cluster state changed");
          events.push(stateChange(name, previous, after.state, atMs));
        }
        if (before?.freeze?.reason !== after.freeze?.reason || before?.freeze?.source !== after.freeze?.source) {
          log.warn({ cluster: name, freeze: after.freeze, was: before?.freeze }, "cluster freeze request changed");
          events.push({
            type: "cluster-freeze",
            cluster: name,
            ...(after.freeze ? { reason: after.freeze.reason, source: after.freeze.source } : {}),
            atMs,
          });
        }
      }
      await this.o.statuses.putClusterStatuses(next);
      await this.o.events.emitAll(events);
    } catch (err) {
      // Heartbeats come again every interval; one lost batch costs nothing the next cannot fix.
      log.error({ err, heartbeats: batch.length }, "could not record heartbeats");
    }
  }

  /**
   * Turns Ready clusters silent at `nowMs` Offline, counting silence only from
   * `listeningSinceMs` on (see `LivenessInput`). The caller passes a time up to which
   * every beat that reached NATS has been stored, so a backlog of heartbeats never reads as
   * silence.
   */
  async sweep(nowMs: number, listeningSinceMs = 0): Promise<void> {
    try {
      const clusters = await this.o.objects.listObjects("Cluster");
      const statuses = await this.o.statuses.getClusterStatuses(clusters.map((c) => c.name));
      const next = new Map<string, ClusterStatus>();
      const events: HubEvent[] = [];
      for (const [name, current] of statuses) {
        const after = nextClusterStatus(current, { kind: "sweep", nowMs, listeningSinceMs }, this.o.liveness);
        if (after.state === current.state) continue;
        next.set(name, after);
        this.o.log.info({ cluster: name, previous: current.state, state: after.state }, "cluster state changed");
        events.push(stateChange(name, current.state, after.state, nowMs));
      }
      await this.o.statuses.putClusterStatuses(next);
      await this.o.events.emitAll(events);
    } catch (err) {
      this.o.log.warn({ err }, "liveness sweep failed; retrying");
    }
  }
}
