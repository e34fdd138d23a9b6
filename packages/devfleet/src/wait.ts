/** How long a test waits for something it expects, unless it says otherwise. */
export const DEFAULT_WAIT_MS = 30_000;
/** How often a wait probes again. */
export const DEFAULT_POLL_MS = 50;

/** A check a wait repeats: a value (or `true`) ends it; `undefined` or `false` means not yet. */
export type Probe<T> = () => Promise<T | undefined | false> | T | undefined | false;

/**
 * Polls `probe` until it yields a value, and resolves with it; throws "gave up waiting for
 * <what>" after `timeoutMs`. Waits bound how long a test runs; tests never assert on them.
 */
export async function until<T>(
  what: string,
  probe: Probe<T>,
  timeoutMs = DEFAULT_WAIT_MS,
  intervalMs = DEFAULT_POLL_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** `until` with this file's own default deadline and pace. */
export function waitsOf(timeoutMs: number, intervalMs = DEFAULT_POLL_MS) {
  return <T>(what: string, probe: Probe<T>, ms = timeoutMs): Promise<T> => until(what, probe, ms, intervalMs);
}
