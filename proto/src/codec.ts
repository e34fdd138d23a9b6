import { DecodeError, MessageTooLargeError, ProtocolError, SignatureError } from "./errors.js";
import { flotilla } from "./gen/flotilla.js";
import {
  type AgentRequest,
  type AgentRequestInit,
  type AgentResponse,
  type AgentResponseInit,
  type CredentialsRequest,
  type CredentialsRequestInit,
  type CredentialsResponse,
  type CredentialsResponseInit,
  type DesiredState,
  type DesiredStateInit,
  type Heartbeat,
  type HeartbeatInit,
  type HubKeySet,
  type HubKeySetInit,
  PayloadType,
  type Report,
  type ReportInit,
} from "./messages.js";
import { checkName } from "./names.js";
import { type KeyRing, type SigningKey, signPayload } from "./signing.js";

/** Size limits per payload, well under NATS's default 1 MiB max_payload. */
export const MAX_PAYLOAD_BYTES = {
  desired: 64 * 1024,
  report: 512 * 1024,
  heartbeat: 16 * 1024,
  request: 16 * 1024,
  response: 512 * 1024,
  // A user JWT listing up to MAX_LISTED_STATUS_KEYS status keys, plus the hub key set.
  credentials: 64 * 1024,
  /** A handful of PEM public keys (about 120 bytes each). */
  hubKeySet: 8 * 1024,
} as const;

/** Room for the envelope's own fields around the payload. */
const ENVELOPE_OVERHEAD = 256;

const SHA = /^[0-9a-f]{40}$/;

interface Codec<T, I> {
  readonly name: string;
  readonly type: PayloadType;
  readonly maxBytes: number;
  encode(message: I): Uint8Array;
  decode(bytes: Uint8Array): T;
  /** Semantic checks beyond the wire format; throws DecodeError naming the field. */
  check(message: T): void;
}

function codec<T, I>(
  name: string,
  type: PayloadType,
  maxBytes: number,
  impl: { encode(m: I): { finish(): Uint8Array }; decode(b: Uint8Array): T },
  check: (message: T) => void,
): Codec<T, I> {
  return {
    name,
    type,
    maxBytes,
    encode: (m) => impl.encode(m).finish(),
    decode: (b) => impl.decode(b),
    check,
  };
}

function checkNames(messageType: string, fields: Record<string, string>): void {
  for (const [kind, value] of Object.entries(fields)) {
    try {
      checkName(kind, value);
    } catch (err) {
      throw new DecodeError(messageType, (err as Error).message, { cause: err });
    }
  }
}

export const DESIRED_STATE: Codec<DesiredState, DesiredStateInit> = codec(
  "DesiredState",
  PayloadType.PAYLOAD_TYPE_DESIRED_STATE,
  MAX_PAYLOAD_BYTES.desired,
  flotilla.v1.DesiredState,
  (m) => {
    checkNames("DesiredState", { cluster: m.cluster, app: m.app });
    if (!(m.generation > 0)) throw new DecodeError("DesiredState", "generation must be at least 1");
    if (m.remove) return;
    const revision = m.source?.revision ?? "";
    if (!SHA.test(revision)) {
      throw new DecodeError(
        "DesiredState",
        `source.revision ${JSON.stringify(revision)} is not a 40-character commit SHA`,
      );
    }
    if (!m.source?.repoUrl) throw new DecodeError("DesiredState", "source.repoUrl is empty");
  },
);

export const REPORT: Codec<Report, ReportInit> = codec(
  "Report",
  PayloadType.PAYLOAD_TYPE_REPORT,
  MAX_PAYLOAD_BYTES.report,
  flotilla.v1.Report,
  (m) => checkNames("Report", { cluster: m.cluster, app: m.app }),
);

export const HEARTBEAT: Codec<Heartbeat, HeartbeatInit> = codec(
  "Heartbeat",
  PayloadType.PAYLOAD_TYPE_HEARTBEAT,
  MAX_PAYLOAD_BYTES.heartbeat,
  flotilla.v1.Heartbeat,
  (m) => checkNames("Heartbeat", { cluster: m.cluster }),
);

export const AGENT_REQUEST: Codec<AgentRequest, AgentRequestInit> = codec(
  "AgentRequest",
  PayloadType.PAYLOAD_TYPE_AGENT_REQUEST,
  MAX_PAYLOAD_BYTES.request,
  flotilla.v1.AgentRequest,
  () => {},
);

export const CREDENTIALS_REQUEST: Codec<CredentialsRequest, CredentialsRequestInit> = codec(
  "CredentialsRequest",
  PayloadType.PAYLOAD_TYPE_CREDENTIALS_REQUEST,
  MAX_PAYLOAD_BYTES.credentials,
  flotilla.v1.CredentialsRequest,
  (m) => checkNames("CredentialsRequest", { cluster: m.cluster }),
);

export const CREDENTIALS_RESPONSE: Codec<CredentialsResponse, CredentialsResponseInit> = codec(
  "CredentialsResponse",
  PayloadType.PAYLOAD_TYPE_CREDENTIALS_RESPONSE,
  MAX_PAYLOAD_BYTES.credentials,
  flotilla.v1.CredentialsResponse,
  (m) => checkNames("CredentialsResponse", { cluster: m.cluster }),
);

/**
 * The hub's key set as it keeps it for each cluster in the desired bucket (`hubKeySetKey`),
 * signed by the hub's current key. The set's own rules (a current key among its keys, valid PEM)
 * are checked by `acceptKeySet` when an agent weighs it against the set it holds.
 */
export const HUB_KEY_SET: Codec<HubKeySet, HubKeySetInit> = codec(
  "HubKeySet",
  PayloadType.PAYLOAD_TYPE_HUB_KEY_SET,
  MAX_PAYLOAD_BYTES.hubKeySet,
  flotilla.v1.HubKeySet,
  (m) => {
    if (!(m.version >= 0)) throw new DecodeError("HubKeySet", "version must be a whole number ≥ 0");
  },
);

export const AGENT_RESPONSE: Codec<AgentResponse, AgentResponseInit> = codec(
  "AgentResponse",
  PayloadType.PAYLOAD_TYPE_AGENT_RESPONSE,
  MAX_PAYLOAD_BYTES.response,
  flotilla.v1.AgentResponse,
  () => {},
);

/**
 * Encodes `message`, signs the encoded bytes and wraps both in an Envelope.
 * Throws MessageTooLargeError when the payload is over the limit for its type.
 */
export function seal<T, I>(kind: Codec<T, I>, message: I, key: SigningKey): Uint8Array {
  const payload = kind.encode(message);
  if (payload.length > kind.maxBytes) throw new MessageTooLargeError(kind.name, payload.length, kind.maxBytes);
  return flotilla.v1.Envelope.encode({
    type: kind.type,
    payload,
    keyId: key.keyId,
    signature: signPayload(key, kind.type, payload),
  }).finish();
}

/** What `open` returns: the message and which key signed it. */
export interface Opened<T> {
  message: T;
  keyId: string;
}

/**
 * Checks size, decodes the envelope, verifies its signature against `keys` over the exact
 * payload bytes, then decodes and checks the payload. Every failure is a typed ProtocolError:
 * MessageTooLargeError, DecodeError or SignatureError.
 */
export function open<T, I>(kind: Codec<T, I>, bytes: Uint8Array, keys: KeyRing): Opened<T> {
  const limit = kind.maxBytes + ENVELOPE_OVERHEAD;
  if (bytes.length > limit) throw new MessageTooLargeError(kind.name, bytes.length, limit);
  if (bytes.length === 0) throw new DecodeError(kind.name, "empty message");
  let envelope: flotilla.v1.Envelope;
  try {
    envelope = flotilla.v1.Envelope.decode(bytes);
  } catch (err) {
    throw new DecodeError(kind.name, `not an envelope (${(err as Error).message})`, { cause: err });
  }
  if (envelope.type !== kind.type) {
    throw new SignatureError(
      "wrong_type",
      `expected a ${kind.name} envelope, got payload type ${PayloadType[envelope.type] ?? envelope.type}`,
      envelope.keyId,
    );
  }
  keys.verify(envelope.type, envelope.keyId, envelope.payload, envelope.signature);
  let message: T;
  try {
    message = kind.decode(envelope.payload);
  } catch (err) {
    throw new DecodeError(kind.name, (err as Error).message, { cause: err });
  }
  try {
    kind.check(message);
  } catch (err) {
    if (err instanceof ProtocolError) throw err;
    throw new DecodeError(kind.name, (err as Error).message, { cause: err });
  }
  return { message, keyId: envelope.keyId };
}
