const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;

/**
 * Parses `"15s"`, `"500ms"`, `"2m"`, `"1h"` or a bare number of seconds into milliseconds.
 * Returns undefined for anything else so the caller can name the setting in its error.
 */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  const value = Number(match[1]);
  const unit = UNITS[match[2] ?? "s"] ?? 1000;
  const ms = Math.round(value * unit);
  return Number.isFinite(ms) ? ms : undefined;
}
