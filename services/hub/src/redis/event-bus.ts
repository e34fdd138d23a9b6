import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { compareEventIds, type EventId, eventIdOf, parseEventId, streamIdOf } from "../status/event-ids.js";
import type { EventBus, EventLog, EventReplay, HubEvent, LoggedEvent } from "../status/events.js";
import { closeRedis } from "./connection.js";
import { keys, NUDGE_CHANNEL } from "./keys.js";

/** The one field of an event log entry: the batch's events as a JSON array. */
const FIELD = "e";
/** How long one blocking read waits before it reads again (and notices a close). */
const READ_BLOCK_MS = 2_000;
/** Entries one read takes at most. */
const READ_COUNT = 200;
/** Pause after a failed read (Redis down) before the next; the log keeps what came meanwhile. */
const READ_RETRY_MS = 500;

type StreamEntry = [id: string, fields: string[]];

function eventsOf([id, fields]: StreamEntry, log: Logger): LoggedEvent[] {
  const text = fields[fields.indexOf(FIELD) + 1];
  if (text === undefined) return [];
  try {
    const parsed = JSON.parse(text) as HubEvent[];
    return parsed.map((event, index) => ({ id: eventIdOf(id, index), event }));
  } catch (err) {
    log.warn({ err, entry: id }, "dropped an event log entry that is not JSON");
    return [];
  }
}

/**
 * Events over a Redis stream (`events`, capped with `MAXLEN ~`): a batch is one entry, every
 * replica reads the stream in order on a dedicated connection and hands each event to its
 * listeners, and a reconnecting SSE client is served what it missed from the same stream.
 * Nudges stay on pub/sub: they are worth nothing later.
 */
export class RedisEventBus implements EventBus, EventLog {
  readonly #listeners = new Set<(event: HubEvent, id: string) => void>();
  readonly #nudgeListeners = new Set<(repo: string) => void>();
  #closed = false;
  #reading: Promise<void> | undefined;

  private constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly reader: Redis,
    private readonly maxEntries: number,
    private readonly log: Logger,
  ) {}

  /**
   * `subscriber` and `reader` must be dedicated connections: one is in pub/sub mode, the other
   * blocks on the stream. `maxEntries`: about how many batches the log keeps.
   */
  static async start(
    publisher: Redis,
    subscriber: Redis,
    reader: Redis,
    o: { maxEntries: number; log: Logger },
  ): Promise<RedisEventBus> {
    const bus = new RedisEventBus(publisher, subscriber, reader, o.maxEntries, o.log);
    subscriber.on("message", (channel: string, message: string) => {
      if (channel === NUDGE_CHANNEL) for (const l of bus.#nudgeListeners) l(message);
    });
    await subscriber.subscribe(NUDGE_CHANNEL);
    // Listeners get what is logged from now on; what came before is for replay().
    const newest = (await publisher.xrevrange(keys.events, "+", "-", "COUNT", 1))[0]?.[0] ?? "0-0";
    bus.#reading = bus.#read(newest);
    return bus;
  }

  async #read(from: string): Promise<void> {
    let last = from;
    while (!this.#closed) {
      let answer: [string, StreamEntry[]][] | null;
      try {
        answer = (await this.reader.xread("COUNT", READ_COUNT, "BLOCK", READ_BLOCK_MS, "STREAMS", keys.events, last)) as
          | [string, StreamEntry[]][]
          | null;
      } catch (err) {
        if (this.#closed) return;
        this.log.debug({ err }, "event log read failed; reading again");
        await new Promise((res) => setTimeout(res, READ_RETRY_MS));
        continue;
      }
      for (const [, entries] of answer ?? []) {
        for (const entry of entries) {
          last = entry[0];
          for (const { id, event } of eventsOf(entry, this.log)) {
            for (const l of this.#listeners) {
              try {
                l(event, id);
              } catch (err) {
                this.log.warn({ err }, "an event listener failed");
              }
            }
          }
        }
      }
    }
  }

  async emit(event: HubEvent): Promise<void> {
    await this.emitAll([event]);
  }

  async emitAll(events: readonly HubEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.publisher.xadd(keys.events, "MAXLEN", "~", this.maxEntries, "*", FIELD, JSON.stringify(events));
  }

  async replay(after: EventId): Promise<EventReplay> {
    const oldest = (await this.publisher.xrange(keys.events, "-", "+", "COUNT", 1))[0]?.[0];
    // Complete when nothing after `after` can have been trimmed: the oldest entry kept is the
    // one `after` is in, or older.
    const complete = oldest === undefined || compareEventIds(parseEventId(`${oldest}:0`), { ...after, index: 0 }) <= 0;
    const events: LoggedEvent[] = [];
    let start = streamIdOf(after);
    for (;;) {
      const page = (await this.publisher.xrange(keys.events, start, "+", "COUNT", READ_COUNT)) as StreamEntry[];
      for (const entry of page) {
        for (const e of eventsOf(entry, this.log)) {
          if (compareEventIds(parseEventId(e.id), after) > 0) events.push(e);
        }
      }
      const lastEntry = page.at(-1);
      if (!lastEntry || page.length < READ_COUNT) break;
      start = `(${lastEntry[0]}`;
    }
    return { events, complete };
  }

  subscribe(listener: (event: HubEvent, id: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async nudge(repo: string): Promise<void> {
    await this.publisher.publish(NUDGE_CHANNEL, repo);
  }

  onNudge(listener: (repo: string) => void): () => void {
    this.#nudgeListeners.add(listener);
    return () => this.#nudgeListeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    this.#nudgeListeners.clear();
    this.reader.disconnect();
    await this.#reading?.catch(() => {});
    await closeRedis(this.subscriber);
  }
}
