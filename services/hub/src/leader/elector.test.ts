import pino from "pino";
import { describe, expect, it, vi } from "vitest";
import { HubMetrics } from "../metrics.js";
import type { Lease, LeaseStore } from "../store.js";
import { ELECTOR_STOP_WAIT_MS, LEASE_SAFETY_MARGIN, type LeaderDuties, LeaderElector } from "./elector.js";

/** One lease in memory, as the Redis one behaves: a holder, a token that only grows. */
class MemoryLease implements LeaseStore {
  held: Lease | undefined;
  #tokens = 0;
  renewals = true;

  async acquireLease(holder: string): Promise<Lease | undefined> {
    if (this.held) return undefined;
    this.held = { holder, token: ++this.#tokens };
    return this.held;
  }
  async renewLease(lease: Lease): Promise<boolean> {
    return this.renewals && this.held?.token === lease.token;
  }
  async releaseLease(lease: Lease): Promise<void> {
    if (this.held?.token === lease.token) this.held = undefined;
  }
  async currentLease(): Promise<Lease | undefined> {
    return this.held;
  }
}

function elector(leases: LeaseStore, seen: string[], now?: () => number, ttlMs = 150) {
  const duties: LeaderDuties = {
    start: async (lease) => {
      seen.push(`start ${lease.token}`);
    },
    stop: async () => {
      seen.push("stop");
    },
  };
  return new LeaderElector({
    leases,
    replicaId: "r1",
    ttlMs,
    duties,
    metrics: new HubMetrics(),
    log: pino({ level: "silent" }),
    ...(now ? { now } : {}),
  });
}

describe("LeaderElector", () => {
  it("takes a free lease and starts its duties; on stop, stops them and releases the lease", async () => {
    const leases = new MemoryLease();
    const seen: string[] = [];
    const e = elector(leases, seen);
    e.start();
    await vi.waitFor(() => expect(e.lease?.token).toBe(1), { timeout: 10_000 });
    await e.stop();
    expect(seen).toEqual(["start 1", "stop"]);
    expect(leases.held).toBeUndefined();
    expect(e.lease).toBeUndefined();
  });

  it("stops its duties at once when a renewal fails, and follows while another replica holds the lease", async () => {
    const leases = new MemoryLease();
    const seen: string[] = [];
    const e = elector(leases, seen);
    e.start();
    await vi.waitFor(() => expect(seen).toEqual(["start 1"]), { timeout: 10_000 });
    leases.renewals = false;
    leases.held = { holder: "r2", token: 99 };
    await vi.waitFor(() => expect(seen).toEqual(["start 1", "stop"]), { timeout: 10_000 });
    expect(e.lease).toBeUndefined();
    await e.stop();
    expect(leases.held).toEqual({ holder: "r2", token: 99 });
  });

  it("answers no lease once its local deadline passed, before any renewal runs: a frozen leader wakes fenced", async () => {
    const leases = new MemoryLease();
    const seen: string[] = [];
    let clock = 1_000;
    const e = elector(leases, seen, () => clock);
    e.start();
    await vi.waitFor(() => expect(e.lease?.token).toBe(1), { timeout: 10_000 });
    // Within the TTL less the margin the lease holds; the renewals keep it there.
    clock += 150 * (1 - LEASE_SAFETY_MARGIN) - 1;
    const held = e.lease;
    // The clock jumps past the deadline as it does for a process stopped and resumed: no
    // renewal ran in between, and the lease must already read as gone.
    clock += 2;
    expect(held?.token).toBe(1);
    expect(e.lease).toBeUndefined();
    // A renewal sent after the jump finds the key still ours and extends the deadline from its own send time.
    await vi.waitFor(() => expect(e.lease?.token).toBe(1), { timeout: 10_000 });
    // When the key is gone (another replica's by now), the duties stop.
    leases.held = { holder: "r2", token: 2 };
    await vi.waitFor(() => expect(seen).toEqual(["start 1", "stop"]), { timeout: 10_000 });
    expect(e.lease).toBeUndefined();
    await e.stop();
  });

  it("acts as leader no more once its Redis connection broke, until a renewal succeeds again", async () => {
    const leases = new MemoryLease();
    const seen: string[] = [];
    let clock = 1_000;
    const e = elector(leases, seen, () => clock, 60_000);
    e.start();
    await vi.waitFor(() => expect(e.lease?.token).toBe(1), { timeout: 10_000 });
    // Well within the deadline, but the primary it renewed on is gone: the lease is unconfirmed.
    clock += 10;
    e.suspect();
    expect(e.lease).toBeUndefined();
    expect(seen).toEqual(["start 1"]);
    // Reconnected: the renewal that follows at once finds the key still ours.
    e.wake();
    await vi.waitFor(() => expect(e.lease?.token).toBe(1), { timeout: 10_000 });
    expect(seen).toEqual(["start 1"]);
    await e.stop();
  });

  it("tries for the lease at once when Redis is back, and again right after losing it, not a tick later", async () => {
    const leases = new MemoryLease();
    leases.held = { holder: "r2", token: 7 };
    const seen: string[] = [];
    // Ticks 20 s apart: only wake() or the loss itself can explain a prompt election.
    const e = elector(leases, seen, undefined, 60_000);
    e.start();
    await new Promise((r) => setTimeout(r, 50));
    expect(e.lease).toBeUndefined();
    // A failover dropped r2's lease; this replica reconnects to the new primary.
    leases.held = undefined;
    e.wake();
    await vi.waitFor(() => expect(e.lease?.token).toBeGreaterThan(0), { timeout: 2_000 });
    const first = e.lease?.token ?? 0;
    // Its own lease dropped and free: the renewal fails and the same tick takes a new one.
    leases.held = undefined;
    e.wake();
    await vi.waitFor(() => expect(e.lease?.token).toBe(first + 1), { timeout: 2_000 });
    expect(seen).toEqual([`start ${first}`, "stop", `start ${first + 1}`]);
    await e.stop();
  });

  it("stops within its wait when Redis never answers: the lease is left to expire", async () => {
    const leases = new MemoryLease();
    const seen: string[] = [];
    const e = elector(leases, seen);
    e.start();
    await vi.waitFor(() => expect(e.lease?.token).toBe(1), { timeout: 10_000 });
    // Redis gone: every call hangs, as ioredis's do while it reconnects.
    const never = () => new Promise<never>(() => {});
    leases.renewLease = never;
    leases.releaseLease = never;
    await new Promise((r) => setTimeout(r, 100));
    const stopped = e.stop().then(() => "stopped");
    const outcome = await Promise.race([
      stopped,
      new Promise((r) => setTimeout(() => r("still waiting"), 10 * ELECTOR_STOP_WAIT_MS)),
    ]);
    expect(outcome).toBe("stopped");
    expect(seen).toEqual(["start 1", "stop"]);
  });
});
