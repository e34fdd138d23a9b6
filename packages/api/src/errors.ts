/**
 * Errors raised while reading the contract's own grammar. Terminal: the same input fails the same
 * way. A schema that refines with them turns them into a validation issue naming the field, which
 * the hub answers with 400.
 */

/** A label selector that cannot be parsed; `reason` names the bad term and the accepted forms. */
export class SelectorSyntaxError extends Error {
  override name = "SelectorSyntaxError";
  /** Always false: the selector itself is wrong. */
  readonly retryable = false;
  constructor(
    readonly selector: string,
    readonly reason: string,
  ) {
    super(`label selector ${JSON.stringify(selector)}: ${reason}`);
  }
}
