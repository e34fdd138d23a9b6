import type { HubEvent } from "@flotilla/api";

export type { HubEvent, HubEventType } from "@flotilla/api";

/** Fans events out to every replica, so an SSE client sees the fleet whichever replica it hit. */
export interface EventBus {
  emit(event: HubEvent): Promise<void>;
  /** Emits many events in one message: ingestion's batches, coalesced. Listeners still get them one by one. */
  emitAll(events: readonly HubEvent[]): Promise<void>;
  /** Calls `listener` for every event from any replica; returns the unsubscribe function. */
  subscribe(listener: (event: HubEvent) => void): () => void;
  /** Asks the leader's tracker to poll `repo` now (`*`: every repo). */
  nudge(repo: string): Promise<void>;
  onNudge(listener: (repo: string) => void): () => void;
  close(): Promise<void>;
}
