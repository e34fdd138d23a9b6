import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { EVENTS_CHANNEL, NUDGE_CHANNEL } from "../redis/store.js";

/** A change the hub tells SSE clients about. */
export type HubEvent =
  | {
      type: "report";
      cluster: string;
      app: string;
      revision: string;
      observedGeneration: number;
      phase: string;
      health: string;
      atMs: number;
    }
  | { type: "heartbeat"; cluster: string; agentVersion: string; atMs: number }
  | {
      type: "desired";
      cluster: string;
      app: string;
      revision: string;
      generation: number;
      rolloutId: string;
      atMs: number;
    }
  | { type: "cluster-state"; cluster: string; state: string; previous: string; atMs: number }
  | { type: "registry"; kind: string; name: string; action: string; atMs: number }
  | {
      type: "rollout";
      rolloutId: string;
      app: string;
      environment: string;
      /** What happened: an engine action kind or event type (WaveStarted, ClusterFailed, Paused, ...). */
      event: string;
      /** The rollout's state after it. */
      state: string;
      message?: string;
      wave?: string;
      cluster?: string;
      revision?: string;
      generation?: number;
      /** `api` for commands, so the leader steps at once; `engine` for the leader's own steps. */
      origin: "api" | "engine";
      atMs: number;
    };

export type HubEventType = HubEvent["type"];

/** Fans events out to every replica, so an SSE client sees the fleet whichever replica it hit. */
export interface EventBus {
  emit(event: HubEvent): Promise<void>;
  /** Calls `listener` for every event from any replica; returns the unsubscribe function. */
  subscribe(listener: (event: HubEvent) => void): () => void;
  /** Asks the leader's tracker to poll `repo` now (`*`: every repo). */
  nudge(repo: string): Promise<void>;
  onNudge(listener: (repo: string) => void): () => void;
  close(): Promise<void>;
}

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
    let event: HubEvent;
    try {
      event = JSON.parse(message) as HubEvent;
    } catch (err) {
      this.log.warn({ err }, "dropped an event that is not JSON");
      return;
    }
    for (const l of this.#listeners) l(event);
  }

  async emit(event: HubEvent): Promise<void> {
    await this.publisher.publish(EVENTS_CHANNEL, JSON.stringify(event));
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
    await this.subscriber.quit().catch(() => this.subscriber.disconnect());
  }
}
