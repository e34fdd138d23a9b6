/**
 * Durations in settings, one grammar for hub and agent (`FLOTILLA_HEARTBEAT_INTERVAL` is set for
 * both): `"15s"`, `"500ms"`, `"2m"`, `"1h"`, or a bare number of seconds.
 *
 * `ms` from npm was not used: it reads a bare number as milliseconds and accepts more ("2 days",
 * "-5s"), so one value could mean different things to two programs reading the same variable.
 */
import { z } from "zod";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;

/** Milliseconds of `text`, or undefined when it is not a duration (the caller names the setting). */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  const ms = Math.round(Number(match[1]) * (UNITS[match[2] ?? "s"] ?? 1000));
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * A positive duration, parsed to milliseconds: a string in the grammar of {@link parseDuration}
 * (from environment variables, flags and files) or a number of milliseconds (from code).
 */
export const durationSchema = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const ms = typeof value === "number" ? value : parseDuration(value);
  if (ms === undefined || !(ms > 0)) {
    ctx.addIssue({
      code: "custom",
      message: `${JSON.stringify(value)} is not a duration like 15s, 500ms, 2m or 30 (seconds)`,
    });
    return z.NEVER;
  }
  return ms;
});
