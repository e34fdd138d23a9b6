/**
 * The hub's signing-key set and its transitions, for rotating the hub key without downtime.
 * Pure: no I/O, no clock. The hub walks a set through announce → switch → retire, bumping its
 * version at every step; an agent accepts a set only from a message signed by a key it already
 * trusts and only when it is newer than the one it holds, so a replayed older set can never
 * bring a retired key back.
 */
import { ProtocolError } from "./errors.js";
import { type KeyRing, keyIdOf, publicKeyFromPem } from "./signing.js";

/** A key set as held and persisted: plain data, so it can be written as JSON. */
export interface HubKeySetData {
  version: number;
  currentKeyId: string;
  publicKeysPem: string[];
}

/** A key set that breaks the rules, or a step of a rotation that does not fit the set. */
export class KeySetError extends ProtocolError {
  override name = "KeySetError";
  override readonly code = "key_set";
}

/** Key id → PEM of a set's keys; throws KeySetError naming the bad one. */
export function keysOf(set: HubKeySetData): Map<string, string> {
  const keys = new Map<string, string>();
  for (const [i, pem] of set.publicKeysPem.entries()) {
    let id: string;
    try {
      id = keyIdOf(publicKeyFromPem(pem));
    } catch (err) {
      throw new KeySetError(`hub key set version ${set.version}: key ${i} is not an Ed25519 SPKI PEM public key`, {
        cause: err,
      });
    }
    keys.set(id, pem);
  }
  return keys;
}

/** Checks a set: at least one key, valid keys, the current key among them. */
export function checkKeySet(set: HubKeySetData): Map<string, string> {
  if (!Number.isSafeInteger(set.version) || set.version < 0) {
    throw new KeySetError(`hub key set version ${set.version} is not a whole number ≥ 0`);
  }
  const keys = keysOf(set);
  if (keys.size === 0) throw new KeySetError(`hub key set version ${set.version} holds no key`);
  if (!keys.has(set.currentKeyId)) {
    throw new KeySetError(
      `hub key set version ${set.version} names current key ${JSON.stringify(set.currentKeyId)}, which is not among its keys`,
    );
  }
  return keys;
}

/** The set of a hub that has only ever had one key (what a bootstrap bundle gives an agent). */
export function initialKeySet(publicKeyPem: string): HubKeySetData {
  const id = keyIdOf(publicKeyFromPem(publicKeyPem));
  return { version: 0, currentKeyId: id, publicKeysPem: [publicKeyPem] };
}

/** What an agent makes of a set it was sent. */
export type KeySetVerdict =
  | { outcome: "accepted"; set: HubKeySetData; added: string[]; dropped: string[] }
  | { outcome: "stale"; set: HubKeySetData };

/**
 * Whether an agent holding `held` takes `incoming`, which came in a message signed by
 * `signerKeyId`. Throws KeySetError when the signer is not trusted or the set is malformed.
 */
export function acceptKeySet(held: HubKeySetData, incoming: HubKeySetData, signerKeyId: string): KeySetVerdict {
  const heldKeys = keysOf(held);
  if (!heldKeys.has(signerKeyId)) {
    throw new KeySetError(
      `hub key set version ${incoming.version} is signed by key ${signerKeyId}, which this agent does not trust; ignoring it`,
    );
  }
  if (incoming.version <= held.version) return { outcome: "stale", set: held };
  const keys = checkKeySet(incoming);
  return {
    outcome: "accepted",
    set: { version: incoming.version, currentKeyId: incoming.currentKeyId, publicKeysPem: [...keys.values()] },
    added: [...keys.keys()].filter((id) => !heldKeys.has(id)),
    dropped: [...heldKeys.keys()].filter((id) => !keys.has(id)),
  };
}

/** Makes `ring` trust exactly the keys of `set`. */
export function syncKeyRing(ring: KeyRing, set: HubKeySetData): void {
  const keys = checkKeySet(set);
  for (const id of ring.keyIds()) if (!keys.has(id)) ring.remove(id);
  for (const pem of keys.values()) ring.add(publicKeyFromPem(pem));
}

/** Step 1 of a rotation: trust `nextPem` beside the current key; still signing with the current one. */
export function announceNextKey(set: HubKeySetData, nextPem: string): HubKeySetData {
  const keys = checkKeySet(set);
  if (keys.size !== 1) {
    throw new KeySetError(
      `hub key set version ${set.version} already holds ${keys.size} keys; finish the rotation in progress first`,
    );
  }
  const next = keysOf({ ...set, publicKeysPem: [nextPem] });
  const [nextId] = next.keys();
  if (nextId === undefined || keys.has(nextId)) {
    throw new KeySetError(`the next hub key ${nextId ?? ""} is the current key; generate a new one`);
  }
  return { version: set.version + 1, currentKeyId: set.currentKeyId, publicKeysPem: [...keys.values(), nextPem] };
}

/** Step 2: sign with `keyId`, which the set already holds (every agent was told of it in step 1). */
export function switchSigningKey(set: HubKeySetData, keyId: string): HubKeySetData {
  const keys = checkKeySet(set);
  if (!keys.has(keyId)) {
    throw new KeySetError(`hub key ${keyId} is not in key set version ${set.version}; announce it first`);
  }
  if (keyId === set.currentKeyId) throw new KeySetError(`hub key ${keyId} is already the signing key`);
  return { version: set.version + 1, currentKeyId: keyId, publicKeysPem: [...keys.values()] };
}

/** Step 3: drop every key but the current one; agents then refuse what the old key signed. */
export function retireOldKeys(set: HubKeySetData): HubKeySetData {
  const keys = checkKeySet(set);
  if (keys.size === 1) throw new KeySetError(`hub key set version ${set.version} holds only its current key`);
  return {
    version: set.version + 1,
    currentKeyId: set.currentKeyId,
    publicKeysPem: [keys.get(set.currentKeyId) as string],
  };
}

/** What an agent keeps across restarts: the set it holds and the keys it has seen retired. */
export interface HeldHubKeys {
  set: HubKeySetData;
  retiredKeyIds: string[];
}

/**
 * What an agent trusts at start, from its saved keys and its bundle's hub key. The saved set wins
 * while the bundle's key is in it or was retired by a rotation (the bundle is older than the
 * set); a bundle key the agent has never heard of was put there by hand (a manual rotation or a
 * new hub), and replaces the saved set.
 */
export function startingHubKeys(saved: HeldHubKeys | undefined, bundlePublicKeyPem: string): HeldHubKeys {
  const bundle = initialKeySet(bundlePublicKeyPem);
  if (!saved) return { set: bundle, retiredKeyIds: [] };
  if (checkKeySet(saved.set).has(bundle.currentKeyId) || saved.retiredKeyIds.includes(bundle.currentKeyId)) {
    return saved;
  }
  return { set: bundle, retiredKeyIds: saved.retiredKeyIds };
}

/** The held keys after an accepted set: what it dropped joins the retired ids. */
export function heldAfter(held: HeldHubKeys, verdict: KeySetVerdict): HeldHubKeys {
  if (verdict.outcome === "stale") return held;
  const retired = new Set([...held.retiredKeyIds, ...verdict.dropped]);
  for (const id of keysOf(verdict.set).keys()) retired.delete(id);
  return { set: verdict.set, retiredKeyIds: [...retired] };
}
