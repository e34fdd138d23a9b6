import { Piscina } from "piscina";
import { AgentKeys } from "../registry/agent-keys.js";
import type { SerializedReport } from "../store.js";
import { packItems, transferList } from "./packed.js";
import {
  type HeartbeatFacts,
  openHeartbeat,
  openReportSerialized,
  type SignedItem,
  type SignedReport,
  type Verdict,
} from "./verification.js";

/**
 * Verifies batches of what agents sign. An Ed25519 verification costs tens of microseconds,
 * which at tens of thousands of reports a second is more than one core: the hub spreads each
 * batch over threads ({@link ThreadVerifier}), or verifies on the main thread
 * ({@link InlineVerifier}) when it is given none.
 */
export interface Verifier {
  /** One verdict per item, in order. */
  reports(items: readonly SignedReport[], receivedAtMs: number): Promise<Verdict<SerializedReport>[]>;
  heartbeats(items: readonly SignedItem[]): Promise<Verdict<HeartbeatFacts>[]>;
  close(): Promise<void>;
}

/** Verifies on the calling thread. */
export class InlineVerifier implements Verifier {
  readonly #keys = new AgentKeys();

  async reports(items: readonly SignedReport[], receivedAtMs: number): Promise<Verdict<SerializedReport>[]> {
    return items.map((item) => openReportSerialized(this.#keys, item, receivedAtMs));
  }

  async heartbeats(items: readonly SignedItem[]): Promise<Verdict<HeartbeatFacts>[]> {
    return items.map((item) => openHeartbeat(this.#keys, item));
  }

  async close(): Promise<void> {}
}

/** Smallest share of a batch worth handing to a thread of its own. */
const MIN_ITEMS_PER_THREAD = 16;

/** Verifies on a pool of worker threads, each batch split evenly across them. */
export class ThreadVerifier implements Verifier {
  readonly #pool: Piscina;

  constructor(private readonly threads: number) {
    this.#pool = new Piscina({
      filename: new URL("./verify-worker.js", import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
      // Threads stay up for the hub's life; verification comes in bursts.
      idleTimeout: Number.POSITIVE_INFINITY,
    });
  }

  async #split<I extends SignedItem, R>(name: string, items: readonly I[], extra: object = {}): Promise<R[]> {
    const parts = Math.max(1, Math.min(this.threads, Math.floor(items.length / MIN_ITEMS_PER_THREAD)));
    const size = Math.ceil(items.length / parts);
    const runs: Promise<R[]>[] = [];
    for (let i = 0; i < items.length; i += size) {
      const packed = packItems(items.slice(i, i + size));
      runs.push(this.#pool.run({ ...packed, ...extra }, { name, transferList: transferList(packed) }));
    }
    return (await Promise.all(runs)).flat();
  }

  reports(items: readonly SignedReport[], receivedAtMs: number): Promise<Verdict<SerializedReport>[]> {
    return this.#split("reports", items, { receivedAtMs });
  }

  heartbeats(items: readonly SignedItem[]): Promise<Verdict<HeartbeatFacts>[]> {
    return this.#split("heartbeats", items);
  }

  async close(): Promise<void> {
    await this.#pool.destroy();
  }
}

/** A thread verifier with `threads` threads, or the inline one for 0. */
export function createVerifier(threads: number): Verifier {
  return threads > 0 ? new ThreadVerifier(threads) : new InlineVerifier();
}
