/**
 * The hub signing keys this agent trusts. The bootstrap bundle names one; the hub announces its
 * key set (current + next, later without the old key) under `<cluster>._hub-keys` in the desired
 * bucket and inside its signed credentials answers.
 * A set is taken only from a message signed by a key already trusted and only when newer than
 * the one held (see `acceptKeySet` in @flotilla/proto); it is kept in the cache directory, so a
 * restarted agent neither forgets the next key nor trusts a retired one again.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import {
  acceptKeySet,
  checkKeySet,
  type HeldHubKeys,
  type HubKeySetData,
  heldAfter,
  type KeyRing,
  startingHubKeys,
  syncKeyRing,
} from "@flotilla/proto";
import type { Logger } from "./logger.js";

/** File name of the held key set inside the cache directory. */
export const SAVED_HUB_KEYS_FILE = "hub-keys.json";

/** A key set as it comes off the wire (protobufjs leaves absent fields undefined or null). */
export interface WireKeySet {
  version?: number | null;
  currentKeyId?: string | null;
  publicKeysPem?: string[] | null;
}

/** The saved keys, when the file holds a valid set. */
export function readSavedHubKeys(path: string, log: Logger): HeldHubKeys | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  try {
    const saved = JSON.parse(text) as Partial<HeldHubKeys>;
    if (!saved.set || !Array.isArray(saved.retiredKeyIds)) throw new Error("not a saved hub key set");
    checkKeySet(saved.set);
    return { set: saved.set, retiredKeyIds: saved.retiredKeyIds.filter((id) => typeof id === "string") };
  } catch (err) {
    log.warn({ err: (err as Error).message, path }, "saved hub key set is unreadable; trusting the bundle's hub key");
    return undefined;
  }
}

export class HubTrust {
  #held: HeldHubKeys;

  /**
   * Trusts the saved set (learnt from the hub after the bundle was made) unless the bundle names
   * a key the agent has never heard of (see `startingHubKeys`); `ring` is kept in step and is
   * what every verifier reads.
   */
  constructor(
    private readonly ring: KeyRing,
    private readonly path: string,
    bundlePublicKeyPem: string,
    private readonly log: Logger,
  ) {
    this.#held = startingHubKeys(readSavedHubKeys(path, log), bundlePublicKeyPem);
    syncKeyRing(ring, this.#held.set);
  }

  /** The set held now. */
  get held(): HubKeySetData {
    return this.#held.set;
  }

  /**
   * Takes a set that came in a message signed by `signerKeyId` (already verified against the
   * ring). Returns true when the set changed; a stale or bad set is logged and ignored.
   */
  offer(wire: WireKeySet, signerKeyId: string): boolean {
    const incoming: HubKeySetData = {
      version: Number(wire.version ?? 0),
      currentKeyId: wire.currentKeyId ?? "",
      publicKeysPem: [...(wire.publicKeysPem ?? [])],
    };
    let verdict: ReturnType<typeof acceptKeySet>;
    try {
      verdict = acceptKeySet(this.#held.set, incoming, signerKeyId);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "hub key set refused");
      return false;
    }
    if (verdict.outcome === "stale") return false;
    // Saved before the ring changes: a crash in between restarts on the new set, never the old.
    const held = heldAfter(this.#held, verdict);
    this.#save(held);
    this.#held = held;
    syncKeyRing(this.ring, held.set);
    this.log.info(
      {
        version: verdict.set.version,
        currentKeyId: verdict.set.currentKeyId,
        added: verdict.added,
        dropped: verdict.dropped,
      },
      "hub key set updated",
    );
    return true;
  }

  #save(held: HeldHubKeys): void {
    try {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      writeFileSync(`${this.path}.tmp`, `${JSON.stringify(held, null, 2)}\n`, { mode: 0o600 });
      renameSync(`${this.path}.tmp`, this.path);
    } catch (err) {
      this.log.warn(
        { err: (err as Error).message, path: this.path },
        "could not save the hub key set; a restart trusts the bundle's hub key",
      );
    }
  }
}
