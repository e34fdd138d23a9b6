/**
 * Errors raised by the wire contract. Each names what was wrong and carries the fields a
 * caller needs to report it; none is retryable, since the same bytes will fail the same way.
 */

/** Base class: any message or name that breaks the wire contract. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
  /** A short machine-readable reason, stable across releases. */
  readonly code: string = "protocol";
}

/** A cluster, app or environment name that is not an RFC 1123 DNS label. */
export class InvalidNameError extends ProtocolError {
  override name = "InvalidNameError";
  override readonly code = "invalid_name";
  constructor(
    readonly kind: string,
    readonly value: string,
  ) {
    super(
      `${kind} name ${JSON.stringify(value)} is not a DNS label: use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit`,
    );
  }
}

/** Bytes that are not a valid encoding of the expected message. */
export class DecodeError extends ProtocolError {
  override name = "DecodeError";
  override readonly code = "malformed";
  constructor(
    readonly messageType: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot decode ${messageType}: ${reason}`, options);
  }
}

/** A message larger than the contract allows, refused before decoding. */
export class MessageTooLargeError extends ProtocolError {
  override name = "MessageTooLargeError";
  override readonly code = "too_large";
  constructor(
    readonly messageType: string,
    readonly size: number,
    readonly limit: number,
  ) {
    super(`${messageType} is ${size} bytes, over the ${limit}-byte limit`);
  }
}

/** Why an envelope's signature was refused. */
export type SignatureProblem = "unsigned" | "unknown_key" | "bad_signature" | "wrong_type";

/** An envelope that is unsigned, signed by an unknown key, forged, or of the wrong type. */
export class SignatureError extends ProtocolError {
  override name = "SignatureError";
  override readonly code = "signature_invalid";
  constructor(
    readonly problem: SignatureProblem,
    message: string,
    readonly keyId = "",
  ) {
    super(message);
  }
}

/** A desired state whose generation is not newer than the last one acted on. */
export class StaleGenerationError extends ProtocolError {
  override name = "StaleGenerationError";
  override readonly code = "generation_stale";
  constructor(
    readonly key: string,
    readonly generation: number,
    readonly current: number,
  ) {
    super(`desired state ${key} has generation ${generation}, not newer than ${current} already acted on; ignoring it`);
  }
}

/** A health rule whose kind is missing or whose CEL expression does not compile to a bool. */
export class InvalidHealthRuleError extends ProtocolError {
  override name = "InvalidHealthRuleError";
  override readonly code = "invalid_health_rule";
  constructor(
    /** Which rule, e.g. `health rule 2 (example.com/Widget)`. */
    readonly rule: string,
    /** The expression field, `current`, `failed` or `inProgress`, or `kind`. */
    readonly field: string,
    /** What is wrong, in one line. */
    readonly reason: string,
  ) {
    super(`${rule}: ${field}: ${reason}`);
  }
}
