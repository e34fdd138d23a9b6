import {
  DESIRED_STATE,
  type DesiredStateInit,
  ErrorCode,
  generateSigningKey,
  KeyRing,
  SourceType,
  seal,
  v1,
} from "@flotilla/proto";
import { describe, expect, it } from "vitest";
import { admit, claimedGeneration, samePayload } from "./admission.js";

const hub = generateSigningKey();
const forger = generateSigningKey();
const keys = new KeyRing([hub.publicKey]);
const base: DesiredStateInit = {
  cluster: "c1",
  app: "web",
  generation: 7,
  source: {
    repoUrl: "http://git/x.git",
    revision: "a".repeat(40),
    branch: "main",
    path: "",
    type: SourceType.SOURCE_TYPE_MANIFESTS,
  },
};
const unsigned = v1.Envelope.encode({
  type: v1.PayloadType.PAYLOAD_TYPE_DESIRED_STATE,
  payload: v1.DesiredState.encode(base).finish(),
}).finish();

describe("admit", () => {
  it("accepts a hub-signed state for this cluster and app", () => {
    const a = admit(seal(DESIRED_STATE, base, hub), keys, "c1", "web");
    expect(a.ok && Number(a.desired.generation)).toBe(7);
  });

  it.each([
    [
      "forged (signed by another key)",
      seal(DESIRED_STATE, base, forger),
      "c1",
      "web",
      ErrorCode.ERROR_CODE_SIGNATURE_INVALID,
      7,
    ],
    ["unsigned", unsigned, "c1", "web", ErrorCode.ERROR_CODE_SIGNATURE_INVALID, 7],
    ["garbage", new Uint8Array([1, 2, 3, 4]), "c1", "web", ErrorCode.ERROR_CODE_MALFORMED, 0],
    ["another cluster's", seal(DESIRED_STATE, base, hub), "c2", "web", ErrorCode.ERROR_CODE_MALFORMED, 7],
    ["stored under another app's key", seal(DESIRED_STATE, base, hub), "c1", "api", ErrorCode.ERROR_CODE_MALFORMED, 7],
    [
      "a bad revision",
      seal(DESIRED_STATE, { ...base, source: { ...base.source, revision: "main" } }, hub),
      "c1",
      "web",
      ErrorCode.ERROR_CODE_MALFORMED,
      7,
    ],
  ])("rejects %s", (_n, bytes, cluster, app, code, generation) => {
    const a = admit(bytes, keys, cluster, app);
    expect(a.ok).toBe(false);
    if (!a.ok) {
      expect(a.code).toBe(code);
      expect(a.claimedGeneration).toBe(generation);
      expect(a.reason.length).toBeGreaterThan(0);
    }
  });

  it("reads the claimed generation without trusting it", () => {
    expect(claimedGeneration(seal(DESIRED_STATE, base, forger))).toBe(7);
  });
});

describe("samePayload", () => {
  const byHub = seal(DESIRED_STATE, base, hub);
  it.each([
    ["the same state signed by another key", seal(DESIRED_STATE, base, forger), true],
    ["the same bytes", byHub, true],
    ["another generation", seal(DESIRED_STATE, { ...base, generation: 8 }, hub), false],
    ["bytes that are no envelope", new Uint8Array([0xff, 0xff, 0xff]), false],
  ] as const)("%s: %s", (_name, other, same) => {
    expect(samePayload(byHub, other)).toBe(same);
  });
});
