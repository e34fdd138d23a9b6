/**
 * The hub's event stream, read with `fetch` rather than `EventSource`: a browser's EventSource
 * sends `Last-Event-ID` only on its own reconnects, never when the page opens a stream again
 * (after a 429, a watchdog timeout or a network change), so the page could not resume there.
 * Here every open carries the id of the last event received, and the hub replays what came
 * after it. The SSE framing is parsed by `eventsource-parser`.
 */
import { createParser } from "eventsource-parser";

/** How one open of the stream ended. */
export type StreamEnd =
  /** The page closed it. */
  | { kind: "closed" }
  /** The hub answered other than 200: 401 (session gone), 400 (an id this hub does not know), 429. */
  | { kind: "refused"; status: number }
  /** The connection failed, ended, or went silent past the watchdog. */
  | { kind: "dropped"; reason: string };

export interface StreamHandlers {
  /** The hub answered 200: events follow. */
  onOpen(): void;
  /** One event, with its type, id and data as sent. */
  onEvent(type: string, id: string | undefined, data: string): void;
  /** A comment line of the stream (`: keepalive`, or the hub saying a replay is incomplete). */
  onComment(text: string): void;
}

/**
 * The hub writes a keepalive comment every 15 s; a stream silent for this long is taken as cut
 * (a network that drops packets without closing the connection never fails the read).
 */
export const SILENCE_MS = 40_000;

/** Pause before the n-th consecutive attempt to open the stream again (0-based): 0.5 s doubling to 8 s. */
export function retryDelayMs(attempt: number): number {
  return Math.min(8_000, 500 * 2 ** Math.max(0, attempt));
}

/** Whether a comment from the hub says that events after the resume point were lost. */
export function replayIncomplete(comment: string): boolean {
  return /no longer kept|could not be read/.test(comment);
}

/**
 * Opens `/v1/events` once, resuming after `lastEventId` when given, and reads it until it ends.
 * Never throws: the outcome says how it ended.
 */
export async function readEventStream(
  lastEventId: string | undefined,
  handlers: StreamHandlers,
  signal: AbortSignal,
  silenceMs = SILENCE_MS,
): Promise<StreamEnd> {
  const silence = new AbortController();
  const abort = () => silence.abort();
  signal.addEventListener("abort", abort);
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  let silent = false;
  const arm = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => {
      silent = true;
      silence.abort();
    }, silenceMs);
  };
  try {
    arm();
    const headers: Record<string, string> = { accept: "text/event-stream" };
    if (lastEventId !== undefined) headers["last-event-id"] = lastEventId;
    const res = await fetch("/v1/events", {
      headers,
      credentials: "same-origin",
      cache: "no-store",
      signal: silence.signal,
    });
    if (res.status !== 200 || !res.body) {
      await res.body?.cancel().catch(() => undefined);
      return { kind: "refused", status: res.status };
    }
    handlers.onOpen();
    const parser = createParser({
      onEvent: (m) => handlers.onEvent(m.event ?? "message", m.id, m.data),
      onComment: (c) => handlers.onComment(c.trim()),
    });
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { kind: "dropped", reason: "the hub ended the stream" };
      arm();
      parser.feed(value);
    }
  } catch (err) {
    if (signal.aborted) return { kind: "closed" };
    if (silent) return { kind: "dropped", reason: `no data for ${Math.round(silenceMs / 1000)} s` };
    return { kind: "dropped", reason: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(watchdog);
    signal.removeEventListener("abort", abort);
  }
}
