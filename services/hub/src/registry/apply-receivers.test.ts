/**
 * Receiver documents through `Registry.apply`: a real Receivers (sealing with a real SecretBox,
 * checking URLs with the netguard rules) over in-memory fakes of our own store interfaces.
 */
import { randomBytes } from "node:crypto";
import type { Delivery, HubEvent } from "@flotilla/api";
import { STRICT_RULES } from "@flotilla/netguard";
import { generateSigningKey } from "@flotilla/proto";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.js";
import { Receivers } from "../notify/receivers.js";
import { SecretBox } from "../secrets/secretbox.js";
import type { EventBus } from "../status/events.js";
import type {
  ClusterCleanup,
  ClusterStatusStore,
  ObjectStore,
  ReceiverRecord,
  ReceiverStore,
  RecordOf,
  StoredKind,
} from "../store.js";
import { Registry } from "./registry.js";

class MemoryObjects implements ObjectStore {
  readonly records = new Map<string, RecordOf[StoredKind]>();
  writes = 0;
  async getObject<K extends StoredKind>(kind: K, name: string): Promise<RecordOf[K] | undefined> {
    return this.records.get(`${kind}/${name}`) as RecordOf[K] | undefined;
  }
  async listObjects<K extends StoredKind>(kind: K): Promise<RecordOf[K][]> {
    return [...this.records.entries()].filter(([k]) => k.startsWith(`${kind}/`)).map(([, r]) => r as RecordOf[K]);
  }
  async getObjects<K extends StoredKind>(kind: K, names: readonly string[]): Promise<Map<string, RecordOf[K]>> {
    const found = new Map<string, RecordOf[K]>();
    for (const n of names) {
      const r = await this.getObject(kind, n);
      if (r) found.set(n, r);
    }
    return found;
  }
  async listNames(kind: StoredKind): Promise<string[]> {
    return (await this.listObjects(kind)).map((r) => r.name);
  }
  async createObject<K extends StoredKind>(kind: K, record: RecordOf[K]): Promise<boolean> {
    if (this.records.has(`${kind}/${record.name}`)) return false;
    await this.putObject(kind, record);
    return true;
  }
  async putObject<K extends StoredKind>(kind: K, record: RecordOf[K]): Promise<void> {
    this.writes++;
    this.records.set(`${kind}/${record.name}`, record);
  }
  async deleteObject(kind: StoredKind, name: string): Promise<boolean> {
    return this.records.delete(`${kind}/${name}`);
  }
}

class MemoryReceivers implements ReceiverStore {
  readonly records = new Map<string, ReceiverRecord>();
  writes = 0;
  async putReceiver(record: ReceiverRecord): Promise<boolean> {
    this.writes++;
    const created = !this.records.has(record.name);
    this.records.set(record.name, record);
    return created;
  }
  async getReceiver(name: string): Promise<ReceiverRecord | undefined> {
    return this.records.get(name);
  }
  async listReceivers(): Promise<ReceiverRecord[]> {
    return [...this.records.values()];
  }
  async deleteReceiver(name: string): Promise<boolean> {
    return this.records.delete(name);
  }
  async appendDelivery(_delivery: Omit<Delivery, "id">): Promise<string> {
    throw new Error("not used by apply");
  }
  async listDeliveries(_receiver: string, _limit: number): Promise<Delivery[]> {
    throw new Error("not used by apply");
  }
}

class RecordingEvents implements EventBus {
  readonly emitted: HubEvent[] = [];
  async emit(event: HubEvent): Promise<void> {
    this.emitted.push(event);
  }
  async emitAll(events: readonly HubEvent[]): Promise<void> {
    this.emitted.push(...events);
  }
  subscribe(): () => void {
    return () => {};
  }
  async nudge(): Promise<void> {}
  onNudge(): () => void {
    return () => {};
  }
  async close(): Promise<void> {}
}

const unused = (): never => {
  throw new Error("not used by these applies");
};
const statuses: ClusterStatusStore = {
  getClusterStatus: unused,
  getClusterStatuses: unused,
  putClusterStatus: unused,
  putClusterStatuses: unused,
};
const cleanup: ClusterCleanup = { forgetCluster: unused };

/** A public address for every name: the URL rules decide on the URL alone. */
const publicResolver = { lookup: async () => ["93.184.216.34"] };

function setup() {
  const objects = new MemoryObjects();
  const store = new MemoryReceivers();
  const box = new SecretBox(randomBytes(32));
  const receivers = new Receivers(store, box, STRICT_RULES, publicResolver);
  const registry = new Registry({
    objects,
    gitRules: STRICT_RULES,
    resolver: publicResolver,
    statuses,
    cleanup,
    box,
    events: new RecordingEvents(),
    hubKey: generateSigningKey(),
    agentNatsUrl: "nats://127.0.0.1:4222",
    receivers,
    log: pino({ level: "silent" }),
  });
  return { objects, store, receivers, registry };
}

const SECRET = "a-signing-key-of-32-characters!!";
const URL_A = "https://hooks.example.com/services/T000/B000/xyz";

const receiverDoc = (spec: string, name = "audit") =>
  `apiVersion: flotilla.dev/v1\nkind: Receiver\nmetadata: { name: ${name} }\nspec:\n${spec}`;

async function refusal(p: Promise<unknown>): Promise<ValidationError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error("expected a ValidationError");
}

describe("apply with Receiver documents", () => {
  it("creates a receiver, sealing its URL and secret", async () => {
    const { registry, store, receivers } = setup();
    const results = await registry.apply(
      receiverDoc(`  url: ${URL_A}\n  secret: ${SECRET}\n  events: [rollout-failed]\n  teams: [web]\n`),
    );
    expect(results).toEqual([{ index: 1, kind: "Receiver", name: "audit", action: "created" }]);
    const record = store.records.get("audit");
    expect(record?.sealed).not.toContain(SECRET);
    expect(record?.sealed).not.toContain("xyz");
    expect(await receivers.get("audit")).toEqual({
      name: "audit",
      type: "webhook",
      urlOrigin: "https://hooks.example.com",
      hasSecret: true,
      events: ["rollout-failed"],
      teams: ["web"],
    });
    expect(await receivers.spec("audit")).toEqual({
      type: "webhook",
      url: URL_A,
      secret: SECRET,
      events: ["rollout-failed"],
      teams: ["web"],
    });
  });

  it("reports the same document unchanged, and one without URL and secret too, writing nothing", async () => {
    const { registry, store } = setup();
    const full = receiverDoc(`  url: ${URL_A}\n  secret: ${SECRET}\n  events: [rollout-failed]\n`);
    await registry.apply(full);
    const writes = store.writes;
    expect((await registry.apply(full))[0]?.action).toBe("unchanged");
    // What `receiver get -o yaml` prints: no URL, no secret.
    const shown = receiverDoc("  type: webhook\n  events: [rollout-failed]\n");
    expect((await registry.apply(shown))[0]?.action).toBe("unchanged");
    expect(store.writes).toBe(writes);
  });

  it("configures a changed route and keeps the stored URL and secret when the document leaves them out", async () => {
    const { registry, receivers } = setup();
    await registry.apply(receiverDoc(`  url: ${URL_A}\n  secret: ${SECRET}\n`));
    const results = await registry.apply(receiverDoc("  events: [cluster-offline, drift-detected]\n"));
    expect(results[0]?.action).toBe("configured");
    expect(await receivers.spec("audit")).toEqual({
      type: "webhook",
      url: URL_A,
      secret: SECRET,
      events: ["cluster-offline", "drift-detected"],
    });
  });

  it("replaces the URL and secret a document gives", async () => {
    const { registry, receivers } = setup();
    await registry.apply(receiverDoc(`  url: ${URL_A}\n  secret: ${SECRET}\n`));
    const other = "https://other.example.org/hook";
    const results = await registry.apply(receiverDoc(`  url: ${other}\n  secret: ${SECRET}-rotated\n`));
    expect(results[0]?.action).toBe("configured");
    expect(await receivers.spec("audit")).toEqual({ type: "webhook", url: other, secret: `${SECRET}-rotated` });
  });

  it("refuses a URL the address rules refuse, naming the document, and writes nothing of the file", async () => {
    const { registry, store, objects } = setup();
    const file = [
      "apiVersion: flotilla.dev/v1\nkind: Team\nmetadata: { name: web }\n",
      receiverDoc(`  url: ${URL_A}\n  secret: ${SECRET}\n`, "good"),
      receiverDoc(`  url: http://127.0.0.1:9/hook/secret-path\n  secret: ${SECRET}\n`, "bad"),
    ].join("---\n");
    const err = await refusal(registry.apply(file));
    expect(err.field).toBe("spec.url");
    expect(err.message).toContain('document 3 (Receiver "bad")');
    expect(err.message).toContain("http://127.0.0.1:9");
    expect(err.message).not.toContain("secret-path");
    expect(store.writes).toBe(0);
    expect(objects.writes).toBe(0);
  });

  it("refuses a new receiver without a URL, or a webhook without a secret, saying what to add", async () => {
    const { registry, store } = setup();
    const noUrl = await refusal(registry.apply(receiverDoc(`  secret: ${SECRET}\n`)));
    expect(noUrl.field).toBe("spec.url");
    expect(noUrl.message).toContain('document 1 (Receiver "audit")');
    expect(noUrl.message).toContain("add spec.url");
    const noSecret = await refusal(registry.apply(receiverDoc(`  url: ${URL_A}\n`)));
    expect(noSecret.field).toBe("spec.secret");
    expect(noSecret.message).toContain("add spec.secret");
    // A Slack receiver signs nothing, so it needs no secret.
    expect((await registry.apply(receiverDoc(`  type: slack\n  url: ${URL_A}\n`)))[0]?.action).toBe("created");
    expect(store.writes).toBe(1);
  });

  it("refuses what the receiver route refuses: an unknown event, an unknown field", async () => {
    const { registry } = setup();
    const badEvent = await refusal(
      registry.apply(receiverDoc(`  url: ${URL_A}\n  secret: ${SECRET}\n  events: [x]\n`)),
    );
    expect(badEvent.field).toBe("spec.events.0");
    const extra = await refusal(registry.apply(receiverDoc(`  url: ${URL_A}\n  secret: ${SECRET}\n  hmac: y\n`)));
    expect(extra.message).toContain('document 1 (Receiver "audit")');
  });
});
