/** Records are stored as JSON text; a missing key reads as `null`. */

/** The record stored as `text`, or undefined when there is none. */
export function fromJson<T>(text: string | null | undefined): T | undefined {
  return text == null ? undefined : (JSON.parse(text) as T);
}

/** The records of an MGET, in order, those that were missing left out. */
export function allFromJson<T>(texts: readonly (string | null)[]): T[] {
  return texts.flatMap((text) => (text == null ? [] : [JSON.parse(text) as T]));
}

/** Most values a {@link ParsedCache} keeps; past it, it starts again empty. */
const PARSED_CACHE_LIMIT = 100_000;

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * Parsed records by Redis key, kept beside the text they were parsed from: a read that finds
 * the same text again (the conductor's periodic full read of thousands of statuses and reports,
 * most unchanged) returns the value parsed before instead of parsing it again. Values are
 * frozen, since every reader shares them.
 */
export class ParsedCache<T> {
  readonly #entries = new Map<string, { text: string; value: T }>();

  parse(key: string, text: string | null | undefined): T | undefined {
    if (text == null) {
      this.#entries.delete(key);
      return undefined;
    }
    const seen = this.#entries.get(key);
    if (seen?.text === text) return seen.value;
    const value = deepFreeze(JSON.parse(text) as T);
    if (this.#entries.size >= PARSED_CACHE_LIMIT) this.#entries.clear();
    this.#entries.set(key, { text, value });
    return value;
  }
}
