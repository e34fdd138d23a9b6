/**
 * The hub signing keys this agent trusts. The bootstrap bundle names one; the hub announces its
 * key set (current + next, later without the old key) under `<cluster>._hub-keys` in the desired
 * bucket and inside its signed credentials answers.
 * A set is taken only from a message signed by a key already trusted and only when newer than
 * the one held (see `acceptKeySet` in @flotilla/proto). The held set is kept in a ConfigMap in the
 * agent's own namespace (beside the inventories), which outlives the pod: a rescheduled agent
 * (whose cache directory is an emptyDir) neither forgets the next key nor trusts a retired one
 * again. The file in the cache directory is only a copy, read when the cluster holds no set yet.
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
import type { KubeApi } from "./kube-client.js";
import type { Logger } from "./logger.js";
import type { KubeObject, Ref } from "./objects.js";

/** File name of the held key set inside the cache directory. */
export const SAVED_HUB_KEYS_FILE = "hub-keys.json";

/** Name of the ConfigMap, in the agent's namespace, that holds the held key set. */
export const HUB_KEYS_CONFIGMAP = "flotilla-hub-keys";
const HUB_KEYS_FIELD_MANAGER = "flotilla-agent";

/** Where the held key set outlives the pod: the seam between trust and the cluster. */
export interface HeldHubKeysStore {
  /** The held keys saved in the cluster; undefined when none are. Throws when the cluster cannot be read. */
  load(): Promise<HeldHubKeys | undefined>;
  save(held: HeldHubKeys): Promise<void>;
}

/** Checks saved keys read back from JSON; throws naming what is wrong. */
function parseHeld(text: string): HeldHubKeys {
  const saved = JSON.parse(text) as Partial<HeldHubKeys>;
  if (!saved.set || !Array.isArray(saved.retiredKeyIds)) throw new Error("not a saved hub key set");
  checkKeySet(saved.set);
  return { set: saved.set, retiredKeyIds: saved.retiredKeyIds.filter((id) => typeof id === "string") };
}

/** The held key set as the ConfigMap {@link HUB_KEYS_CONFIGMAP} in the agent's namespace. */
export class ConfigMapHubKeysStore implements HeldHubKeysStore {
  constructor(
    private readonly kube: Pick<KubeApi, "get" | "apply">,
    readonly namespace: string,
  ) {}

  #ref(): Ref {
    return { group: "", version: "v1", kind: "ConfigMap", namespace: this.namespace, name: HUB_KEYS_CONFIGMAP };
  }

  async load(): Promise<HeldHubKeys | undefined> {
    const cm = await this.kube.get(this.#ref());
    const text = (cm?.data as Record<string, unknown> | undefined)?.[SAVED_HUB_KEYS_FILE];
    if (typeof text !== "string") return undefined;
    try {
      return parseHeld(text);
    } catch (err) {
      throw new Error(
        `ConfigMap ${this.namespace}/${HUB_KEYS_CONFIGMAP} does not hold a valid hub key set (${(err as Error).message}); ` +
          "delete it to trust the bootstrap bundle's hub key again",
        { cause: err },
      );
    }
  }

  async save(held: HeldHubKeys): Promise<void> {
    // The namespace is the inventories' one, which the agent creates before its first apply.
    await this.kube.apply(
      { apiVersion: "v1", kind: "Namespace", metadata: { name: this.namespace } },
      { fieldManager: HUB_KEYS_FIELD_MANAGER },
    );
    const cm: KubeObject = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: HUB_KEYS_CONFIGMAP,
        namespace: this.namespace,
        labels: { "app.kubernetes.io/managed-by": "flotilla-agent" },
      },
      data: { [SAVED_HUB_KEYS_FILE]: `${JSON.stringify(held, null, 2)}\n` },
    };
    await this.kube.apply(cm, { fieldManager: HUB_KEYS_FIELD_MANAGER });
  }
}

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
    return parseHeld(text);
  } catch (err) {
    log.warn({ err: (err as Error).message, path }, "saved hub key set is unreadable; trusting the bundle's hub key");
    return undefined;
  }
}

export class HubTrust {
  #held: HeldHubKeys;
  #saving: Promise<void> = Promise.resolve();
  /** The last save in the cluster failed: the next set offered, even a stale one, saves again. */
  #clusterBehind = false;

  /**
   * Starts from the set saved in the cluster (the truth: it outlives the pod), or from the cache
   * file when the cluster holds none yet (an agent upgraded from a version that kept only the
   * file), and copies that into the cluster. Throws when the cluster cannot be read: trusting the
   * bundle's key instead could trust a retired key again.
   */
  static async open(
    ring: KeyRing,
    path: string,
    bundlePublicKeyPem: string,
    log: Logger,
    store: HeldHubKeysStore,
  ): Promise<HubTrust> {
    const fromCluster = await store.load();
    const trust = new HubTrust(ring, path, bundlePublicKeyPem, log, { store, saved: fromCluster ?? null });
    if (fromCluster !== trust.#held) trust.#saveToCluster(trust.#held);
    await trust.flush();
    return trust;
  }

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
    private readonly persist?: { store: HeldHubKeysStore; saved: HeldHubKeys | null },
  ) {
    const saved = persist?.saved ?? readSavedHubKeys(path, log);
    this.#held = startingHubKeys(saved, bundlePublicKeyPem);
    syncKeyRing(ring, this.#held.set);
  }

  /** Resolves when every set taken so far is saved in the cluster (or its save was logged as failed). */
  flush(): Promise<void> {
    return this.#saving;
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
    if (verdict.outcome === "stale") {
      if (this.#clusterBehind) this.#saveToCluster(this.#held);
      return false;
    }
    // Saved before the ring changes: a crash in between restarts on the new set, never the old.
    const held = heldAfter(this.#held, verdict);
    this.#save(held);
    this.#saveToCluster(held);
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

  /** Saves in the cluster in the order sets were taken; a failure is logged and the next set saved. */
  #saveToCluster(held: HeldHubKeys): void {
    const store = this.persist?.store;
    if (!store) return;
    this.#saving = this.#saving
      .then(() => store.save(held))
      .then(() => {
        this.#clusterBehind = false;
      })
      .catch((err: unknown) => {
        this.#clusterBehind = true;
        this.log.warn(
          { err: (err as Error).message, version: held.set.version },
          "could not save the hub key set in the cluster; saving it again with the hub's next announcement",
        );
      });
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
