/**
 * What holds a rollout at one instant, from the windows it snapshotted and the freezes in force:
 * pure functions of their inputs and `now`. The conductor turns the answer into observations for
 * `step`; the plan preview shows it.
 *
 * Windows and freezes without a selector hold the whole rollout (no wave starts, nothing new is
 * written). Those limited to a cluster selector hold only the clusters they select: those wait,
 * the rest of the environment moves on. A selector's windows are judged together, as the whole
 * environment's are (deny wins; with allow windows, only inside one is open).
 */

import {
  describeFreeze,
  describeSelector,
  type Freeze,
  matchesSelector,
  type Selector,
  type Window,
} from "@flotilla/api";
import type { Hold } from "./observation.js";
import { windowVerdict } from "./window.js";

/** A hold limited to the clusters a selector takes. */
export interface LimitedHold extends Hold {
  selector: Selector;
}

/** Holds of the whole rollout, and holds limited to some of its clusters. */
export interface HoldsNow {
  holds: Hold[];
  limited: LimitedHold[];
}

/** What holds a rollout of `environment` at `nowMs`. */
export function holdsAt(
  windows: readonly Window[],
  freezes: readonly Freeze[],
  environment: string,
  nowMs: number,
): HoldsNow {
  const holds: Hold[] = [];
  const limited: LimitedHold[] = [];
  const whole = windows.filter((w) => w.selector === undefined);
  const verdict = whole.length ? windowVerdict(whole, nowMs) : { open: true as const };
  if (!verdict.open) holds.push({ kind: "window", reason: verdict.reason });
  const bySelector = new Map<string, { selector: Selector; windows: Window[] }>();
  for (const w of windows) {
    if (w.selector === undefined) continue;
    const key = JSON.stringify(w.selector);
    const group = bySelector.get(key) ?? { selector: w.selector, windows: [] };
    group.windows.push(w);
    bySelector.set(key, group);
  }
  for (const { selector, windows: group } of bySelector.values()) {
    const v = windowVerdict(group, nowMs);
    if (!v.open)
      limited.push({ kind: "window", selector, reason: `clusters ${describeSelector(selector)}: ${v.reason}` });
  }
  for (const f of freezes) {
    if (f.scope !== "fleet" && f.environment !== environment) continue;
    if (f.selector === undefined) holds.push({ kind: "freeze", reason: describeFreeze(f) });
    else limited.push({ kind: "freeze", selector: f.selector, reason: describeFreeze(f) });
  }
  return { holds, limited };
}

/** For each cluster a limited hold selects, the first such hold's reason. */
export function heldClusters(
  limited: readonly LimitedHold[],
  clusters: readonly { name: string; labels: Readonly<Record<string, string>> }[],
): Map<string, string> {
  const held = new Map<string, string>();
  if (limited.length === 0) return held;
  for (const c of clusters) {
    const first = limited.find((l) => matchesSelector(l.selector, { ...c.labels }));
    if (first) held.set(c.name, first.reason);
  }
  return held;
}
