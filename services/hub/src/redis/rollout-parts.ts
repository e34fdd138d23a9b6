/**
 * How a rollout is laid out in Redis: a small header (the rollout without its clusters, plus a
 * revision counter) and one hash entry per cluster, so recording one cluster's write or health
 * touches that cluster's entry and the header, not the whole document (hundreds of KiB at
 * thousands of clusters). The header's text is the compare-and-set token: every save raises
 * its revision, whichever entries it changed.
 *
 * Pure: text in, text out; `rollouts.ts` does the Redis side.
 */
import { HubError } from "../errors.js";
import { type ClusterProgress, type RolloutState, readRollout } from "../rollout/index.js";

/** What the header carries besides the rollout, under the key {@link STORED_FIELD}. */
interface StoredHeader {
  /** Raised by every save, so the header's text changes whenever anything of the rollout does. */
  rev: number;
  /** Clusters per wave, to place the entries and to tell a half-written rollout. */
  clusters: number[];
}

/** Field of the header that marks the split layout (a whole document, as stored before, has none). */
const STORED_FIELD = "stored";

/** A rollout as the texts stored for it. */
export interface RolloutParts {
  header: string;
  /** Cluster name → its entry: `[wave index, position in the wave, progress]` as JSON. */
  entries: Map<string, string>;
}

/** A stored rollout read back, with what a later save compares against. */
export interface ReadParts {
  rollout: RolloutState;
  rev: number;
  /** The entries as read; empty for a rollout stored whole (every entry is written on its next save). */
  entries: ReadonlyMap<string, string>;
}

/** The texts to store for `rollout` at revision `rev`. */
export function splitRollout(rollout: RolloutState, rev: number): RolloutParts {
  return { header: headerText(rollout, rev), entries: entryTexts(rollout) };
}

/** The header of `rollout` at revision `rev`. */
export function headerText(rollout: RolloutState, rev: number): string {
  const stored: StoredHeader = { rev, clusters: rollout.waves.map((w) => w.clusters.length) };
  return JSON.stringify({
    ...rollout,
    waves: rollout.waves.map((w) => ({ ...w, clusters: [] })),
    [STORED_FIELD]: stored,
  });
}

/** Cluster name → the text of its entry. */
export function entryTexts(rollout: RolloutState): Map<string, string> {
  const entries = new Map<string, string>();
  rollout.waves.forEach((wave, w) => {
    wave.clusters.forEach((c, i) => {
      entries.set(c.name, entryText(w, i, c));
    });
  });
  return entries;
}

/**
 * The entries of `rollout` that differ from `texts` (the entries of `previous` as stored), as
 * field, value pairs: a cluster whose progress `rollout` shares with `previous` (the same object
 * at the same wave and position: a copy-on-write step left it alone) is skipped without being
 * turned into text, so a save costs the clusters that changed and one walk of the identities.
 */
export function changedSince(
  previous: RolloutState,
  texts: ReadonlyMap<string, string>,
  rollout: RolloutState,
): string[] {
  const pairs: string[] = [];
  for (let w = 0; w < rollout.waves.length; w++) {
    const clusters = rollout.waves[w]?.clusters ?? [];
    const before = previous.waves[w]?.clusters;
    for (let i = 0; i < clusters.length; i++) {
      const c = clusters[i] as ClusterProgress;
      if (before?.[i] === c && texts.has(c.name)) continue;
      const text = entryText(w, i, c);
      if (texts.get(c.name) !== text) pairs.push(c.name, text);
    }
  }
  return pairs;
}

/** `texts` with the field, value `pairs` applied: the entries as stored after a save of them. */
export function withChanges(texts: ReadonlyMap<string, string>, pairs: readonly string[]): Map<string, string> {
  const next = new Map(texts);
  for (let k = 0; k + 1 < pairs.length; k += 2) next.set(pairs[k] as string, pairs[k + 1] as string);
  return next;
}

/** The text of one cluster's entry. */
export function entryText(wave: number, position: number, progress: ClusterProgress): string {
  return JSON.stringify([wave, position, progress]);
}

/**
 * The rollout stored as `header` and `entries` (a hash's fields and values). A header without
 * the split marker is a whole document of an earlier hub (read as {@link readRollout} reads it,
 * entries ignored). Throws HubError when entries are missing or misplaced.
 */
export function joinRollout(header: string, entries: Readonly<Record<string, string>>): ReadParts {
  const parsed = JSON.parse(header) as Record<string, unknown>;
  const stored = parsed[STORED_FIELD] as StoredHeader | undefined;
  if (stored === undefined) return { rollout: readRollout(parsed), rev: 0, entries: new Map() };
  const { [STORED_FIELD]: _stored, ...rest } = parsed;
  const rollout = readRollout(rest);
  const id = rollout.id;
  const waves = rollout.waves.map((w, k) => {
    const count = stored.clusters[k] ?? 0;
    return { ...w, clusters: new Array<ClusterProgress>(count) };
  });
  const read = new Map<string, string>();
  let placed = 0;
  for (const [name, text] of Object.entries(entries)) {
    const [w, i, progress] = JSON.parse(text) as [number, number, ClusterProgress];
    const slot = waves[w]?.clusters;
    if (!slot || i < 0 || i >= slot.length || slot[i] !== undefined || progress.name !== name)
      throw new HubError(
        `rollout ${id}: the stored entry of cluster ${name} does not fit its waves; restore Redis from a backup`,
      );
    slot[i] = progress;
    read.set(name, text);
    placed++;
  }
  const expected = stored.clusters.reduce((a, n) => a + n, 0);
  if (placed !== expected)
    throw new HubError(
      `rollout ${id}: ${expected - placed} of its ${expected} cluster entries are missing; restore Redis from a backup`,
    );
  return { rollout: { ...rollout, waves }, rev: stored.rev, entries: read };
}

/** The revision a header text carries; 0 for a whole document stored by an earlier hub. */
export function headerRevision(header: string): number {
  const stored = (JSON.parse(header) as Record<string, unknown>)[STORED_FIELD] as StoredHeader | undefined;
  return stored?.rev ?? 0;
}

/** The entries of `next` that differ from `before` (all of them when `before` is empty), as field, value pairs. */
export function changedEntries(before: ReadonlyMap<string, string>, next: ReadonlyMap<string, string>): string[] {
  const pairs: string[] = [];
  for (const [name, text] of next) if (before.get(name) !== text) pairs.push(name, text);
  return pairs;
}
