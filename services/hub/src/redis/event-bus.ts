import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { EventBus, HubEvent } from "../status/events.js";
import { closeRedis } from "./connection.js";
import { EVENTS_CHANNEL, NUDGE_CHANNEL } from "./keys.js";

/** EventBus over Redis pub/sub: one subscriber connection per replica. */
export class RedisEventBus implements EventBus {
  readonly #listeners = new Set<(event: HubEvent) => void>();
  readonly #nudgeListeners = new Set<(repo: string) => void>();

  private constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly log: Logger,
  ) {}

  /** `subscriber` must be a dedicated connection: Redis allows nothing else on it. */
  static async start(publisher: Redis, subscriber: Redis, log: Logger): Promise<RedisEventBus> {
    const bus = new RedisEventBus(publisher, subscriber, log);
    subscriber.on("message", (channel: string, message: string) => bus.#dispatch(channel, message));
    await subscriber.subscribe(EVENTS_CHANNEL, NUDGE_CHANNEL);
    return bus;
  }

  #dispatch(channel: string, message: string): void {
    if (channel === NUDGE_CHANNEL) {
      for (const l of this.#nudgeListeners) l(message);
      return;
    }
    let parsed: HubEvent | HubEvent[];
    try {
      parsed = JSON.parse(message) as HubEvent | HubEvent[];
    } catch (err) {
      this.log.warn({ err }, "dropped an event that is not JSON");
      return;
    }
    for (const event of Array.isArray(parsed) ? parsed : [parsed]) for (const l of this.#listeners) l(event);
  }

  async emit(event: HubEvent): Promise<void> {
    await this.publisher.publish(EVENTS_CHANNEL, JSON.stringify(event));
  }

  async emitAll(events: readonly HubEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.publisher.publish(EVENTS_CHANNEL, JSON.stringify(events.length === 1 ? events[0] : events));
  }

  subscribe(listener: (event: HubEvent) => void): () => void {
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
    this.#listeners.clear();
    this.#nudgeListeners.clear();
    await closeRedis(this.subscriber);
  }
}
