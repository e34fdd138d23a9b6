/**
 * `rollout watch`: polls `GET /v1/rollouts/:id` until the rollout ends. On a terminal the view
 * is redrawn in place; into a pipe or log it prints one timestamped line per change (or, with
 * `-o json`, one JSON object per line each time the rollout changed). Polling rather than the
 * SSE stream, because rollout progress is the rollout object itself and a poll always shows a
 * whole, consistent one; a dropped stream would need a re-read anyway.
 */
import type { RolloutView } from "@flotilla/api";
import { isTerminalPhase } from "@flotilla/api";
import { apiPath, type HubClient } from "./client.js";
import type { OutputFormat } from "./config.js";
import type { Io } from "./context.js";
import { CliError, RolloutEndedError } from "./errors.js";
import { formatData } from "./output.js";
import { rolloutChanges, rolloutText } from "./rolloutview.js";

/** How often the rollout is read: 1 s. */
export const DEFAULT_WATCH_INTERVAL_MS = 1_000;
/** How long the hub may stay unreachable (or answer 502-504) before watch gives up: 60 s. */
export const RETRY_GIVE_UP_MS = 60_000;

export interface WatchOptions {
  intervalMs: number;
  /** Give up (exit 1) when the rollout has not ended after this long; none when undefined. */
  timeoutMs?: number;
  format: OutputFormat;
  /** Redraw in place (stdout is a terminal and the format is table). */
  tty: boolean;
  now: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const sleepFor = (ms: number) => new Promise<void>((res) => setTimeout(res, ms));

/** Rows a block of text takes on a terminal `columns` wide (long lines wrap). */
export function screenRows(text: string, columns: number): number {
  return text
    .split("\n")
    .reduce((rows, line) => rows + Math.max(1, Math.ceil([...line].length / Math.max(1, columns))), 0);
}

/**
 * The watches' rule for a hub that stops answering: a retryable failure is said once on stderr
 * and waited out for up to {@link RETRY_GIVE_UP_MS}; any other failure, or a longer outage, throws.
 * The reader answers undefined while it waits (read again after the interval).
 */
function tolerantReader<T>(read: () => Promise<T>, io: Io, now: () => number): () => Promise<T | undefined> {
  let failingSince: number | undefined;
  return async () => {
    try {
      const data = await read();
      if (failingSince !== undefined) io.stderr.write("hub answers again\n");
      failingSince = undefined;
      return data;
    } catch (err) {
      if (!(err instanceof CliError) || !err.retryable) throw err;
      if (failingSince === undefined) {
        failingSince = now();
        io.stderr.write(`${err.message}; retrying for up to ${RETRY_GIVE_UP_MS / 1000}s\n`);
      }
      if (now() - failingSince > RETRY_GIVE_UP_MS) throw err;
      return undefined;
    }
  };
}

/**
 * Watches until the rollout ends. Resolves with the final rollout when it Succeeded; throws
 * RolloutEndedError (exit 3 or 4) when it ended otherwise.
 */
export async function watchRollout(client: HubClient, id: string, io: Io, o: WatchOptions): Promise<RolloutView> {
  const sleep = o.sleep ?? sleepFor;
  const started = o.now();
  let previous: RolloutView | undefined;
  let previousJson = "";
  let drawnRows = 0;
  const readRollout = tolerantReader(() => client.get<RolloutView>(apiPath`/v1/rollouts/${id}`), io, o.now);
  for (;;) {
    const rollout = await readRollout();
    if (rollout === undefined) {
      await sleep(o.intervalMs);
      continue;
    }

    if (o.format === "json" || o.format === "yaml") {
      const json = JSON.stringify(rollout);
      if (json !== previousJson) {
        io.stdout.write(o.format === "json" ? `${json}\n` : `---\n${formatData("yaml", rollout)}`);
      }
      previousJson = json;
    } else if (o.tty) {
      const now = o.now();
      const frame = `${rolloutText(rollout, now)}\n\n${isTerminalPhase(rollout.state) ? "" : `watching every ${o.intervalMs / 1000}s; Ctrl-C to stop`}\n`;
      const columns = (io.stdout as { columns?: number }).columns ?? 80;
      // Back to the top of the previous frame, clear everything below, draw the new one.
      io.stdout.write(`${drawnRows > 0 ? `\x1b[${drawnRows}F\x1b[0J` : ""}${frame}`);
      drawnRows = screenRows(frame.replace(/\n$/, ""), columns);
    } else {
      const at = new Date(o.now()).toISOString();
      for (const line of rolloutChanges(previous, rollout)) io.stdout.write(`${at} ${line}\n`);
    }
    previous = rollout;

    if (isTerminalPhase(rollout.state)) {
      if (rollout.state === "Succeeded") return rollout;
      const reason =
        rollout.failure?.reason ??
        (rollout.supersededBy ? `rollout ${rollout.supersededBy} of a newer commit replaced it` : "");
      throw new RolloutEndedError(rollout.id, rollout.state, reason);
    }
    if (o.timeoutMs !== undefined && o.now() - started > o.timeoutMs) {
      throw new CliError(
        `rollout ${id} is still ${rollout.state} after ${o.timeoutMs / 1000}s (--timeout); it goes on without this watch`,
      );
    }
    await sleep(o.intervalMs);
  }
}

/** How often `--watch` reads a view again: 2 s. */
export const DEFAULT_VIEW_INTERVAL_MS = 2_000;

export interface ViewWatchOptions {
  intervalMs: number;
  format: OutputFormat;
  /** Redraw in place (stdout is a terminal and the format is a table). */
  tty: boolean;
  now: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Stops the watch after the frame in progress; it runs until Ctrl-C otherwise. */
  signal?: AbortSignal;
}

/**
 * `--watch` on a view (`status`, `cluster list`, `app status`): reads it every interval until
 * Ctrl-C. On a terminal the table is redrawn in place; into a pipe a timestamped table is
 * printed each time the data changed, and with `-o json` one JSON object per line (YAML: one
 * document) each time. A hub that stops answering for a while is waited for, as by `rollout watch`.
 */
export async function watchView<T>(
  io: Io,
  read: () => Promise<T>,
  render: (data: T, nowMs: number) => string,
  o: ViewWatchOptions,
): Promise<void> {
  const sleep = o.sleep ?? sleepFor;
  let previousJson = "";
  let drawnRows = 0;
  const readView = tolerantReader(read, io, o.now);
  while (!o.signal?.aborted) {
    const data = await readView();
    if (data === undefined) {
      await sleep(o.intervalMs);
      continue;
    }
    const json = JSON.stringify(data);
    if (o.format === "json" || o.format === "yaml") {
      if (json !== previousJson)
        io.stdout.write(o.format === "json" ? `${json}\n` : `---\n${formatData("yaml", data)}`);
    } else if (o.tty) {
      const frame = `${render(data, o.now())}\n\nwatching every ${o.intervalMs / 1000}s; Ctrl-C to stop\n`;
      const columns = (io.stdout as { columns?: number }).columns ?? 80;
      io.stdout.write(`${drawnRows > 0 ? `\x1b[${drawnRows}F\x1b[0J` : ""}${frame}`);
      drawnRows = screenRows(frame.replace(/\n$/, ""), columns);
    } else if (json !== previousJson) {
      io.stdout.write(`--- ${new Date(o.now()).toISOString()}\n${render(data, o.now())}\n`);
    }
    previousJson = json;
    if (o.signal?.aborted) break;
    await sleep(o.intervalMs);
  }
}
