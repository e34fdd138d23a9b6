/**
 * Durations in settings, written the way the hub reads them (`FLOTILLA_HEARTBEAT_INTERVAL` is
 * set for both): `"15s"`, `"500ms"`, `"2m"`, `"1h"`, or a bare number of seconds.
 *
 * The same grammar as the hub's parser, on purpose: the hub is a deployable, not a library the
 * agent may import, and @flotilla/proto holds only the wire contract. `ms` from npm was not
 * used: it reads a bare number as milliseconds and accepts more ("2 days", "-5s"), so one value
 * could mean different things to hub and agent, which is the mismatch this fixes.
 */
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;

/** Milliseconds of `text`, or undefined when it is not a duration (the caller names the setting). */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  const ms = Math.round(Number(match[1]) * (UNITS[match[2] ?? "s"] ?? 1000));
  return Number.isFinite(ms) ? ms : undefined;
}
