/**
 * The hub's public event stream (`GET /v1/events`, Server-Sent Events) as the benchmark reads
 * it: counts per type, the time of the last event of each type, and waits on rollout events.
 */
import type { HubEvent } from "@flotilla/api";

type RolloutEvent = Extract<HubEvent, { type: "rollout" }>;

interface Waiter {
  test: (e: HubEvent) => boolean;
  resolve: (e: HubEvent) => void;
}

/** What the stream counts: an event type, or `report:<phase>` for reports of one phase. */
export type CountKey = HubEvent["type"] | `report:${string}`;

interface CountWaiter {
  type: CountKey;
  target: number;
  resolve: (atMs: number) => void;
}

/** Rollout events that end a rollout (or its creation's failure to start). */
export const ROLLOUT_END_EVENTS = ["RolloutSucceeded", "RolloutFailed"];

/** One SSE connection to a hub, parsed as it arrives. */
export class HubEventStream {
  readonly #abort = new AbortController();
  readonly #waiters = new Set<Waiter>();
  readonly #countWaiters = new Set<CountWaiter>();
  /** The event that ended each rollout seen ending, so a wait that starts late still finds it. */
  readonly #ended = new Map<string, RolloutEvent>();
  /** Clusters whose last state change was to Ready. */
  readonly ready = new Set<string>();
  readonly #counts = new Map<string, number>();
  readonly #lastAt = new Map<string, number>();
  /** Clusters that went Offline, with how often: every simulated agent stays up, so each is false. */
  readonly offline = new Map<string, number>();
  #done: Promise<void> | undefined;
  /** Per rollout, the hub's clock at its first and last desired-state write event. */
  readonly #writes = new Map<string, { firstAtMs: number; lastAtMs: number }>();
  /** The hub's clock at the newest report event. */
  #lastReportAtMs = 0;
  /** The hub's clock at the first report event since {@link markReports}, if any came. */
  #firstReportSinceMarkAtMs: number | undefined;
  #markedReports = true;

  private constructor() {}

  /** Opens `GET /v1/events?types=...` and resolves once the hub has answered. */
  static async open(url: string, token: string, types: readonly HubEvent["type"][]): Promise<HubEventStream> {
    const stream = new HubEventStream();
    const res = await fetch(`${url}/v1/events?types=${types.join(",")}`, {
      headers: { authorization: `Bearer ${token}` },
      signal: stream.#abort.signal,
    });
    if (res.status !== 200 || !res.body) throw new Error(`GET /v1/events answered ${res.status}`);
    stream.#done = stream.#read(res.body).catch(() => {});
    return stream;
  }

  async #read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of body) {
      buffered += decoder.decode(chunk, { stream: true });
      let end = buffered.indexOf("\n\n");
      while (end >= 0) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const data = block.split("\n").find((l) => l.startsWith("data: "));
        if (data) this.#dispatch(JSON.parse(data.slice("data: ".length)) as HubEvent);
        end = buffered.indexOf("\n\n");
      }
    }
  }

  #dispatch(e: HubEvent): void {
    const counted: CountKey[] = e.type === "report" ? [e.type, `report:${e.phase}`] : [e.type];
    for (const key of counted) this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
    this.#lastAt.set(e.type, Date.now());
    if (e.type === "cluster-state") {
      if (e.state === "Ready") this.ready.add(e.cluster);
      else this.ready.delete(e.cluster);
      if (e.state === "Offline") this.offline.set(e.cluster, (this.offline.get(e.cluster) ?? 0) + 1);
    }
    if (e.type === "rollout" && ROLLOUT_END_EVENTS.includes(e.event)) this.#ended.set(e.rolloutId, e);
    if (e.type === "rollout" && (e.event === "WriteDesired" || e.event === "RollbackCluster")) {
      const w = this.#writes.get(e.rolloutId);
      if (w) w.lastAtMs = Math.max(w.lastAtMs, e.atMs);
      else this.#writes.set(e.rolloutId, { firstAtMs: e.atMs, lastAtMs: e.atMs });
    }
    if (e.type === "report") {
      this.#lastReportAtMs = Math.max(this.#lastReportAtMs, e.atMs);
      if (!this.#markedReports) {
        this.#markedReports = true;
        this.#firstReportSinceMarkAtMs = e.atMs;
      }
    }
    for (const w of this.#countWaiters) {
      if (!counted.includes(w.type) || this.count(w.type) < w.target) continue;
      this.#countWaiters.delete(w);
      w.resolve(Date.now());
    }
    for (const w of this.#waiters) {
      if (!w.test(e)) continue;
      this.#waiters.delete(w);
      w.resolve(e);
    }
  }

  /** The hub's clock at rollout `id`'s first and last write events, if any came. */
  writesOf(id: string): { firstAtMs: number; lastAtMs: number } | undefined {
    return this.#writes.get(id);
  }

  /** The hub's clock at the newest report event so far (0 before any). */
  get lastReportAtMs(): number {
    return this.#lastReportAtMs;
  }

  /** Starts looking for the first report event from now on (see {@link firstReportSinceMarkAtMs}). */
  markReports(): void {
    this.#markedReports = false;
    this.#firstReportSinceMarkAtMs = undefined;
  }

  /** The hub's clock at the first report event since {@link markReports}, if any came. */
  get firstReportSinceMarkAtMs(): number | undefined {
    return this.#firstReportSinceMarkAtMs;
  }

  count(type: CountKey): number {
    return this.#counts.get(type) ?? 0;
  }

  /** When the last event of `type` arrived (this process's clock), or undefined. */
  lastAt(type: HubEvent["type"]): number | undefined {
    return this.#lastAt.get(type);
  }

  /** Resolves with the first event after now that passes `test`; rejects after `timeoutMs`. */
  next<E extends HubEvent>(what: string, test: (e: HubEvent) => e is E, timeoutMs: number): Promise<E>;
  next(what: string, test: (e: HubEvent) => boolean, timeoutMs: number): Promise<HubEvent>;
  next(what: string, test: (e: HubEvent) => boolean, timeoutMs: number): Promise<HubEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`no ${what} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const waiter: Waiter = {
        test,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      this.#waiters.add(waiter);
    });
  }

  /** The next rollout event of `kind` (Created, RolloutSucceeded, ...), optionally of one rollout. */
  nextRollout(kinds: readonly string[], timeoutMs: number, rolloutId?: string): Promise<RolloutEvent> {
    return this.next(
      `rollout event ${kinds.join(" or ")}${rolloutId ? ` of ${rolloutId}` : ""}`,
      (e): e is RolloutEvent =>
        e.type === "rollout" && kinds.includes(e.event) && (rolloutId === undefined || e.rolloutId === rolloutId),
      timeoutMs,
    );
  }

  /** The event that ends rollout `id`, whether it came already or comes within `timeoutMs`. */
  async end(id: string, timeoutMs: number): Promise<RolloutEvent> {
    return this.#ended.get(id) ?? this.nextRollout(ROLLOUT_END_EVENTS, timeoutMs, id);
  }

  /**
   * Resolves with the time (this process's clock) at which `count(type)` reached `target`;
   * rejects after `timeoutMs`.
   */
  reach(type: CountKey, target: number, timeoutMs: number): Promise<number> {
    if (this.count(type) >= target) return Promise.resolve(Date.now());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#countWaiters.delete(waiter);
        reject(new Error(`only ${this.count(type)} of ${target} ${type} events within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const waiter: CountWaiter = {
        type,
        target,
        resolve: (atMs) => {
          clearTimeout(timer);
          resolve(atMs);
        },
      };
      this.#countWaiters.add(waiter);
    });
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.#done;
  }
}
