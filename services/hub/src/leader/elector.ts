import type { Logger } from "pino";
import type { HubMetrics } from "../metrics.js";
import type { Lease, LeaseStore } from "../store.js";

/** What the leader runs; started on election, stopped on losing the lease. */
export interface LeaderDuties {
  start(lease: Lease): Promise<void>;
  stop(): Promise<void>;
}

export interface LeaderElectorOptions {
  leases: LeaseStore;
  replicaId: string;
  ttlMs: number;
  duties: LeaderDuties;
  metrics: HubMetrics;
  log: Logger;
}

/**
 * Leader election over a Redis lease (SET NX PX) with a fencing token (INCR) per term. The
 * leader renews every third of the TTL; when a renewal fails, or it cannot reach Redis for a
 * whole TTL, it stops its duties at once. Followers try to take the lease every third of the
 * TTL, so a dead leader is replaced within about 1⅓ TTL. Writes are fenced by the token (see
 * GenerationStore.allocateGeneration), so a paused leader that wakes after losing the lease writes nothing.
 */
export class LeaderElector {
  #lease: Lease | undefined;
  #lastRenewedMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #step: Promise<void> = Promise.resolve();

  constructor(private readonly o: LeaderElectorOptions) {}

  /** The lease while this replica leads. */
  get lease(): Lease | undefined {
    return this.#lease;
  }

  start(): void {
    this.#loop();
  }

  #loop(): void {
    if (this.#stopped) return;
    this.#step = this.#tick().finally(() => {
      if (!this.#stopped) this.#timer = setTimeout(() => this.#loop(), Math.max(50, Math.floor(this.o.ttlMs / 3)));
    });
  }

  async #tick(): Promise<void> {
    const held = this.#lease;
    try {
      if (held) {
        if (await this.o.leases.renewLease(held, this.o.ttlMs)) {
          this.#lastRenewedMs = Date.now();
          return;
        }
        this.o.log.warn({ token: held.token }, "leader lease lost");
        await this.#stepDown();
        return;
      }
      const lease = await this.o.leases.acquireLease(this.o.replicaId, this.o.ttlMs);
      if (!lease) return;
      this.#lease = lease;
      this.#lastRenewedMs = Date.now();
      this.o.metrics.leader.set(1);
      this.o.log.info({ token: lease.token }, "became leader");
      try {
        await this.o.duties.start(lease);
      } catch (err) {
        this.o.log.error({ err }, "leader duties failed to start; stepping down");
        await this.#stepDown();
        await this.o.leases.releaseLease(lease).catch(() => {});
      }
    } catch (err) {
      this.o.log.warn({ err }, "leader election could not reach Redis");
      if (held && Date.now() - this.#lastRenewedMs > this.o.ttlMs) await this.#stepDown();
    }
  }

  async #stepDown(): Promise<void> {
    if (!this.#lease) return;
    this.#lease = undefined;
    this.o.metrics.leader.set(0);
    await this.o.duties.stop().catch((err) => this.o.log.error({ err }, "leader duties did not stop cleanly"));
  }

  /** Stops electing; a leader stops its duties and releases the lease so a follower takes over now. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#step;
    const lease = this.#lease;
    await this.#stepDown();
    if (lease) await this.o.leases.releaseLease(lease).catch(() => {});
  }
}
