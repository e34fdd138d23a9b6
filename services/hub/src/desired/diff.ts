/**
 * What changed between two settings snapshots, field by field, for the API, the CLI and events.
 * Values under keys that look like secrets are masked: settings may carry Helm values such as
 * `db.password`, and a diff is shown to anyone who may read rollouts.
 */

import type { SettingsChange } from "@flotilla/api";
import type { AppSettings } from "./settings.js";

export type { SettingsChange } from "@flotilla/api";

/** Keys whose values are never shown. */
const SECRET_KEY = /password|token|secret|key|credential/i;
/** What a masked value reads as. */
export const MASKED = "(masked)";

/**
 * The changed fields from `from` to `to`, sorted by path; `from` undefined (unknown or first
 * deploy) lists every field of `to`. Values are JSON text; secret-looking ones are masked.
 */
export function settingsDiff(from: AppSettings | undefined, to: AppSettings): SettingsChange[] {
  const before = flatten(from ?? {});
  const after = flatten(to);
  const paths = [...new Set([...before.keys(), ...after.keys()])].sort();
  const changes: SettingsChange[] = [];
  for (const path of paths) {
    const a = before.get(path);
    const b = after.get(path);
    if (a === b) continue;
    const secret = path.split(".").some((part) => SECRET_KEY.test(part));
    const show = (v: string | undefined) => (v === undefined ? undefined : secret ? MASKED : v);
    const fromShown = show(a);
    const toShown = show(b);
    changes.push({
      path,
      ...(fromShown !== undefined ? { from: fromShown } : {}),
      ...(toShown !== undefined ? { to: toShown } : {}),
    });
  }
  return changes;
}

/** Leaf values by dotted path; arrays of scalars stay whole, arrays of objects are indexed. */
function flatten(value: unknown, prefix = "", out = new Map<string, string>()): Map<string, string> {
  if (value !== null && typeof value === "object" && !(Array.isArray(value) && value.every(isScalar))) {
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
    for (const [k, v] of entries) if (v !== undefined) flatten(v, prefix ? `${prefix}.${k}` : k, out);
    return out;
  }
  if (prefix && prefix !== "schema") out.set(prefix, JSON.stringify(value));
  return out;
}

function isScalar(v: unknown): boolean {
  return v === null || typeof v !== "object";
}
