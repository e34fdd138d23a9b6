import type { Logger } from "pino";
import type { HubMetrics } from "../metrics.js";
import type { Lease, LeaseStore } from "../store.js";

/** What the leader runs; started on election, stopped on losing the lease. */
export interface LeaderDuties {
  start(lease: Lease): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Share of the TTL a leader gives up at the end of each term it renews: it stops calling
 * itself leader this much before Redis would let the key expire, so a clock that runs a little
 * fast (or a renewal reply that was slow to arrive) cannot make two replicas lead at once.
 */
export const LEASE_SAFETY_MARGIN = 0.2;

export interface LeaderElectorOptions {
  leases: LeaseStore;
  replicaId: string;
  ttlMs: number;
  /** A monotonic clock in ms (one that keeps running while the process is stopped). @default performance.now */
  now?: () => number;
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
 *
 * Writes that Redis cannot fence (the desired-state bucket in NATS) are fenced here instead:
 * `lease` answers only until the lease's local deadline, measured on a monotonic clock from
 * the moment the last successful renewal was *sent* (so no later than Redis started its TTL),
 * less {@link LEASE_SAFETY_MARGIN}. A leader frozen past its TTL (SIGSTOP, a long GC pause, a
 * suspended VM) finds its lease gone the instant it wakes, before its renewal timer has run.
 */
export class LeaderElector {
  #lease: Lease | undefined;
  #lastRenewedMs = 0;
  /** Monotonic time until which this replica may act as leader. */
  #validUntil = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #step: Promise<void> = Promise.resolve();

  readonly #now: () => number;

  constructor(private readonly o: LeaderElectorOptions) {
    this.#now = o.now ?? (() => performance.now());
  }

  /** The lease while this replica leads and its local deadline has not passed. */
  get lease(): Lease | undefined {
    return this.#lease && this.#now() < this.#validUntil ? this.#lease : undefined;
  }

  #extend(sentAt: number): void {
    this.#validUntil = sentAt + this.o.ttlMs * (1 - LEASE_SAFETY_MARGIN);
  }

  start(): void {
    this.#loop();
  }

  /**
   * The connection to Redis broke (its primary died, or Sentinel moved it): until a renewal
   * succeeds again, perhaps on a new primary that never received the last one, this replica
   * does not act as leader. Without this, a leader whose lease a failover dropped would go on
   * until its local deadline, up to (1 − margin) of the TTL, while another replica may already
   * hold the lease on the new primary. Only ever shortens the lease, so fencing stays as it is.
   */
  suspect(): void {
    if (this.#lease) this.#validUntil = Math.min(this.#validUntil, this.#now());
  }

  /**
   * Redis answers again (reconnected, perhaps to a new primary): renew, or try to take the
   * lease, now rather than at the next tick, so a failover costs the fleet its leader for the
   * failover's own time and not a tick more. A tick in flight is left to finish.
   */
  wake(): void {
    if (this.#stopped || this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#loop();
  }

  #loop(): void {
    if (this.#stopped) return;
    this.#timer = undefined;
    this.#step = this.#tick().finally(() => {
      if (!this.#stopped) this.#timer = setTimeout(() => this.#loop(), Math.max(50, Math.floor(this.o.ttlMs / 3)));
    });
  }

  async #tick(): Promise<void> {
    const held = this.#lease;
    try {
      const sentAt = this.#now();
      if (held) {
        // Past the local deadline (frozen, or starved of CPU) `lease` already answers nothing;
        // a renewal that still finds the key ours proves no other replica led meanwhile.
        if (await this.o.leases.renewLease(held, this.o.ttlMs)) {
          this.#lastRenewedMs = Date.now();
          this.#extend(sentAt);
          return;
        }
        this.o.log.warn({ token: held.token }, "leader lease lost");
        await this.#stepDown();
        // The key may be free (a failover dropped it, or it expired): try for it now.
        if (this.#stopped) return;
      }
      const acquireSentAt = this.#now();
      const lease = await this.o.leases.acquireLease(this.o.replicaId, this.o.ttlMs);
      if (!lease) return;
      this.#lease = lease;
      this.#lastRenewedMs = Date.now();
      this.#extend(acquireSentAt);
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
    this.#validUntil = 0;
    this.o.metrics.leader.set(0);
    await this.o.duties.stop().catch((err) => this.o.log.error({ err }, "leader duties did not stop cleanly"));
  }

  /**
   * Stops electing; a leader stops its duties and releases the lease so a follower takes over
   * now. With Redis unreachable neither the tick in flight nor the release is waited for longer
   * than {@link ELECTOR_STOP_WAIT_MS} each (the lease then simply expires): a stop must end.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await settledWithin(this.#step, ELECTOR_STOP_WAIT_MS);
    const lease = this.#lease;
    await this.#stepDown();
    if (lease) await settledWithin(this.o.leases.releaseLease(lease), ELECTOR_STOP_WAIT_MS);
  }
}

/** Longest a stop waits for the election tick in flight, and again for releasing the lease. */
export const ELECTOR_STOP_WAIT_MS = 1_000;

/** Resolves when `work` settles (either way) or after `ms`, whichever comes first. */
async function settledWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    work.catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}
