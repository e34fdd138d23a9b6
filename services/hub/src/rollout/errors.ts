/**
 * Errors raised by the rollout engine's pure core. None is retryable: the same input fails the
 * same way. The API edge maps them to HTTP statuses (PolicyError and RolloutInputError → 400,
 * RolloutCommandError → 409). A bad label selector raises `SelectorSyntaxError` of `@flotilla/api`,
 * which owns the selector grammar.
 */

/** Base class of every rollout-engine error. */
export class RolloutEngineError extends Error {
  override name = "RolloutEngineError";
  /** Always false: these errors come from the input, not from a server that may recover. */
  readonly retryable: boolean = false;
}

/** A rollout policy (or one of its label selectors) that breaks the schema. */
export class PolicyError extends RolloutEngineError {
  override name = "PolicyError";
  constructor(
    /** Dotted path of the offending field, e.g. `waves.1.maxConcurrency`; empty for the whole policy. */
    readonly field: string,
    readonly reason: string,
    /** The environment whose policy it is, when known. */
    readonly environment = "",
    options?: { cause?: unknown },
  ) {
    super(
      `invalid rollout policy${environment ? ` for environment ${JSON.stringify(environment)}` : ""}: ${field ? `${field}: ` : ""}${reason}`,
      options,
    );
  }
}

/** Arguments to createRollout or recordWrite that cannot describe a real rollout. */
export class RolloutInputError extends RolloutEngineError {
  override name = "RolloutInputError";
  constructor(
    readonly rolloutId: string,
    readonly reason: string,
  ) {
    super(`rollout ${JSON.stringify(rolloutId)}: ${reason}`);
  }
}

/** A command (pause, resume, promote, abort, rollback) that the rollout's current state does not allow. */
export class RolloutCommandError extends RolloutEngineError {
  override name = "RolloutCommandError";
  constructor(
    readonly rolloutId: string,
    readonly command: string,
    readonly reason: string,
  ) {
    super(`cannot ${command} rollout ${JSON.stringify(rolloutId)}: ${reason}`);
  }
}
