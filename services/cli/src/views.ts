/**
 * Views that can be watched: `status`, `cluster list` and `app status` print once, or with
 * `--watch` read again every `--interval` until Ctrl-C (see watchView).
 */
import type { Command } from "commander";
import type { CommandContext } from "./context.js";
import { UsageError } from "./errors.js";
import { parseSeconds } from "./policy.js";
import { DEFAULT_VIEW_INTERVAL_MS, watchView } from "./watch.js";

export interface WatchFlags {
  watch?: boolean;
  interval?: string;
}

/** Adds `-w, --watch` and `--interval` to a view's command. */
export function addWatchOptions(command: Command): Command {
  return command
    .option("-w, --watch", "read it again every --interval and show it anew, until Ctrl-C")
    .option(
      "--interval <duration>",
      "how often --watch reads it (e.g. 2s, 500ms)",
      `${DEFAULT_VIEW_INTERVAL_MS / 1000}s`,
    );
}

/** An interval of `500ms`, `2s`, `1m` or bare seconds; at least 100 ms. */
export function parseInterval(text: string): number {
  const ms = /^(\d+)ms$/.exec(text.trim());
  const value = ms ? Number(ms[1]) : parseSeconds(text, "--interval") * 1000;
  if (value < 100) throw new UsageError(`--interval ${JSON.stringify(text)} is too short`, "use at least 100ms");
  return value;
}

/** Prints the view once (`render` for people, the data for scripts), or watches it with `--watch`. */
export async function showView<T>(
  ctx: CommandContext,
  cmd: Command,
  flags: WatchFlags,
  read: () => Promise<T>,
  render: (data: T, nowMs: number) => string,
): Promise<void> {
  if (!flags.watch) {
    const data = await read();
    ctx.print(cmd, data, () => render(data, ctx.now()));
    return;
  }
  const format = ctx.format(cmd);
  await watchView(ctx.io, read, render, {
    intervalMs: parseInterval(flags.interval ?? `${DEFAULT_VIEW_INTERVAL_MS}ms`),
    format,
    tty: ctx.human(cmd) && Boolean(ctx.io.stdout.isTTY),
    now: ctx.now,
  });
}
