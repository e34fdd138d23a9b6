import type { Redis } from "ioredis";
import type { ClusterCleanup, ClusterStatus, ClusterStatusStore } from "../store.js";
import { ParsedCache } from "./json.js";
import { keys } from "./keys.js";

/** Cluster liveness: one JSON status per cluster. */
export class RedisClusterStatusStore implements ClusterStatusStore {
  readonly #parsed = new ParsedCache<ClusterStatus>();

  constructor(private readonly redis: Redis) {}

  async getClusterStatus(cluster: string): Promise<ClusterStatus | undefined> {
    return this.#parsed.parse(cluster, await this.redis.get(keys.clusterStatus(cluster)));
  }

  async getClusterStatuses(clusters: readonly string[]): Promise<Map<string, ClusterStatus>> {
    const statuses = new Map<string, ClusterStatus>();
    if (clusters.length === 0) return statuses;
    const values = await this.redis.mget(clusters.map(keys.clusterStatus));
    clusters.forEach((name, i) => {
      const status = this.#parsed.parse(name, values[i]);
      if (status) statuses.set(name, status);
    });
    return statuses;
  }

  async putClusterStatus(cluster: string, status: ClusterStatus): Promise<void> {
    await this.redis.set(keys.clusterStatus(cluster), JSON.stringify(status));
  }

  async putClusterStatuses(statuses: ReadonlyMap<string, ClusterStatus>): Promise<void> {
    if (statuses.size === 0) return;
    const pairs: string[] = [];
    for (const [cluster, status] of statuses) pairs.push(keys.clusterStatus(cluster), JSON.stringify(status));
    await this.redis.mset(pairs);
  }
}

/** Drops a deregistered cluster's status, reports and desired records in one transaction. */
export class RedisClusterCleanup implements ClusterCleanup {
  constructor(private readonly redis: Redis) {}

  async forgetCluster(cluster: string): Promise<void> {
    const [desiredApps, reportApps] = await Promise.all([
      this.redis.smembers(keys.desiredByCluster(cluster)),
      this.redis.smembers(keys.reportByCluster(cluster)),
    ]);
    const tx = this.redis
      .multi()
      .del(keys.clusterStatus(cluster), keys.desiredByCluster(cluster), keys.reportByCluster(cluster));
    for (const app of desiredApps) tx.del(keys.desired(cluster, app)).srem(keys.desiredByApp(app), cluster);
    for (const app of reportApps) tx.del(keys.report(cluster, app)).srem(keys.reportByApp(app), cluster);
    await tx.exec();
  }
}
