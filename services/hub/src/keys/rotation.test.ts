import { acceptKeySet, generateSigningKey, heldAfter, initialKeySet, publicKeyToPem } from "@flotilla/proto";
import { describe, expect, it } from "vitest";
import { ConflictError } from "../errors.js";
import {
  type ClusterKeyFacts,
  checkKeyState,
  currentSigningKey,
  finishRotation,
  initialKeyState,
  keySetStatus,
  phaseOf,
  startRotation,
} from "./rotation.js";

const a = generateSigningKey();
const b = generateSigningKey();
const c = generateSigningKey();

const steady = initialKeyState(a, 1_000);
const announced = startRotation(steady, b, 2_000);
const facts = (...versions: (number | undefined)[]): ClusterKeyFacts[] =>
  versions.map((v, i) => ({ name: `c${i + 1}`, state: "Ready", ...(v !== undefined ? { hubKeySetVersion: v } : {}) }));
const finished = finishRotation(announced, facts(1, 1, 1), { force: false, nowMs: 3_000 });

describe("hub key rotation: the steps", () => {
  it.each([
    ["steady (one key, v0)", steady, 0, a.keyId, [a.keyId], "steady", undefined],
    [
      "announced (next key beside, still signing with the old)",
      announced,
      1,
      a.keyId,
      [a.keyId, b.keyId],
      "announced",
      1,
    ],
    [
      "finished (signing with the new key, the old one retired)",
      finished.state,
      3,
      b.keyId,
      [b.keyId],
      "steady",
      undefined,
    ],
  ] as const)("%s", (_name, state, version, current, keys, phase, announcedVersion) => {
    checkKeyState(state);
    expect(state.set.version).toBe(version);
    expect(state.set.currentKeyId).toBe(current);
    expect(currentSigningKey(state).keyId).toBe(current);
    expect(Object.keys(state.privateKeysPem).sort()).toEqual([...keys].sort());
    expect(phaseOf(state)).toBe(phase);
    expect(state.announcedVersion).toBe(announcedVersion);
  });

  it("remembers the retired key and keeps the switched set it passed through", () => {
    expect(finished.state.retiredKeyIds).toEqual([a.keyId]);
    expect(finished.switched.version).toBe(2);
    expect(finished.switched.currentKeyId).toBe(b.keyId);
    expect(finished.oldKeyId).toBe(a.keyId);
    expect(finished.newKeyId).toBe(b.keyId);
    expect(finished.state.changedAtMs).toBe(3_000);
  });

  it("a second rotation starts from the finished one", () => {
    const again = startRotation(finished.state, c, 4_000);
    expect(again.set.version).toBe(4);
    expect(again.announcedVersion).toBe(4);
    expect(again.retiredKeyIds).toEqual([a.keyId]);
  });

  it.each([
    ["start during a rotation", () => startRotation(announced, c, 0), /rotation is under way/],
    ["start with a retired key", () => startRotation(finished.state, a, 0), /was retired before/],
    [
      "finish with no rotation",
      () => finishRotation(steady, facts(0), { force: false, nowMs: 0 }),
      /no rotation is under way/,
    ],
    [
      "finish while a cluster lags",
      () => finishRotation(announced, facts(1, 0, undefined), { force: false, nowMs: 0 }),
      /2 of 3 clusters do not hold v1 yet: c2 \(Ready, holds v0\), c3 \(Ready, holds no set\); wait for them, or finish with --force/,
    ],
    [
      "a stored state without a key's private half",
      () => checkKeyState({ ...announced, privateKeysPem: { [a.keyId]: announced.privateKeysPem[a.keyId] ?? "" } }),
      /holds no private key for key/,
    ],
    [
      "a stored state whose private key is another key",
      () => checkKeyState({ ...steady, privateKeysPem: { [a.keyId]: announced.privateKeysPem[b.keyId] ?? "" } }),
      /is another key/,
    ],
  ] as const)("refuses: %s", (_name, step, message) => {
    expect(step).toThrow(ConflictError);
    expect(step).toThrow(message);
  });

  it("finishes past lagging clusters when forced", () => {
    const forced = finishRotation(announced, facts(1, 0), { force: true, nowMs: 0 });
    expect(forced.state.set.currentKeyId).toBe(b.keyId);
  });

  it("names ten lagging clusters at most", () => {
    const many = facts(...Array.from({ length: 14 }, () => 0));
    expect(() => finishRotation(announced, many, { force: false, nowMs: 0 })).toThrow(
      /c5 \(Ready, holds v0\) and 4 more;/,
    );
  });
});

describe("hub key rotation: where the fleet stands", () => {
  it.each([
    {
      name: "steady, everyone on v0",
      state: steady,
      clusters: facts(0, 0),
      holdingCurrent: 2,
      holdingAnnounced: undefined,
      lagging: [],
      byVersion: { "0": 2 },
    },
    {
      name: "announced, one of three holds it, one never said",
      state: announced,
      clusters: facts(1, 0, undefined),
      holdingCurrent: 1,
      holdingAnnounced: 1,
      lagging: ["c2", "c3"],
      byVersion: { "0": 1, "1": 1, unknown: 1 },
    },
    {
      name: "finished, a cluster still on the announced set trusts the new key but is behind",
      state: finished.state,
      clusters: facts(3, 1),
      holdingCurrent: 1,
      holdingAnnounced: undefined,
      lagging: ["c2"],
      byVersion: { "1": 1, "3": 1 },
    },
    {
      name: "no clusters",
      state: announced,
      clusters: [],
      holdingCurrent: 0,
      holdingAnnounced: 0,
      lagging: [],
      byVersion: {},
    },
  ])("$name", ({ state, clusters, holdingCurrent, holdingAnnounced, lagging, byVersion }) => {
    const s = keySetStatus(state, clusters);
    expect(s.clusters).toBe(clusters.length);
    expect(s.holdingCurrent).toBe(holdingCurrent);
    expect(s.holdingAnnounced).toBe(holdingAnnounced);
    expect(s.lagging.map((l) => l.name)).toEqual(lagging);
    expect(s.byVersion).toEqual(byVersion);
  });

  it("names the next key during a rotation", () => {
    const s = keySetStatus(announced, []);
    expect(s.phase).toBe("announced");
    expect(s.nextKeyId).toBe(b.keyId);
    expect(s.announcedVersion).toBe(1);
    expect(keySetStatus(steady, []).nextKeyId).toBeUndefined();
  });
});

describe("hub key rotation: an agent following the sets the hub writes", () => {
  it("goes from the bundle's key to the new key alone, and drops the old one", () => {
    let held = { set: initialKeySet(publicKeyToPem(a.publicKey)), retiredKeyIds: [] as string[] };
    // The leader signs each set with the key the set names as current.
    held = heldAfter(held, acceptKeySet(held.set, announced.set, announced.set.currentKeyId));
    expect(held.set.version).toBe(1);
    held = heldAfter(held, acceptKeySet(held.set, finished.state.set, finished.state.set.currentKeyId));
    expect(held.set.publicKeysPem).toHaveLength(1);
    expect(held.set.currentKeyId).toBe(b.keyId);
    expect(held.retiredKeyIds).toEqual([a.keyId]);
  });

  it("an agent that never got the announcement cannot take the finished set", () => {
    const bundleOnly = initialKeySet(publicKeyToPem(a.publicKey));
    expect(() => acceptKeySet(bundleOnly, finished.state.set, b.keyId)).toThrow(/does not trust/);
  });
});
