import type { Redis } from "ioredis";
import type { Lease, LeaseStore } from "../store.js";
import { keys, leaseValue, parseLeaseValue } from "./keys.js";
import { ACQUIRE_LEASE, RELEASE_LEASE, RENEW_LEASE } from "./scripts.js";

/** The leader lease: `SET NX PX` with a fencing token from a counter that only grows. */
export class RedisLeaseStore implements LeaseStore {
  constructor(private readonly redis: Redis) {}

  async acquireLease(holder: string, ttlMs: number): Promise<Lease | undefined> {
    const token = Number(await this.redis.eval(ACQUIRE_LEASE, 2, keys.leader, keys.leaderFence, holder, ttlMs));
    return token > 0 ? { holder, token } : undefined;
  }

  async renewLease(lease: Lease, ttlMs: number): Promise<boolean> {
    return (await this.redis.eval(RENEW_LEASE, 1, keys.leader, leaseValue(lease), ttlMs)) === 1;
  }

  async releaseLease(lease: Lease): Promise<void> {
    await this.redis.eval(RELEASE_LEASE, 1, keys.leader, leaseValue(lease));
  }

  async currentLease(): Promise<Lease | undefined> {
    const value = await this.redis.get(keys.leader);
    return value ? parseLeaseValue(value) : undefined;
  }
}
