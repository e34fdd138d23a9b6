import {
  DESIRED_STATE,
  type DesiredStateInit,
  generateSigningKey,
  HUB_KEY_SET,
  hubKeySetKey,
  KeyRing,
  open,
  REPORT,
  SourceType,
  seal,
  signPayload,
  stateKey,
  v1,
} from "@flotilla/proto";
import type { KvEntry } from "nats";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { desiredFingerprint } from "../desired/index.js";
import { HubMetrics } from "../metrics.js";
import type { EventBus, HubEvent } from "../status/events.js";
import type { DesiredRecord, RecordOf, StoredKind } from "../store.js";
import { type AnnouncerOptions, KeySetAnnouncer } from "./announcer.js";
import {
  currentSigningKey,
  finishRotation,
  initialKeyState,
  publicKeysOf,
  retiredPublicKeysOf,
  startRotation,
} from "./rotation.js";

const log = pino({ level: "silent" });
const oldKey = generateSigningKey();
const newKey = generateSigningKey();
const started = startRotation(initialKeyState(oldKey, 1), newKey, 2);
const finished = finishRotation(started, [{ name: "c1", state: "Ready", hubKeySetVersion: 1 }], {
  force: false,
  nowMs: 3,
}).state;

/** The hub's keys after a finished rotation, as the announcer reads them. */
const keys: AnnouncerOptions["keys"] = {
  set: finished.set,
  ...currentSigningKey(finished),
  ring: new KeyRing(publicKeysOf(finished)),
  retiredRing: new KeyRing(retiredPublicKeysOf(finished)),
  onChange: () => () => {},
};

/** The desired bucket: one value per key with a revision, compare-and-set on update. */
class MemoryKv {
  readonly values = new Map<string, { value: Uint8Array; revision: number }>();
  #revision = 0;
  async get(key: string): Promise<KvEntry | null> {
    const v = this.values.get(key);
    return v ? ({ key, operation: "PUT", value: v.value, revision: v.revision } as KvEntry) : null;
  }
  async put(key: string, value: Uint8Array): Promise<number> {
    this.values.set(key, { value, revision: ++this.#revision });
    return this.#revision;
  }
  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    if (this.values.get(key)?.revision !== revision) throw new Error(`wrong last sequence for ${key}`);
    return this.put(key, value);
  }
}

class Bus implements EventBus {
  readonly #listeners = new Set<(event: HubEvent, id: string) => void>();
  async emit(event: HubEvent): Promise<void> {
    for (const l of this.#listeners) l(event, "1");
  }
  async emitAll(events: readonly HubEvent[]): Promise<void> {
    for (const e of events) await this.emit(e);
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

function desired(app: string): DesiredStateInit {
  return {
    cluster: "c1",
    app,
    generation: 4,
    source: {
      repoUrl: "https://git.example/web.git",
      revision: "0123456789abcdef0123456789abcdef01234567",
      type: SourceType.SOURCE_TYPE_MANIFESTS,
    },
    issuedAtMs: 1,
  };
}

function recordOf(app: string): DesiredRecord {
  const state = v1.DesiredState.decode(v1.Envelope.decode(seal(DESIRED_STATE, desired(app), oldKey)).payload);
  return {
    cluster: "c1",
    app,
    generation: 4,
    environment: "prod",
    repo: "web",
    branch: "main",
    revision: "0123456789abcdef0123456789abcdef01234567",
    path: ".",
    rolloutId: "",
    fingerprint: desiredFingerprint(state),
    publishedAtMs: 1,
  };
}

function setup(apps: string[], clusters: string[] = ["c1"]) {
  const kv = new MemoryKv();
  const events = new Bus();
  const lists = { count: 0 };
  const announcer = new KeySetAnnouncer({
    keys,
    objects: {
      async listObjects<K extends StoredKind>(_kind: K): Promise<RecordOf[K][]> {
        lists.count++;
        return clusters.map((name) => ({ name })) as unknown as RecordOf[K][];
      },
    },
    desired: { listDesired: async () => apps.map(recordOf) },
    kv,
    events,
    lease: () => ({ holder: "r1", token: 1 }),
    metrics: new HubMetrics(),
    log,
  });
  return { kv, events, announcer, lists };
}

const signerOf = (kv: MemoryKv, app: string) =>
  v1.Envelope.decode(kv.values.get(stateKey("c1", app))?.value ?? new Uint8Array()).keyId;

describe("KeySetAnnouncer re-signing", () => {
  it("re-signs only desired states the retired key really signed, and only as desired states", async () => {
    const { kv, announcer } = setup(["web", "typed", "forged"]);
    await kv.put(stateKey("c1", "web"), seal(DESIRED_STATE, desired("web"), oldKey));
    // A value of another payload type, validly signed by the retired key for that type.
    const payload = v1.DesiredState.encode(v1.DesiredState.fromObject(desired("typed"))).finish();
    await kv.put(
      stateKey("c1", "typed"),
      v1.Envelope.encode({
        type: REPORT.type,
        payload,
        keyId: oldKey.keyId,
        signature: signPayload(oldKey, REPORT.type, payload),
      }).finish(),
    );
    // A desired state naming the retired key, signed by another key.
    const forger = generateSigningKey();
    const forgedPayload = v1.DesiredState.encode(v1.DesiredState.fromObject(desired("forged"))).finish();
    await kv.put(
      stateKey("c1", "forged"),
      v1.Envelope.encode({
        type: DESIRED_STATE.type,
        payload: forgedPayload,
        keyId: oldKey.keyId,
        signature: signPayload({ ...forger, keyId: oldKey.keyId }, DESIRED_STATE.type, forgedPayload),
      }).finish(),
    );
    announcer.start();
    await expect.poll(() => kv.values.has(hubKeySetKey("c1"))).toBe(true);
    await announcer.stop();

    expect(signerOf(kv, "web")).toBe(newKey.keyId);
    expect(
      open(DESIRED_STATE, kv.values.get(stateKey("c1", "web"))?.value ?? new Uint8Array(), keys.ring).message.app,
    ).toBe("web");
    expect(signerOf(kv, "typed")).toBe(oldKey.keyId);
    expect(signerOf(kv, "forged")).toBe(oldKey.keyId);
  });

  it("re-signs for a cluster that already holds the set, and again after the cluster is registered anew", async () => {
    const { kv, events, announcer } = setup(["web"]);
    await kv.put(hubKeySetKey("c1"), seal(HUB_KEY_SET, finished.set, keys));
    await kv.put(stateKey("c1", "web"), seal(DESIRED_STATE, desired("web"), oldKey));
    announcer.start();
    await expect.poll(() => signerOf(kv, "web")).toBe(newKey.keyId);

    // The cluster is deleted and registered again; a state the retired key signed turns up.
    await kv.put(stateKey("c1", "web"), seal(DESIRED_STATE, desired("web"), oldKey));
    await events.emit({ type: "registry", kind: "Cluster", name: "c1", action: "deleted", atMs: 4 });
    await events.emit({ type: "registry", kind: "Cluster", name: "c1", action: "created", atMs: 5 });
    await expect.poll(() => signerOf(kv, "web")).toBe(newKey.keyId);
    await announcer.stop();
  });

  it("announces to a cluster registered later without reading the whole fleet again", async () => {
    const clusters = ["c1"];
    const { kv, events, announcer, lists } = setup([], clusters);
    announcer.start();
    await expect.poll(() => kv.values.has(hubKeySetKey("c1"))).toBe(true);
    const listsAfterStart = lists.count;

    clusters.push("c2");
    await events.emit({ type: "registry", kind: "Cluster", name: "c2", action: "created", atMs: 6 });
    await expect.poll(() => kv.values.has(hubKeySetKey("c2"))).toBe(true);
    expect(lists.count).toBe(listsAfterStart);
    expect(
      open(HUB_KEY_SET, kv.values.get(hubKeySetKey("c2"))?.value ?? new Uint8Array(), keys.ring).message.version,
    ).toBe(finished.set.version);
    await announcer.stop();
  });
});
