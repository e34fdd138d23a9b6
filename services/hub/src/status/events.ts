import type { HubEvent } from "@flotilla/api";
import type { EventId } from "./event-ids.js";

export type { HubEvent, HubEventType } from "@flotilla/api";

/** Fans events out to every replica, so an SSE client sees the fleet whichever replica it hit. */
export interface EventBus {
  emit(event: HubEvent): Promise<void>;
  /** Emits many events in one message: ingestion's batches, coalesced. Listeners still get them one by one. */
  emitAll(events: readonly HubEvent[]): Promise<void>;
  /**
   * Calls `listener` for every event from any replica, in the one order every replica sees,
   * with its id (see event-ids.ts); returns the unsubscribe function.
   */
  subscribe(listener: (event: HubEvent, id: string) => void): () => void;
  /** Asks the leader's tracker to poll `repo` now (`*`: every repo). */
  nudge(repo: string): Promise<void>;
  onNudge(listener: (repo: string) => void): () => void;
  close(): Promise<void>;
}

/** An event with its id. */
export interface LoggedEvent {
  id: string;
  event: HubEvent;
}

/** What the log still holds after an id. */
export interface EventReplay {
  /** The events after the id, oldest first. */
  events: LoggedEvent[];
  /** False when events after the id were trimmed already: the client missed some for good. */
  complete: boolean;
}

/** The events kept for a while, so a client that reconnects gets what it missed. */
export interface EventLog {
  /** Events logged after `after`, in order. */
  replay(after: EventId): Promise<EventReplay>;
}
