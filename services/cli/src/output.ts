/**
 * What the CLI prints. Pure functions from data to text: tables with aligned columns and no
 * borders (like kubectl, so output pastes cleanly and greps well), `Key: value` detail blocks,
 * and JSON/YAML of the API objects exactly as the hub returned them, for scripts.
 */
import { stringify as toYaml } from "yaml";
import type { OutputFormat } from "./config.js";

/** Shown for an absent value in a table cell. */
export const NONE = "-";
/** Gap between table columns. */
const GAP = "  ";

/** A table with upper-case headers and columns padded to their widest cell; no trailing spaces. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [headers.map((h) => h.toUpperCase()), ...rows.map((r) => headers.map((_, i) => cell(r[i])))];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => width(r[i] ?? ""))));
  return all
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c + " ".repeat((widths[i] ?? 0) - width(c))))
        .join(GAP)
        .trimEnd(),
    )
    .join("\n");
}

/** `Key:  value` lines with the values aligned; undefined values are left out. */
export function formatDetail(pairs: readonly (readonly [string, string | undefined])[]): string {
  const shown = pairs.filter((p): p is readonly [string, string] => p[1] !== undefined);
  const keyWidth = Math.max(0, ...shown.map(([k]) => k.length + 1));
  return shown.map(([k, v]) => `${`${k}:`.padEnd(keyWidth)}  ${v}`.trimEnd()).join("\n");
}

/** JSON (2-space indent) or YAML of an API object, ending with a newline. */
export function formatData(format: Exclude<OutputFormat, "table" | "wide">, data: unknown): string {
  return format === "json" ? `${JSON.stringify(data, null, 2)}\n` : toYaml(data ?? null);
}

/** `env=prod,tier=canary`, sorted by key; `-` for none. */
export function formatLabels(labels: Record<string, string> | undefined): string {
  const entries = Object.entries(labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.length === 0 ? NONE : entries.map(([k, v]) => `${k}=${v}`).join(",");
}

/** The first 7 characters of a commit SHA; `-` for none. */
export function shortSha(sha: string | undefined | null): string {
  return sha ? sha.slice(0, 7) : NONE;
}

/** A duration in the largest whole unit that fits, kubectl style: `45s`, `3m`, `5h`, `2d`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/** How long ago `atMs` was; `-` when unknown. */
export function formatAge(atMs: number | undefined | null, nowMs: number): string {
  return atMs === undefined || atMs === null ? NONE : formatDuration(nowMs - atMs);
}

/** `a=1,b=2` of a record of counts, leaving out zeros; `-` when all are zero. */
export function formatCounts(counts: Record<string, number> | undefined): string {
  const entries = Object.entries(counts ?? {}).filter(([, n]) => n > 0);
  return entries.length === 0 ? NONE : entries.map(([k, n]) => `${k}=${n}`).join(",");
}

function cell(value: string | undefined): string {
  return value === undefined || value === "" ? NONE : value.replace(/\s*\n\s*/g, " ");
}

/** Display width: code points, so `→` and `…` count as one column. */
function width(text: string): number {
  return [...text].length;
}
