/**
 * The hub's signing keys at run time: the key set kept sealed in Redis (see `rotation.ts`), loaded
 * by every replica at start, reloaded on a `hub-keys` event from the replica that took a step
 * (and every {@link RELOAD_INTERVAL_MS} in case an event was missed), and the steps of a rotation
 * taken by compare-and-set on the set's version, so two replicas never both take one.
 */
import { type HubKeySetData, KeyRing, type SigningKey } from "@flotilla/proto";
import type { Logger } from "pino";
import { ConflictError } from "../errors.js";
import type { HubMetrics } from "../metrics.js";
import type { SecretBox } from "../secrets/secretbox.js";
import type { EventBus } from "../status/events.js";
import type { SigningKeyStore } from "../store.js";
import {
  type ClusterKeyFacts,
  checkKeyState,
  currentSigningKey,
  finishRotation,
  freshKey,
  type HubKeyState,
  initialKeyState,
  type KeySetStatus,
  keySetStatus,
  publicKeysOf,
  startRotation,
} from "./rotation.js";

/** Context the key set is sealed under (bound into the ciphertext). */
const CONTEXT = "hub-key-set";
/** How often a replica reads the stored set again, in case it missed the event of a step. */
export const RELOAD_INTERVAL_MS = 10_000;

export interface HubKeysOptions {
  store: SigningKeyStore;
  box: SecretBox;
  metrics: HubMetrics;
  log: Logger;
  /** Hub clock, ms. */
  now?: () => number;
}

/**
 * The hub's signing key, whichever it is now. It is a `SigningKey` whose halves are the current
 * key's, so every part that signs (desired states, RPCs, credentials answers, bundles) signs with
 * the current key from the moment this replica learns of a switch; `seal` reads the key id and
 * the private key in one synchronous call, so no message mixes two keys.
 */
export class HubKeys implements SigningKey {
  #state: HubKeyState;
  #key: SigningKey;
  #ring: KeyRing;
  /** Set when the key comes from FLOTILLA_HUB_SIGNING_KEY_FILE: it cannot be rotated here. */
  readonly #fixed: boolean;
  readonly #listeners = new Set<(set: HubKeySetData) => void>();
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;

  private constructor(
    private readonly o: HubKeysOptions,
    state: HubKeyState,
    fixed: boolean,
  ) {
    this.#state = state;
    this.#key = currentSigningKey(state);
    this.#ring = new KeyRing(publicKeysOf(state));
    this.#fixed = fixed;
    o.metrics.hubKeySetVersion.set(state.set.version);
  }

  /**
   * A configured key (FLOTILLA_HUB_SIGNING_KEY_FILE) is used as is and never rotated. Otherwise
   * the stored set, or (first start of a hub with key sets) one made from `first`, the key the
   * hub signed with so far, stored if no replica stored one first.
   */
  static async load(o: HubKeysOptions, first: SigningKey, configured: boolean): Promise<HubKeys> {
    const now = o.now ?? Date.now;
    if (configured) return new HubKeys(o, initialKeyState(first, now()), true);
    const stored = await o.store.getSealedKeySet();
    if (stored) return new HubKeys(o, openState(o.box, stored.sealed), false);
    const initial = initialKeyState(first, now());
    if (await o.store.putSealedKeySet(sealState(o.box, initial), initial.set.version, undefined)) {
      o.log.info({ version: 0, currentKeyId: first.keyId }, "hub key set created from the hub's signing key");
      return new HubKeys(o, initial, false);
    }
    const winner = await o.store.getSealedKeySet();
    if (!winner) throw new ConflictError("hub key set", "v0", "was stored and is gone again; start the hub again");
    return new HubKeys(o, openState(o.box, winner.sealed), false);
  }

  get keyId(): string {
    return this.#key.keyId;
  }

  get privateKey(): SigningKey["privateKey"] {
    return this.#key.privateKey;
  }

  get publicKey(): SigningKey["publicKey"] {
    return this.#key.publicKey;
  }

  /** The set agents are to hold now. */
  get set(): HubKeySetData {
    return this.#state.set;
  }

  /** Every key of the set (the current one and, during a rotation, the next): reads what the hub wrote. */
  get ring(): KeyRing {
    return this.#ring;
  }

  /** Calls `listener` with the set after every change this replica learns of; returns the unsubscribe function. */
  onChange(listener: (set: HubKeySetData) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Follows other replicas' steps: on their events and, as a fallback, every {@link RELOAD_INTERVAL_MS}. */
  follow(events: EventBus): void {
    if (this.#fixed) return;
    this.#unsubscribe = events.subscribe((event) => {
      if (event.type === "hub-keys" && event.version > this.#state.set.version) void this.reload();
    });
    this.#timer = setInterval(() => void this.reload(), RELOAD_INTERVAL_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#unsubscribe?.();
  }

  /** Reads the stored set and takes it when newer; logs (never throws) when Redis fails. */
  async reload(): Promise<void> {
    try {
      const stored = await this.o.store.getSealedKeySet();
      if (!stored || stored.version <= this.#state.set.version) return;
      this.#take(openState(this.o.box, stored.sealed));
    } catch (err) {
      this.o.log.warn({ err }, "could not read the hub key set; keeping the one loaded");
    }
  }

  /** Where the fleet stands with the keys. */
  status(clusters: readonly ClusterKeyFacts[]): KeySetStatus {
    return keySetStatus(this.#state, clusters);
  }

  /** Step 1 of a rotation: announce a fresh key beside the current one. */
  async start(clusters: readonly ClusterKeyFacts[], events: EventBus): Promise<KeySetStatus> {
    this.#refuseFixed();
    await this.reload();
    const next = freshKey();
    const state = startRotation(this.#state, next, (this.o.now ?? Date.now)());
    await this.#store(state, events);
    this.o.log.info(
      { version: state.set.version, currentKeyId: state.set.currentKeyId, nextKeyId: next.keyId },
      "hub key rotation started: next key announced",
    );
    return this.status(clusters);
  }

  /** Steps 2 and 3: sign with the next key and retire the old one (refused while clusters lag, unless forced). */
  async finish(clusters: readonly ClusterKeyFacts[], force: boolean, events: EventBus): Promise<KeySetStatus> {
    this.#refuseFixed();
    await this.reload();
    const before = keySetStatus(this.#state, clusters);
    const done = finishRotation(this.#state, clusters, { force, nowMs: (this.o.now ?? Date.now)() });
    await this.#store(done.state, events);
    this.o.log.warn(
      {
        version: done.state.set.version,
        currentKeyId: done.newKeyId,
        retiredKeyId: done.oldKeyId,
        forced: force && before.lagging.length > 0 ? before.lagging.map((c) => c.name) : undefined,
      },
      "hub key rotation finished: signing with the new key, the old one retired",
    );
    return this.status(clusters);
  }

  #refuseFixed(): void {
    if (this.#fixed) {
      throw new ConflictError(
        "hub key",
        this.#key.keyId,
        "comes from FLOTILLA_HUB_SIGNING_KEY_FILE, so the hub cannot rotate it; replace the file and every agent's bundle, or remove the setting to let the hub keep and rotate its keys",
      );
    }
  }

  async #store(state: HubKeyState, events: EventBus): Promise<void> {
    const stored = await this.o.store.putSealedKeySet(
      sealState(this.o.box, state),
      state.set.version,
      this.#state.set.version,
    );
    if (!stored) {
      await this.reload();
      throw new ConflictError(
        "hub key set",
        `v${this.#state.set.version}`,
        "another hub replica changed it at the same moment; look at 'flotilla hub rotate-key status' and try again",
      );
    }
    this.#take(state);
    await events.emit({
      type: "hub-keys",
      version: state.set.version,
      currentKeyId: state.set.currentKeyId,
      atMs: state.changedAtMs,
    });
  }

  #take(state: HubKeyState): void {
    checkKeyState(state);
    const was = this.#state.set;
    this.#state = state;
    this.#key = currentSigningKey(state);
    this.#ring = new KeyRing(publicKeysOf(state));
    this.o.metrics.hubKeySetVersion.set(state.set.version);
    if (was.currentKeyId !== state.set.currentKeyId) {
      this.o.log.info({ version: state.set.version, keyId: state.set.currentKeyId }, "hub now signs with a new key");
    }
    for (const l of this.#listeners) {
      try {
        l(state.set);
      } catch (err) {
        this.o.log.warn({ err }, "a hub key set listener failed");
      }
    }
  }
}

function sealState(box: SecretBox, state: HubKeyState): string {
  return box.seal(JSON.stringify(state), CONTEXT);
}

function openState(box: SecretBox, sealed: string): HubKeyState {
  const state = JSON.parse(box.open(sealed, CONTEXT)) as HubKeyState;
  checkKeyState(state);
  return state;
}
