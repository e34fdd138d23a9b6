import { randomBytes } from "node:crypto";
import {
  DESIRED_STATE,
  type DesiredStateInit,
  generateSigningKey,
  KeyRing,
  open,
  SourceType,
  seal,
} from "@flotilla/proto";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { ConflictError } from "../errors.js";
import { HubMetrics } from "../metrics.js";
import { SecretBox } from "../secrets/secretbox.js";
import type { EventBus, HubEvent } from "../status/events.js";
import type { SigningKeyStore } from "../store.js";
import { HubKeys } from "./hub-keys.js";
import type { ClusterKeyFacts } from "./rotation.js";

const log = pino({ level: "silent" });

/** The key set as one Redis hash would keep it, shared by the "replicas" of a test. */
class MemoryKeyStore implements SigningKeyStore {
  stored: { version: number; sealed: string } | undefined;
  async getSealedSigningKey(): Promise<string | undefined> {
    return undefined;
  }
  async setSealedSigningKeyIfAbsent(sealed: string): Promise<string> {
    return sealed;
  }
  async getSealedKeySet(): Promise<{ version: number; sealed: string } | undefined> {
    return this.stored;
  }
  async putSealedKeySet(sealed: string, version: number, expected: number | undefined): Promise<boolean> {
    if (this.stored?.version !== expected) return false;
    this.stored = { version, sealed };
    return true;
  }
}

/** Hands every emitted event to every subscriber at once, like the Redis stream does across replicas. */
class LoopbackBus implements EventBus {
  readonly emitted: HubEvent[] = [];
  readonly #listeners = new Set<(event: HubEvent, id: string) => void>();
  async emit(event: HubEvent): Promise<void> {
    await this.emitAll([event]);
  }
  async emitAll(events: readonly HubEvent[]): Promise<void> {
    for (const e of events) {
      this.emitted.push(e);
      for (const l of this.#listeners) l(e, String(this.emitted.length));
    }
  }
  subscribe(listener: (event: HubEvent, id: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  async nudge(): Promise<void> {}
  onNudge(): () => void {
    return () => {};
  }
  async close(): Promise<void> {}
}

const box = new SecretBox(randomBytes(32));
const ready = (version: number): ClusterKeyFacts[] => [{ name: "c1", state: "Ready", hubKeySetVersion: version }];

function desired(generation: number): DesiredStateInit {
  return {
    cluster: "c1",
    app: "web",
    generation,
    source: {
      repoUrl: "https://git.example/web.git",
      revision: "0123456789abcdef0123456789abcdef01234567",
      type: SourceType.SOURCE_TYPE_MANIFESTS,
    },
    issuedAtMs: 1,
  };
}

async function replica(store: MemoryKeyStore, first = generateSigningKey()): Promise<HubKeys> {
  return HubKeys.load({ store, box, metrics: new HubMetrics(), log }, first, false);
}

describe("HubKeys", () => {
  it("makes the set from the hub's key on first start; a second replica loads the same", async () => {
    const store = new MemoryKeyStore();
    const first = generateSigningKey();
    const one = await replica(store, first);
    const two = await replica(store, generateSigningKey());
    expect(one.keyId).toBe(first.keyId);
    expect(two.keyId).toBe(first.keyId);
    expect(store.stored?.version).toBe(0);
    expect(store.stored?.sealed).not.toContain("PRIVATE KEY");
  });

  it("signs with the current key through a rotation, and another replica follows on the event", async () => {
    const store = new MemoryKeyStore();
    const bus = new LoopbackBus();
    const leader = await replica(store);
    const other = await replica(store);
    other.follow(bus);
    const oldKeyId = leader.keyId;

    const started = await leader.start(ready(0), bus);
    expect(started.phase).toBe("announced");
    expect(leader.keyId).toBe(oldKeyId);
    expect(bus.emitted.at(-1)).toMatchObject({ type: "hub-keys", version: 1, currentKeyId: oldKeyId });
    await expect.poll(() => other.set.version).toBe(1);
    expect(other.ring.keyIds().sort()).toEqual(leader.ring.keyIds().sort());

    const signedOld = seal(DESIRED_STATE, desired(1), leader);
    const done = await leader.finish(ready(1), false, bus);
    expect(done.version).toBe(3);
    expect(leader.keyId).toBe(started.nextKeyId);
    await expect.poll(() => other.keyId).toBe(started.nextKeyId);
    const signedNew = seal(DESIRED_STATE, desired(2), other);
    expect(open(DESIRED_STATE, signedNew, new KeyRing([leader.publicKey])).keyId).toBe(started.nextKeyId);
    expect(() => open(DESIRED_STATE, signedOld, leader.ring)).toThrow(/not trusted/);
    expect(done.retiredKeyIds).toEqual([oldKeyId]);
    other.stop();
  });

  it("refuses a step another replica took first, and loads that one", async () => {
    const store = new MemoryKeyStore();
    const bus = new LoopbackBus();
    const one = await replica(store);
    const two = await replica(store);
    await one.start(ready(0), bus);
    // `two` missed the event: its start reloads first and finds the rotation under way.
    await expect(two.start(ready(0), bus)).rejects.toThrow(/rotation is under way/);
    expect(two.set.version).toBe(1);
  });

  it("refuses to finish while a cluster lags, and finishes when forced", async () => {
    const store = new MemoryKeyStore();
    const bus = new LoopbackBus();
    const hub = await replica(store);
    await hub.start(ready(0), bus);
    await expect(hub.finish(ready(0), false, bus)).rejects.toThrow(ConflictError);
    expect(hub.set.version).toBe(1);
    expect((await hub.finish(ready(0), true, bus)).version).toBe(3);
  });

  it("cannot rotate a key configured from a file", async () => {
    const fixed = await HubKeys.load(
      { store: new MemoryKeyStore(), box, metrics: new HubMetrics(), log },
      generateSigningKey(),
      true,
    );
    await expect(fixed.start(ready(0), new LoopbackBus())).rejects.toThrow(/FLOTILLA_HUB_SIGNING_KEY_FILE/);
  });

  it("keeps the key set's version in flotilla_hub_key_set_version", async () => {
    const metrics = new HubMetrics();
    const hub = await HubKeys.load({ store: new MemoryKeyStore(), box, metrics, log }, generateSigningKey(), false);
    await hub.start(ready(0), new LoopbackBus());
    expect(await metrics.registry.getSingleMetricAsString("flotilla_hub_key_set_version")).toMatch(
      /flotilla_hub_key_set_version 1$/m,
    );
  });
});
