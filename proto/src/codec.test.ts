import { describe, expect, it } from "vitest";
import { AGENT_REQUEST, DESIRED_STATE, HEARTBEAT, MAX_PAYLOAD_BYTES, open, REPORT, seal } from "./codec.js";
import { DecodeError, MessageTooLargeError, SignatureError, StaleGenerationError } from "./errors.js";
import { flotilla } from "./gen/flotilla.js";
import { checkNewerGeneration, nextGeneration } from "./generation.js";
import { type DesiredStateInit, Health, SourceType, SyncPhase, worstHealth } from "./messages.js";
import {
  generateSigningKey,
  KeyRing,
  publicKeyFromPem,
  publicKeyToPem,
  signingKeyFromPem,
  signingKeyToPem,
} from "./signing.js";

const hub = generateSigningKey();
const trusted = new KeyRing([hub.publicKey]);

const desired: DesiredStateInit = {
  cluster: "prod-eu-1",
  app: "web",
  generation: 7,
  rolloutId: "r-1",
  environment: "prod",
  source: {
    repoUrl: "https://git.example/team/web.git",
    revision: "0123456789abcdef0123456789abcdef01234567",
    branch: "main",
    path: "overlays/prod",
    type: SourceType.SOURCE_TYPE_KUSTOMIZE,
  },
  targetNamespace: "web",
  prune: true,
  selfHeal: true,
  issuedAtMs: 1_760_000_000_000,
};

function sealedDesired(overrides: Partial<DesiredStateInit> = {}): Uint8Array {
  return seal(DESIRED_STATE, { ...desired, ...overrides }, hub);
}

describe("envelope", () => {
  it("round-trips a desired state signed by a trusted key", () => {
    const { message, keyId } = open(DESIRED_STATE, sealedDesired(), trusted);
    expect(keyId).toBe(hub.keyId);
    expect(message.generation).toBe(7);
    expect(message.source?.revision).toBe(desired.source?.revision);
    expect(message.source?.type).toBe(SourceType.SOURCE_TYPE_KUSTOMIZE);
    expect(message.selfHeal).toBe(true);
  });

  it("round-trips a report and a heartbeat", () => {
    const agent = generateSigningKey();
    const ring = new KeyRing([agent.publicKey]);
    const report = open(
      REPORT,
      seal(
        REPORT,
        {
          cluster: "a",
          app: "web",
          observedGeneration: 3,
          revision: "abc",
          phase: SyncPhase.SYNC_PHASE_SYNCED,
          health: Health.HEALTH_HEALTHY,
          resources: [{ ref: { kind: "Deployment", name: "web", namespace: "web", version: "v1", group: "apps" } }],
        },
        agent,
      ),
      ring,
    ).message;
    expect(report.observedGeneration).toBe(3);
    expect(report.resources[0]?.ref?.kind).toBe("Deployment");
    const hb = open(HEARTBEAT, seal(HEARTBEAT, { cluster: "a", agentVersion: "0.1.0", apps: 2 }, agent), ring).message;
    expect(hb.apps).toBe(2);
  });

  it("refuses bytes that are not an envelope", () => {
    expect(() => open(DESIRED_STATE, Buffer.from("not a protobuf at all \xff\xff\xff"), trusted)).toThrow(DecodeError);
    expect(() => open(DESIRED_STATE, new Uint8Array(), trusted)).toThrow(DecodeError);
  });

  it("refuses an envelope whose payload does not decode", () => {
    const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    const bytes = flotilla.v1.Envelope.encode({
      type: DESIRED_STATE.type,
      payload: garbage,
      keyId: hub.keyId,
      signature: Buffer.alloc(0),
    }).finish();
    // Unsigned is checked before the payload is even looked at.
    expect(() => open(DESIRED_STATE, bytes, trusted)).toThrow(SignatureError);
  });

  it("refuses an oversized message before decoding it", () => {
    const big = Buffer.alloc(MAX_PAYLOAD_BYTES.desired + 10_000, 1);
    expect(() => open(DESIRED_STATE, big, trusted)).toThrow(MessageTooLargeError);
    expect(() =>
      seal(DESIRED_STATE, { ...desired, targetNamespace: "x".repeat(MAX_PAYLOAD_BYTES.desired) }, hub),
    ).toThrow(MessageTooLargeError);
  });

  it("refuses an unsigned envelope", () => {
    const payload = flotilla.v1.DesiredState.encode(desired).finish();
    const bytes = flotilla.v1.Envelope.encode({ type: DESIRED_STATE.type, payload }).finish();
    const err = catchError(() => open(DESIRED_STATE, bytes, trusted));
    expect(err).toBeInstanceOf(SignatureError);
    expect((err as SignatureError).problem).toBe("unsigned");
  });

  it("refuses a payload changed after signing", () => {
    const env = flotilla.v1.Envelope.decode(sealedDesired());
    const forged = flotilla.v1.DesiredState.encode({ ...desired, generation: 8 }).finish();
    const bytes = flotilla.v1.Envelope.encode({ ...env, payload: forged }).finish();
    const err = catchError(() => open(DESIRED_STATE, bytes, trusted));
    expect((err as SignatureError).problem).toBe("bad_signature");
  });

  it("refuses a signature by a key the reader does not trust", () => {
    const attacker = generateSigningKey();
    const err = catchError(() => open(DESIRED_STATE, seal(DESIRED_STATE, desired, attacker), trusted));
    expect((err as SignatureError).problem).toBe("unknown_key");
  });

  it("refuses a forged signature that claims the trusted key id", () => {
    const attacker = generateSigningKey();
    const env = flotilla.v1.Envelope.decode(seal(DESIRED_STATE, desired, attacker));
    const bytes = flotilla.v1.Envelope.encode({ ...env, keyId: hub.keyId }).finish();
    const err = catchError(() => open(DESIRED_STATE, bytes, trusted));
    expect((err as SignatureError).problem).toBe("bad_signature");
  });

  it("refuses a signed message replayed as another type", () => {
    const heartbeat = seal(HEARTBEAT, { cluster: "prod-eu-1" }, hub);
    const err = catchError(() => open(DESIRED_STATE, heartbeat, trusted));
    expect((err as SignatureError).problem).toBe("wrong_type");
    // Relabelling the type breaks the signature, which covers it.
    const env = flotilla.v1.Envelope.decode(heartbeat);
    const relabelled = flotilla.v1.Envelope.encode({ ...env, type: AGENT_REQUEST.type }).finish();
    expect((catchError(() => open(AGENT_REQUEST, relabelled, trusted)) as SignatureError).problem).toBe(
      "bad_signature",
    );
  });

  it("refuses a signed desired state with bad names, no commit SHA or generation 0", () => {
    expect(() => open(DESIRED_STATE, sealedDesired({ cluster: "Prod_EU" }), trusted)).toThrow(/not a DNS label/);
    expect(() =>
      open(DESIRED_STATE, sealedDesired({ source: { ...desired.source, revision: "main" } }), trusted),
    ).toThrow(/commit SHA/);
    expect(() => open(DESIRED_STATE, sealedDesired({ generation: 0 }), trusted)).toThrow(/generation/);
    // A removal carries no source.
    expect(open(DESIRED_STATE, sealedDesired({ remove: true, source: null }), trusted).message.remove).toBe(true);
  });
});

describe("keys", () => {
  it("round-trips keys through PEM and rejects non-Ed25519 keys", () => {
    const again = signingKeyFromPem(signingKeyToPem(hub));
    expect(again.keyId).toBe(hub.keyId);
    const ring = new KeyRing([publicKeyFromPem(publicKeyToPem(hub.publicKey))]);
    expect(open(DESIRED_STATE, seal(DESIRED_STATE, desired, again), ring).keyId).toBe(hub.keyId);
    expect(() => signingKeyFromPem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")).toThrow(/PKCS#8/);
  });

  it("lets a reader trust a rotated key alongside the old one, then drop the old one", () => {
    const next = generateSigningKey();
    const ring = new KeyRing([hub.publicKey]);
    ring.add(next.publicKey);
    expect(open(DESIRED_STATE, seal(DESIRED_STATE, desired, next), ring).keyId).toBe(next.keyId);
    ring.remove(hub.keyId);
    expect(() => open(DESIRED_STATE, sealedDesired(), ring)).toThrow(SignatureError);
  });
});

describe("generation", () => {
  it.each([
    [1, 0, true],
    [8, 7, true],
    [7, 7, false],
    [6, 7, false],
  ])("incoming %i after %i is accepted: %s", (incoming, current, ok) => {
    const run = () => checkNewerGeneration("a.web", incoming, current);
    if (ok) expect(run).not.toThrow();
    else expect(run).toThrow(StaleGenerationError);
  });

  it("never goes backwards", () => {
    expect(nextGeneration(4)).toBe(5);
    expect(nextGeneration(4, 10)).toBe(10);
    expect(nextGeneration(12, 10)).toBe(13);
  });
});

describe("health", () => {
  it("takes the worst health of a set", () => {
    expect(worstHealth([])).toBe(Health.HEALTH_HEALTHY);
    expect(worstHealth([Health.HEALTH_HEALTHY, Health.HEALTH_PROGRESSING])).toBe(Health.HEALTH_PROGRESSING);
    expect(worstHealth([Health.HEALTH_DEGRADED, Health.HEALTH_PROGRESSING, Health.HEALTH_HEALTHY])).toBe(
      Health.HEALTH_DEGRADED,
    );
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected an error");
}
