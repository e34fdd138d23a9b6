/**
 * The hub's signing keys and the walk of a rotation, as pure steps over a value the hub keeps
 * sealed in Redis. Rules:
 *
 * - The state holds the public set agents are told of (`HubKeySetData`, versioned), the private
 *   half of every key in it, and the ids of keys retired so far.
 * - `start` announces a fresh key beside the current one (set version + 1, still signing with
 *   the current key) and remembers that version: an agent holding it or a newer one trusts the
 *   next key.
 * - `finish` switches signing to the next key and retires the old one (two more versions). It
 *   is refused while a registered cluster does not yet hold the announced version, unless
 *   forced: such a cluster would refuse everything the hub signs from the switch on.
 * - A retired key's private half is dropped; its id is kept, so the status can say it is retired.
 *
 * No I/O and no clock: the caller passes `nowMs` and the clusters' last heartbeats.
 */
import {
  announceNextKey,
  checkKeySet,
  generateSigningKey,
  type HubKeySetData,
  initialKeySet,
  publicKeyFromPem,
  publicKeyToPem,
  retireOldKeys,
  type SigningKey,
  signingKeyFromPem,
  signingKeyToPem,
  switchSigningKey,
} from "@flotilla/proto";
import { ConflictError } from "../errors.js";

/** What the hub keeps (sealed) about its signing keys. */
export interface HubKeyState {
  /** The set agents are told of. */
  set: HubKeySetData;
  /** PKCS#8 PEM of every key in the set, by key id. Secret. */
  privateKeysPem: Record<string, string>;
  /** While a rotation is under way: the set version that announced the next key. */
  announcedVersion?: number;
  /** Ids of keys retired by past rotations, oldest first. */
  retiredKeyIds: string[];
  /** When the last step was taken (hub clock, ms). */
  changedAtMs: number;
}

/** Where a rotation stands. */
export type RotationPhase = "steady" | "announced";

/** What the hub knows of one cluster for a rotation: its liveness and the set version it last said it holds. */
export interface ClusterKeyFacts {
  name: string;
  /** Pending, Ready or Offline. */
  state: string;
  /** From its last heartbeat; undefined when it never said (an agent older than key sets, or no beat yet). */
  hubKeySetVersion?: number;
}

/** The state of the hub's keys and how far the fleet has followed, as `GET /v1/hub/keys` shows it. */
export interface KeySetStatus {
  version: number;
  currentKeyId: string;
  keyIds: string[];
  phase: RotationPhase;
  /** While a rotation is under way: the next key and the version that announced it. */
  nextKeyId?: string;
  announcedVersion?: number;
  retiredKeyIds: string[];
  changedAtMs: number;
  /** Registered clusters. */
  clusters: number;
  /** Clusters that hold the current set version (or newer). */
  holdingCurrent: number;
  /** During a rotation: clusters that hold the announced version or newer (they trust the next key). */
  holdingAnnounced?: number;
  /** Clusters behind: during a rotation, those that do not trust the next key yet; otherwise those behind the current version. */
  lagging: { name: string; state: string; hubKeySetVersion?: number }[];
  /** Clusters per set version they hold (`unknown`: never said). */
  byVersion: Record<string, number>;
}

/** The keys of a hub that has had one key so far: set version 0, the one every bundle names. */
export function initialKeyState(key: SigningKey, nowMs: number): HubKeyState {
  return {
    set: initialKeySet(publicKeyToPem(key.publicKey)),
    privateKeysPem: { [key.keyId]: signingKeyToPem(key) },
    retiredKeyIds: [],
    changedAtMs: nowMs,
  };
}

/** Checks a stored state: a valid set whose every key has its private half. Throws naming what is wrong. */
export function checkKeyState(state: HubKeyState): void {
  const keys = checkKeySet(state.set);
  for (const id of keys.keys()) {
    const pem = state.privateKeysPem[id];
    if (!pem) throw new ConflictError("hub key set", `v${state.set.version}`, `holds no private key for key ${id}`);
    if (signingKeyFromPem(pem).keyId !== id) {
      throw new ConflictError(
        "hub key set",
        `v${state.set.version}`,
        `the private key stored for ${id} is another key`,
      );
    }
  }
}

/** The key the hub signs with now. */
export function currentSigningKey(state: HubKeyState): SigningKey {
  const pem = state.privateKeysPem[state.set.currentKeyId];
  if (!pem) {
    throw new ConflictError("hub key set", `v${state.set.version}`, `holds no private key for its current key`);
  }
  return signingKeyFromPem(pem);
}

/** Whether a rotation is under way. */
export function phaseOf(state: HubKeyState): RotationPhase {
  return state.announcedVersion === undefined ? "steady" : "announced";
}

/** The key announced beside the current one, during a rotation. */
function nextKeyIdOf(state: HubKeyState): string | undefined {
  if (phaseOf(state) === "steady") return undefined;
  return [...checkKeySet(state.set).keys()].find((id) => id !== state.set.currentKeyId);
}

/** Step 1: announce `next` (a fresh key) beside the current one. Refused during a rotation. */
export function startRotation(state: HubKeyState, next: SigningKey, nowMs: number): HubKeyState {
  if (phaseOf(state) !== "steady") {
    throw new ConflictError(
      "hub key set",
      `v${state.set.version}`,
      `a rotation is under way (key ${nextKeyIdOf(state)} announced at v${state.announcedVersion}); finish it with 'flotilla hub rotate-key finish'`,
    );
  }
  if (state.retiredKeyIds.includes(next.keyId)) {
    throw new ConflictError("hub key", next.keyId, "was retired before; generate a new one");
  }
  const set = announceNextKey(state.set, publicKeyToPem(next.publicKey));
  return {
    ...state,
    set,
    privateKeysPem: { ...state.privateKeysPem, [next.keyId]: signingKeyToPem(next) },
    announcedVersion: set.version,
    changedAtMs: nowMs,
  };
}

/** A fresh key for {@link startRotation}. */
export function freshKey(): SigningKey {
  return generateSigningKey();
}

/**
 * Where the fleet stands: how many clusters hold the current version, and during a rotation how
 * many already trust the next key and which do not.
 */
export function keySetStatus(state: HubKeyState, clusters: readonly ClusterKeyFacts[]): KeySetStatus {
  const phase = phaseOf(state);
  const needed = state.announcedVersion ?? state.set.version;
  const holds = (c: ClusterKeyFacts, v: number) => c.hubKeySetVersion !== undefined && c.hubKeySetVersion >= v;
  const byVersion: Record<string, number> = {};
  for (const c of clusters) {
    const v = c.hubKeySetVersion === undefined ? "unknown" : String(c.hubKeySetVersion);
    byVersion[v] = (byVersion[v] ?? 0) + 1;
  }
  const nextKeyId = nextKeyIdOf(state);
  return {
    version: state.set.version,
    currentKeyId: state.set.currentKeyId,
    keyIds: [...checkKeySet(state.set).keys()],
    phase,
    ...(nextKeyId !== undefined ? { nextKeyId } : {}),
    ...(state.announcedVersion !== undefined ? { announcedVersion: state.announcedVersion } : {}),
    retiredKeyIds: [...state.retiredKeyIds],
    changedAtMs: state.changedAtMs,
    clusters: clusters.length,
    holdingCurrent: clusters.filter((c) => holds(c, state.set.version)).length,
    ...(phase === "announced" ? { holdingAnnounced: clusters.filter((c) => holds(c, needed)).length } : {}),
    lagging: clusters
      .filter((c) => !holds(c, needed))
      .map((c) => ({
        name: c.name,
        state: c.state,
        ...(c.hubKeySetVersion !== undefined ? { hubKeySetVersion: c.hubKeySetVersion } : {}),
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    byVersion,
  };
}

/** How many lagging clusters an error names before it says "and N more". */
const NAMED_MAX = 10;

/**
 * Steps 2 and 3: sign with the next key and drop the old one, in one new state two versions on.
 * Refused with no rotation under way, and (unless `force`) while a cluster does not yet trust
 * the next key: it would refuse everything signed from now on.
 */
export function finishRotation(
  state: HubKeyState,
  clusters: readonly ClusterKeyFacts[],
  o: { force: boolean; nowMs: number },
): { state: HubKeyState; switched: HubKeySetData; oldKeyId: string; newKeyId: string } {
  const nextKeyId = nextKeyIdOf(state);
  if (nextKeyId === undefined) {
    throw new ConflictError(
      "hub key set",
      `v${state.set.version}`,
      "no rotation is under way; start one with 'flotilla hub rotate-key start'",
    );
  }
  const status = keySetStatus(state, clusters);
  if (status.lagging.length > 0 && !o.force) {
    const named = status.lagging
      .slice(0, NAMED_MAX)
      .map(
        (c) =>
          `${c.name} (${c.state}, holds ${c.hubKeySetVersion === undefined ? "no set" : `v${c.hubKeySetVersion}`})`,
      );
    const more = status.lagging.length > NAMED_MAX ? ` and ${status.lagging.length - NAMED_MAX} more` : "";
    throw new ConflictError(
      "hub key set",
      `v${state.set.version}`,
      `${status.lagging.length} of ${status.clusters} clusters do not hold v${state.announcedVersion} yet: ${named.join(", ")}${more}; wait for them, or finish with --force (they catch up from their key set's history when back, or, past it, need a new bundle)`,
    );
  }
  const oldKeyId = state.set.currentKeyId;
  const switched = switchSigningKey(state.set, nextKeyId);
  const retired = retireOldKeys(switched);
  const { [oldKeyId]: _dropped, ...privateKeysPem } = state.privateKeysPem;
  return {
    state: {
      set: retired,
      privateKeysPem,
      retiredKeyIds: [...state.retiredKeyIds.filter((id) => id !== oldKeyId), oldKeyId],
      changedAtMs: o.nowMs,
    },
    switched,
    oldKeyId,
    newKeyId: nextKeyId,
  };
}

/** The public keys of a state, for a ring that reads what the hub itself wrote. */
export function publicKeysOf(state: HubKeyState): ReturnType<typeof publicKeyFromPem>[] {
  return [...checkKeySet(state.set).values()].map((pem) => publicKeyFromPem(pem));
}
