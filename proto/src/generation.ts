import { StaleGenerationError } from "./errors.js";

/**
 * Throws StaleGenerationError unless `incoming` is newer than `current` (0 when nothing was
 * acted on yet). A replayed or reordered desired state must never move a cluster backwards.
 */
export function checkNewerGeneration(key: string, incoming: number, current: number): void {
  if (!(incoming > current)) throw new StaleGenerationError(key, incoming, current);
}

/** The next generation after `current`: always at least `current + 1`, never below `floor`. */
export function nextGeneration(current: number, floor = 0): number {
  return Math.max(current + 1, floor);
}
