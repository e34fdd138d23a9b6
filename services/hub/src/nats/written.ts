/**
 * What this hub itself last wrote to each key of the desired bucket: the entry's revision in
 * the bucket, its generation and the fingerprint of its inputs. A key whose entry is still at
 * that revision holds exactly what was written, so the publisher need not read it back and
 * verify its signature before replacing it: it compare-and-sets on the remembered revision,
 * and only when that fails (another writer, a restart, a purge) reads and verifies the entry.
 */

/** One entry this hub wrote. */
export interface WrittenEntry {
  /** The bucket's revision of the entry after the write. */
  revision: number;
  generation: number;
  /** `desiredFingerprint` of the written inputs. */
  fingerprint: string;
  rolloutId: string;
}

/** Keys remembered at most; the oldest are forgotten first (they are read and verified again). */
export const DEFAULT_WRITTEN_KEYS = 200_000;

export class WrittenEntries {
  readonly #entries = new Map<string, WrittenEntry>();

  constructor(private readonly max = DEFAULT_WRITTEN_KEYS) {}

  /** What this hub last wrote to `key`, if it remembers it. */
  get(key: string): WrittenEntry | undefined {
    return this.#entries.get(key);
  }

  /** Remembers a write that the bucket took at `entry.revision`. */
  remember(key: string, entry: WrittenEntry): void {
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    if (this.#entries.size > this.max) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
  }

  /** Forgets `key`: its entry is no longer known to be this hub's last write. */
  forget(key: string): void {
    this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }
}
