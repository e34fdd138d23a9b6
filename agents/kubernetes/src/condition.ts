/**
 * A condition that a loop checks on every pass (drift, a failing reconcile), logged when it
 * starts, when what it is about changes, and when it ends, never once per pass: an agent that
 * found the same drift every 30 s used to log it every 30 s.
 */

/** What to log after a pass: nothing, the condition (new or changed), or its end. */
export type ConditionChange = "started" | "changed" | "ended" | undefined;

export class Condition {
  #current: string | undefined;

  /**
   * Records this pass's condition, as a text that is equal for the same condition (`undefined`
   * when it does not hold) and says what to log.
   */
  observe(now: string | undefined): ConditionChange {
    const before = this.#current;
    this.#current = now;
    if (now === before) return undefined;
    if (now === undefined) return "ended";
    return before === undefined ? "started" : "changed";
  }

  /** True while the condition holds. */
  get holds(): boolean {
    return this.#current !== undefined;
  }
}
