/**
 * When the agent asks the hub for new NATS credentials because of a new assignment. The hub
 * grants each cluster's user the status keys of its assigned apps only; an app assigned since
 * the JWT was minted has a desired state the agent acts on but a status key it may not write. The
 * agent reads its own JWT's publish allow list (`grantsStatusKey` in @flotilla/proto), and for a
 * report it may not send it asks for a renewal naming the app, instead of writing and being
 * refused. The rules, for 10k clusters:
 *
 * - **Coalesce**: one request at a time names every app wanted so far; apps that become wanted
 *   while it is out go into the next one.
 * - **Spread**: the first ask waits a random time in [0, {@link GRANT_SPREAD_MS}), so an app
 *   assigned to every cluster at once does not bring every agent to the hub in the same
 *   millisecond. A report waits at most that long; applying does not wait at all.
 * - **Back off**: when the new JWT still lacks an app it was asked for (the hub has not recorded
 *   the assignment yet, or no longer assigns it), the next ask waits {@link GRANT_RETRY_FIRST_MS},
 *   doubling to {@link GRANT_RETRY_MAX_MS}, each with jitter; a renewal that grants everything
 *   asked resets it.
 * - **Give up**: a removal report for an app the hub no longer grants is dropped (the hub stops
 *   granting a removed app once it stored that report), and so is any report of an app still
 *   lacking after {@link GRANT_MAX_ASKS} asks (an app of an inventory the hub never assigned
 *   to this registration). Neither is asked for again until a new desired state for it arrives.
 */

/** Longest random wait before the first ask for newly wanted apps. */
export const GRANT_SPREAD_MS = 2_000;
/** Wait before asking again when a renewal left an asked app ungranted; doubles per ask. */
export const GRANT_RETRY_FIRST_MS = 2_000;
/** Asks for one app before giving up on it: about two minutes of backoff. */
export const GRANT_MAX_ASKS = 7;
/** Most apps one request names (a few KiB of the request's 64 KiB); the rest go in the next. */
export const MAX_APPS_PER_REQUEST = 64;

/** What a renewal's answer left: asked apps still lacking, and those given up on. */
export interface GrantOutcome {
  lacking: string[];
  givenUp: string[];
}

/** Apps whose status keys the agent needs but its JWT lacks, and when to ask for them. */
export class GrantWants {
  /** Wanted apps, and how many answered requests named them. */
  readonly #wanted = new Map<string, number>();
  /** Apps not to ask for again until a new desired state for them arrives. */
  readonly #givenUp = new Set<string>();

  /** Notes that `app`'s status key is needed; true when it is newly wanted. */
  want(app: string): boolean {
    if (this.#wanted.has(app) || this.#givenUp.has(app)) return false;
    this.#wanted.set(app, 0);
    return true;
  }

  /** A new desired state for `app` arrived: it may be asked for again. */
  reopen(app: string): void {
    this.#givenUp.delete(app);
  }

  /** Whether the agent gave up on `app` (its reports are dropped, not kept). */
  gaveUp(app: string): boolean {
    return this.#givenUp.has(app);
  }

  get size(): number {
    return this.#wanted.size;
  }

  /** The apps to name in the next request, sorted: the least asked first, at most {@link MAX_APPS_PER_REQUEST}. */
  toAsk(): string[] {
    return [...this.#wanted.entries()]
      .sort(([a, x], [b, y]) => x - y || a.localeCompare(b))
      .slice(0, MAX_APPS_PER_REQUEST)
      .map(([app]) => app)
      .sort();
  }

  /**
   * Takes a renewal's answer to a request that named `asked`: apps the new JWT `grants` are no
   * longer wanted; asked ones it lacks count one more ask, and are given up on when `removal`
   * says their report is a removal, or after {@link GRANT_MAX_ASKS} asks.
   */
  answered(
    asked: readonly string[],
    grants: (app: string) => boolean,
    removal: (app: string) => boolean,
  ): GrantOutcome {
    for (const app of [...this.#wanted.keys()]) if (grants(app)) this.#wanted.delete(app);
    const outcome: GrantOutcome = { lacking: [], givenUp: [] };
    for (const app of asked) {
      const asks = this.#wanted.get(app);
      if (asks === undefined) continue;
      if (removal(app) || asks + 1 >= GRANT_MAX_ASKS) {
        this.#wanted.delete(app);
        this.#givenUp.add(app);
        outcome.givenUp.push(app);
      } else {
        this.#wanted.set(app, asks + 1);
        outcome.lacking.push(app);
      }
    }
    return outcome;
  }

  /**
   * How long to wait before the next ask; `random` in [0, 1). Undefined when nothing is wanted.
   * Spread when some wanted app was never asked for, else backed off by the fewest asks of any.
   */
  delayMs(random: number): number | undefined {
    if (this.#wanted.size === 0) return undefined;
    const asks = Math.min(...this.#wanted.values());
    if (asks === 0) return Math.floor(random * GRANT_SPREAD_MS);
    const backoff = GRANT_RETRY_FIRST_MS * 2 ** (asks - 1);
    return Math.floor(backoff / 2 + (random * backoff) / 2);
  }
}
