/**
 * Tells every agent the hub's key set: the leader keeps it under `<cluster>._hub-keys` in the
 * desired bucket, signed by the current key, for every registered cluster. Agents watch their
 * own keys there already (whatever their credentials' expiry), and a cluster offline meanwhile
 * finds the latest set, with the bucket's history of the key before it, when it comes back.
 *
 * The set is written when the leader starts (for every cluster whose key holds an older one),
 * at once when this replica learns of a new set, when a cluster is registered, and again every
 * {@link ANNOUNCE_SWEEP_MS} for anything a failed write left behind.
 *
 * Before a cluster is told a set without a key, every desired state of that cluster still signed
 * by a key outside the set is re-signed with the current key: the same payload bytes, the same
 * generation, which the agent takes without applying anything (so a rollout in flight is not
 * disturbed, and an agent that restarts later finds every state it runs signed by a key it
 * trusts). Only desired-state values whose signature the retired key's public key verifies and
 * whose generation and content are the hub's own record are re-signed. Each term re-signs every
 * cluster once per set version, even one that already holds the set: a leader before it, with a
 * key state up to one reload old, may have published with the retired key after the set.
 */
import {
  DESIRED_STATE,
  type DesiredState,
  HUB_KEY_SET,
  type HubKeySetData,
  hubKeySetKey,
  keysOf,
  open,
  type SigningKey,
  seal,
  signPayload,
  stateKey,
  v1,
} from "@flotilla/proto";
import type { KV } from "nats";
import type { Logger } from "pino";
import { desiredFingerprint } from "../desired/index.js";
import { NotLeaderError } from "../errors.js";
import type { HubMetrics } from "../metrics.js";
import type { EventBus } from "../status/events.js";
import type { DesiredStore, Lease, ObjectReader } from "../store.js";
import type { HubKeys } from "./hub-keys.js";

/** How often the leader checks every cluster's key again. */
export const ANNOUNCE_SWEEP_MS = 30_000;

export interface AnnouncerOptions {
  keys: Pick<HubKeys, "set" | "keyId" | "privateKey" | "publicKey" | "ring" | "retiredRing" | "onChange">;
  objects: Pick<ObjectReader, "listObjects">;
  /** The hub's records of what it published, to re-sign exactly those. */
  desired: Pick<DesiredStore, "listDesired">;
  kv: Pick<KV, "get" | "put" | "update">;
  events: EventBus;
  lease: () => Lease | undefined;
  metrics: HubMetrics;
  log: Logger;
}

export class KeySetAnnouncer {
  /** Version last written (and re-signed for) per cluster this term. */
  readonly #written = new Map<string, number>();
  #running: Promise<void> | undefined;
  #again = false;
  /**
   * The clusters the next pass looks at: the ones registered since the last pass, or every
   * cluster (at start, on a set change, at the sweep). A registration burst then costs a pass
   * over the new names, not a read of the whole fleet per burst.
   */
  #due: Set<string> | "all" = "all";
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void)[] = [];

  constructor(private readonly o: AnnouncerOptions) {}

  start(): void {
    this.#unsubscribe.push(this.o.keys.onChange(() => this.announce()));
    this.#unsubscribe.push(
      this.o.events.subscribe((event) => {
        if (event.type !== "registry" || event.kind !== "Cluster") return;
        if (event.action !== "created" && event.action !== "deleted") return;
        // A cluster deleted and registered again under its name starts from nothing.
        this.#written.delete(event.name);
        if (event.action === "created") this.announce(event.name);
        else if (this.#due !== "all") this.#due.delete(event.name);
      }),
    );
    this.#timer = setInterval(() => this.announce(), ANNOUNCE_SWEEP_MS);
    this.#timer.unref();
    this.announce();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    for (const u of this.#unsubscribe) u();
    await this.#running;
  }

  /**
   * Writes the set wherever it is missing or older — on `cluster` only when named, else on every
   * cluster; one pass at a time, another after it if asked meanwhile.
   */
  announce(cluster?: string): void {
    if (this.#stopped) return;
    if (cluster === undefined) this.#due = "all";
    else if (this.#due !== "all") this.#due.add(cluster);
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#pass()
      .catch((err: unknown) => {
        if (err instanceof NotLeaderError) return;
        this.o.log.warn({ err }, "could not announce the hub key set; trying again shortly");
      })
      .finally(() => {
        this.#running = undefined;
        if (this.#again) {
          this.#again = false;
          this.announce();
        }
      });
  }

  async #pass(): Promise<void> {
    const set = this.o.keys.set;
    // One key for the whole pass, the one the set names: a set that changes meanwhile gets a pass of its own.
    const signer: SigningKey = {
      keyId: this.o.keys.keyId,
      privateKey: this.o.keys.privateKey,
      publicKey: this.o.keys.publicKey,
    };
    if (signer.keyId !== set.currentKeyId) return;
    const due = this.#due;
    this.#due = new Set();
    const names = due === "all" ? (await this.o.objects.listObjects("Cluster")).map((c) => c.name) : [...due];
    // The set is signed by the key it names as current: agents that hold the set before it trust that key.
    const bytes = seal(HUB_KEY_SET, set, signer);
    let wrote = 0;
    let resigned = 0;
    for (const name of names) {
      if (this.#stopped) return;
      if ((this.#written.get(name) ?? -1) >= set.version) continue;
      // Re-signed even when the cluster holds the set already (see the module comment).
      resigned += await this.#resign(name, set, signer);
      if (await this.#holds(name, set)) {
        this.#written.set(name, set.version);
        continue;
      }
      this.#fence();
      await this.o.kv.put(hubKeySetKey(name), bytes);
      this.#written.set(name, set.version);
      wrote++;
    }
    if (wrote > 0) {
      this.o.metrics.hubKeySetAnnounced.inc(wrote);
      this.o.log.info(
        { version: set.version, currentKeyId: set.currentKeyId, clusters: wrote, resignedStates: resigned },
        "hub key set announced to clusters",
      );
    }
  }

  #fence(): void {
    if (!this.o.lease()) throw new NotLeaderError("only the leader writes the hub key set");
  }

  /**
   * Re-signs the cluster's desired states signed by a key outside `set`; returns how many. A value
   * the publisher replaced meanwhile (the compare-and-set fails) is already signed by the current key.
   */
  async #resign(cluster: string, set: HubKeySetData, signer: SigningKey): Promise<number> {
    const retired = this.o.keys.retiredRing;
    // Only a retired key's signature is re-signed: with none kept, there is nothing to do.
    if (retired.size === 0) return 0;
    const trusted = keysOf(set);
    let resigned = 0;
    for (const record of await this.o.desired.listDesired({ cluster })) {
      const key = stateKey(record.cluster, record.app);
      const entry = await this.o.kv.get(key);
      if (entry?.operation !== "PUT" || entry.value.length === 0) continue;
      let envelope: ReturnType<typeof v1.Envelope.decode>;
      let state: DesiredState;
      try {
        envelope = v1.Envelope.decode(entry.value);
        if (trusted.has(envelope.keyId)) continue;
        if (envelope.type !== DESIRED_STATE.type)
          throw new Error(`payload type ${envelope.type} is not a desired state`);
        // The old signature must be a retired key's own: the new one vouches for these very bytes.
        retired.verify(envelope.type, envelope.keyId, envelope.payload, envelope.signature);
        state = v1.DesiredState.decode(envelope.payload);
      } catch (err) {
        this.o.log.warn(
          { cluster, app: record.app, err: (err as Error).message },
          "a desired state not signed by the current key set is not a retired key's valid desired state; not re-signing it",
        );
        continue;
      }
      if (Number(state.generation) !== record.generation || desiredFingerprint(state) !== record.fingerprint) {
        this.o.log.warn(
          { cluster, app: record.app, keyId: envelope.keyId },
          "a desired state signed by a retired key is not the one the hub recorded; not re-signing it",
        );
        continue;
      }
      const bytes = v1.Envelope.encode({
        type: envelope.type,
        payload: envelope.payload,
        keyId: signer.keyId,
        signature: signPayload(signer, envelope.type, envelope.payload),
      }).finish();
      this.#fence();
      try {
        await this.o.kv.update(key, bytes, entry.revision);
        resigned++;
      } catch (err) {
        this.o.log.debug({ err, cluster, app: record.app }, "desired state changed while re-signing it");
      }
    }
    return resigned;
  }

  /** Whether the cluster's key already holds `set`'s version (or a newer one) written by one of the set's keys. */
  async #holds(cluster: string, set: HubKeySetData): Promise<boolean> {
    const entry = await this.o.kv.get(hubKeySetKey(cluster));
    if (entry?.operation !== "PUT" || entry.value.length === 0) return false;
    try {
      return Number(open(HUB_KEY_SET, entry.value, this.o.keys.ring).message.version) >= set.version;
    } catch {
      return false;
    }
  }
}
