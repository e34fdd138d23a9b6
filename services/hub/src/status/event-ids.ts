/**
 * Event ids of `GET /v1/events`: `<stream id>:<index>`, where the stream id is the Redis stream
 * entry (`<ms>-<seq>`) a batch of events was logged in and the index the event's place in that
 * batch. Redis assigns stream ids in one increasing order for every writer, so ids grow across
 * hub restarts and replicas, and a client's `Last-Event-ID` says exactly where it stopped.
 */
import { ValidationError } from "../errors.js";

/** A parsed event id. */
export interface EventId {
  ms: number;
  seq: number;
  index: number;
}

const PATTERN = /^(\d{1,16})-(\d{1,16}):(\d{1,6})$/;

/** Parses an event id; throws ValidationError naming the header for anything else. */
export function parseEventId(text: string, where = "Last-Event-ID"): EventId {
  const m = PATTERN.exec(text.trim());
  if (!m) {
    throw new ValidationError(
      where,
      `${JSON.stringify(text)} is not an event id of this hub (<ms>-<seq>:<index>); reconnect without it to start from now`,
    );
  }
  return { ms: Number(m[1]), seq: Number(m[2]), index: Number(m[3]) };
}

/** The id of the `index`th event of stream entry `streamId`. */
export function eventIdOf(streamId: string, index: number): string {
  return `${streamId}:${index}`;
}

/** The stream entry part of an id (`<ms>-<seq>`). */
export function streamIdOf(id: EventId): string {
  return `${id.ms}-${id.seq}`;
}

/** Negative, zero or positive as `a` comes before, with or after `b`. */
export function compareEventIds(a: EventId, b: EventId): number {
  return a.ms - b.ms || a.seq - b.seq || a.index - b.index;
}
