/**
 * Whether a desired-state value from the KV may be acted on: signed by the hub, well formed,
 * for this cluster and the app its key names. Pure, so every refusal is table-tested.
 */
import { DESIRED_STATE, type DesiredState, ErrorCode, type KeyRing, open, SignatureError, v1 } from "@flotilla/proto";

/** A desired state that may be acted on, or why not. */
export type Admission =
  | { ok: true; desired: DesiredState }
  | { ok: false; code: ErrorCode; reason: string; claimedGeneration: number };

/**
 * The generation an unverified value claims, for the rejection report only: never trusted for
 * anything else. 0 when the bytes do not decode.
 */
export function claimedGeneration(bytes: Uint8Array): number {
  try {
    const env = v1.Envelope.decode(bytes);
    return Number(v1.DesiredState.decode(env.payload).generation ?? 0);
  } catch {
    return 0;
  }
}

/**
 * Whether two envelopes carry the same payload bytes (signed by different keys, or twice): the
 * hub re-signs the desired states in force with its new key when it retires the old one.
 */
export function samePayload(a: Uint8Array, b: Uint8Array): boolean {
  try {
    return Buffer.from(v1.Envelope.decode(a).payload).equals(Buffer.from(v1.Envelope.decode(b).payload));
  } catch {
    return false;
  }
}

/** Verifies `bytes` (read at KV key `<cluster>.<app>`) against the hub's keys. */
export function admit(bytes: Uint8Array, hubKeys: KeyRing, cluster: string, app: string): Admission {
  let desired: DesiredState;
  try {
    desired = open(DESIRED_STATE, bytes, hubKeys).message;
  } catch (err) {
    const reason = (err as Error).message;
    // Decode and size errors (and anything unexpected) are malformed input.
    const code =
      err instanceof SignatureError ? ErrorCode.ERROR_CODE_SIGNATURE_INVALID : ErrorCode.ERROR_CODE_MALFORMED;
    return { ok: false, code, reason, claimedGeneration: claimedGeneration(bytes) };
  }
  const generation = Number(desired.generation);
  if (desired.cluster !== cluster) {
    return {
      ok: false,
      code: ErrorCode.ERROR_CODE_MALFORMED,
      reason: `desired state is for cluster ${desired.cluster}, not ${cluster}; refusing it`,
      claimedGeneration: generation,
    };
  }
  if (desired.app !== app) {
    return {
      ok: false,
      code: ErrorCode.ERROR_CODE_MALFORMED,
      reason: `desired state stored under app ${app} names app ${desired.app}; refusing it`,
      claimedGeneration: generation,
    };
  }
  return { ok: true, desired };
}
