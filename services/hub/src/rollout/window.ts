/**
 * Calendar windows, evaluated at one instant: a pure function of the windows and `now`. The
 * conductor turns the answer into a hold observation for `step`; the plan preview shows it.
 *
 * A window is open at `now` when its schedule fired at some `t` with `t ≤ now < t + duration`,
 * which is the same as: the first firing strictly after `now - duration` is at or before `now`.
 * Schedules are read in the window's time zone by croner (no dependencies, IANA zones through
 * Intl, daylight-saving gaps and repeats handled), so "02:00 Europe/Paris" stays 02:00 local
 * across the clock change; hand-written zone arithmetic gets exactly that wrong.
 */

import type { Window } from "@flotilla/api";
import { Cron } from "croner";

/** Whether rollouts may move at `nowMs`, and if not, why and when that may change. */
export type WindowVerdict = { open: true } | { open: false; reason: string; untilMs?: number };

/** How far ahead to look for the next opening, so an answer stays cheap. */
const HORIZON_MS = 366 * 86_400_000;

/** Evaluates `windows` at `nowMs`: deny windows win; with allow windows, only inside one is open. */
export function windowVerdict(windows: readonly Window[], nowMs: number): WindowVerdict {
  for (const w of windows) {
    if (w.kind !== "deny") continue;
    const start = activeStart(w, nowMs);
    if (start !== undefined) {
      const until = start + w.durationSeconds * 1000;
      return { open: false, reason: `inside deny window ${describe(w)} until ${iso(until)}`, untilMs: until };
    }
  }
  const allows = windows.filter((w) => w.kind === "allow");
  if (allows.length === 0 || allows.some((w) => activeStart(w, nowMs) !== undefined)) return { open: true };
  const next = allows
    .map((w) => nextStart(w, nowMs))
    .filter((t): t is number => t !== undefined && t - nowMs <= HORIZON_MS)
    .sort((a, b) => a - b)[0];
  const which = allows.map(describe).join(", ");
  return next === undefined
    ? { open: false, reason: `outside every allow window (${which}); none opens within a year` }
    : { open: false, reason: `outside every allow window (${which}); the next opens at ${iso(next)}`, untilMs: next };
}

/** Start of the window's occurrence that holds `nowMs`, or undefined when none does. */
function activeStart(w: Window, nowMs: number): number | undefined {
  const next = nextStart(w, nowMs - w.durationSeconds * 1000);
  return next !== undefined && next <= nowMs ? next : undefined;
}

/** The first firing strictly after `afterMs`. */
function nextStart(w: Window, afterMs: number): number | undefined {
  return new Cron(w.schedule, { timezone: w.timeZone }).nextRun(new Date(afterMs))?.getTime();
}

function describe(w: Window): string {
  const what = `"${w.schedule}" ${w.timeZone} for ${w.durationSeconds}s`;
  return w.description ? `${w.description} (${what})` : what;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
