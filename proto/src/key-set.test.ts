import { describe, expect, it } from "vitest";
import { DESIRED_STATE, open, seal } from "./codec.js";
import { SignatureError } from "./errors.js";
import {
  acceptKeySet,
  announceNextKey,
  checkKeySet,
  type HeldHubKeys,
  type HubKeySetData,
  heldAfter,
  initialKeySet,
  KeySetError,
  retireOldKeys,
  startingHubKeys,
  switchSigningKey,
  syncKeyRing,
} from "./key-set.js";
import { type DesiredStateInit, SourceType } from "./messages.js";
import { generateSigningKey, KeyRing, publicKeyToPem } from "./signing.js";

const a = generateSigningKey();
const b = generateSigningKey();
const c = generateSigningKey();
const pem = (k: typeof a) => publicKeyToPem(k.publicKey);

const steadyA = initialKeySet(pem(a));
const announced = announceNextKey(steadyA, pem(b));
const switched = switchSigningKey(announced, b.keyId);
const retired = retireOldKeys(switched);

const ids = (s: HubKeySetData) => [...checkKeySet(s).keys()].sort();

describe("hub key set: the hub's rotation steps", () => {
  it.each([
    ["initial", steadyA, 0, a.keyId, [a.keyId]],
    ["announce next", announced, 1, a.keyId, [a.keyId, b.keyId]],
    ["switch signing", switched, 2, b.keyId, [a.keyId, b.keyId]],
    ["retire old", retired, 3, b.keyId, [b.keyId]],
  ] as const)("%s", (_name, set, version, current, keys) => {
    expect(set.version).toBe(version);
    expect(set.currentKeyId).toBe(current);
    expect(ids(set)).toEqual([...keys].sort());
  });

  it.each([
    ["announce during a rotation", () => announceNextKey(announced, pem(c)), /finish the rotation/],
    ["announce the current key", () => announceNextKey(steadyA, pem(a)), /is the current key/],
    ["announce a non-key", () => announceNextKey(steadyA, "not a pem"), /not an Ed25519/],
    ["switch to an unannounced key", () => switchSigningKey(steadyA, c.keyId), /announce it first/],
    ["switch to the current key", () => switchSigningKey(announced, a.keyId), /already the signing key/],
    ["retire with nothing to retire", () => retireOldKeys(steadyA), /only its current key/],
    [
      "a set whose current key is not in it",
      () => checkKeySet({ version: 1, currentKeyId: c.keyId, publicKeysPem: [pem(a)] }),
      /not among its keys/,
    ],
    ["an empty set", () => checkKeySet({ version: 1, currentKeyId: "", publicKeysPem: [] }), /holds no key/],
  ] as const)("refuses: %s", (_name, step, message) => {
    expect(step).toThrow(KeySetError);
    expect(step).toThrow(message);
  });
});

describe("hub key set: what an agent accepts", () => {
  const cases: {
    name: string;
    held: HubKeySetData;
    incoming: HubKeySetData;
    signer: string;
    outcome: "accepted" | "stale" | RegExp;
    trusts?: string[];
    added?: string[];
    dropped?: string[];
  }[] = [
    {
      name: "the next key, signed by the current one",
      held: steadyA,
      incoming: announced,
      signer: a.keyId,
      outcome: "accepted",
      trusts: [a.keyId, b.keyId],
      added: [b.keyId],
      dropped: [],
    },
    {
      name: "the switch, signed by the new key it already holds",
      held: announced,
      incoming: switched,
      signer: b.keyId,
      outcome: "accepted",
      trusts: [a.keyId, b.keyId],
      added: [],
      dropped: [],
    },
    {
      name: "the retirement of the old key",
      held: switched,
      incoming: retired,
      signer: b.keyId,
      outcome: "accepted",
      trusts: [b.keyId],
      added: [],
      dropped: [a.keyId],
    },
    {
      name: "an agent that missed the switch goes straight to the retired set",
      held: announced,
      incoming: retired,
      signer: b.keyId,
      outcome: "accepted",
      trusts: [b.keyId],
      added: [],
      dropped: [a.keyId],
    },
    {
      name: "a replayed older set, signed by a key still trusted",
      held: switched,
      incoming: announced,
      signer: a.keyId,
      outcome: "stale",
      trusts: [a.keyId, b.keyId],
    },
    {
      name: "the same version again",
      held: announced,
      incoming: { ...announced, publicKeysPem: [pem(a), pem(c)] },
      signer: a.keyId,
      outcome: "stale",
      trusts: [a.keyId, b.keyId],
    },
    {
      name: "a set signed by a key the agent does not hold",
      held: steadyA,
      incoming: announced,
      signer: b.keyId,
      outcome: /does not trust/,
    },
    {
      name: "a set signed by the retired key after retirement",
      held: retired,
      incoming: { version: 9, currentKeyId: a.keyId, publicKeysPem: [pem(a)] },
      signer: a.keyId,
      outcome: /does not trust/,
    },
    {
      name: "a newer set whose current key is not in it",
      held: steadyA,
      incoming: { version: 1, currentKeyId: c.keyId, publicKeysPem: [pem(a), pem(b)] },
      signer: a.keyId,
      outcome: /not among its keys/,
    },
  ];

  it.each(cases)("$name", ({ held, incoming, signer, outcome, trusts, added, dropped }) => {
    if (outcome instanceof RegExp) {
      expect(() => acceptKeySet(held, incoming, signer)).toThrow(outcome);
      return;
    }
    const verdict = acceptKeySet(held, incoming, signer);
    expect(verdict.outcome).toBe(outcome);
    expect(ids(verdict.set)).toEqual([...(trusts ?? [])].sort());
    if (verdict.outcome === "accepted") {
      expect(verdict.added).toEqual(added);
      expect(verdict.dropped).toEqual(dropped);
    }
  });
});

describe("hub key set: the key ring follows the set", () => {
  it("admits both keys during a rotation and refuses the retired key after it", () => {
    const ring = new KeyRing();
    syncKeyRing(ring, steadyA);
    const desired = (generation: number): DesiredStateInit => ({
      cluster: "prod-eu-1",
      app: "web",
      generation,
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
      issuedAtMs: 1_760_000_000_000,
    });
    const byA = seal(DESIRED_STATE, desired(1), a);
    const byB = seal(DESIRED_STATE, desired(2), b);
    expect(() => open(DESIRED_STATE, byB, ring)).toThrow(SignatureError);

    syncKeyRing(ring, acceptKeySet(steadyA, announced, a.keyId).set);
    expect(open(DESIRED_STATE, byA, ring).keyId).toBe(a.keyId);
    expect(open(DESIRED_STATE, byB, ring).keyId).toBe(b.keyId);

    syncKeyRing(ring, acceptKeySet(switched, retired, b.keyId).set);
    expect(ring.keyIds()).toEqual([b.keyId]);
    expect(() => open(DESIRED_STATE, byA, ring)).toThrow(/not trusted/);
    expect(open(DESIRED_STATE, byB, ring).message.generation).toBe(2);
  });
});

describe("hub key set: what an agent trusts at start", () => {
  const heldRetired = heldAfter(
    heldAfter({ set: announced, retiredKeyIds: [] }, acceptKeySet(announced, switched, b.keyId)),
    acceptKeySet(switched, retired, b.keyId),
  );
  it.each<[string, HeldHubKeys | undefined, string, string[]]>([
    ["nothing saved: the bundle's key", undefined, pem(a), [a.keyId]],
    ["the saved set holds the bundle's key", { set: announced, retiredKeyIds: [] }, pem(a), [a.keyId, b.keyId]],
    ["the bundle's key was retired since", heldRetired, pem(a), [b.keyId]],
    ["a bundle key never heard of (set by hand)", heldRetired, pem(c), [c.keyId]],
  ])("%s", (_name, saved, bundle, trusted) => {
    expect(ids(startingHubKeys(saved, bundle).set)).toEqual([...trusted].sort());
  });

  it("remembers the retired key", () => {
    expect(heldRetired.retiredKeyIds).toEqual([a.keyId]);
    expect(startingHubKeys(heldRetired, pem(c)).retiredKeyIds).toEqual([a.keyId]);
  });
});
