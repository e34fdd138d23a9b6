/** Records are stored as JSON text; a missing key reads as `null`. */

/** The record stored as `text`, or undefined when there is none. */
export function fromJson<T>(text: string | null | undefined): T | undefined {
  return text == null ? undefined : (JSON.parse(text) as T);
}

/** The records of an MGET, in order, those that were missing left out. */
export function allFromJson<T>(texts: readonly (string | null)[]): T[] {
  return texts.flatMap((text) => (text == null ? [] : [JSON.parse(text) as T]));
}
