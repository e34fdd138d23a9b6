/**
 * `Registry.apply` over in-memory fakes of our own store interfaces: Receiver documents through
 * a real Receivers (sealing with a real SecretBox, checking URLs with the netguard rules), and
 * bulk registration of Cluster documents.
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
  async replaceObject<K extends StoredKind>(kind: K, expected: RecordOf[K], next: RecordOf[K]): Promise<boolean> {
    if (JSON.stringify(this.records.get(`${kind}/${next.name}`)) !== JSON.stringify(expected)) return false;
    await this.putObject(kind, next);
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
  /** Event messages sent: one per emit or emitAll. */
  messages = 0;
  readonly nudges: string[] = [];
  async emit(event: HubEvent): Promise<void> {
    this.messages++;
    this.emitted.push(event);
  }
  async emitAll(events: readonly HubEvent[]): Promise<void> {
    this.messages++;
    this.emitted.push(...events);
  }
  subscribe(): () => void {
    return () => {};
  }
  async nudge(repo: string): Promise<void> {
    this.nudges.push(repo);
  }
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

function setup(clusterStatuses: ClusterStatusStore = statuses) {
  const objects = new MemoryObjects();
  const events = new RecordingEvents();
  const store = new MemoryReceivers();
  const box = new SecretBox(randomBytes(32));
  const receivers = new Receivers(store, box, STRICT_RULES, publicResolver);
  const registry = new Registry({
    objects,
    gitRules: STRICT_RULES,
    resolver: publicResolver,
    statuses: clusterStatuses,
    cleanup,
    box,
    events,
    hubKey: generateSigningKey(),
    agentNatsUrl: "nats://127.0.0.1:4222",
    receivers,
    log: pino({ level: "silent" }),
  });
  return { objects, store, receivers, registry, events };
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

describe("apply with Cluster documents", () => {
  /** Statuses written, and how many writes were in flight at most at once. */
  function recordingStatuses() {
    const written = new Map<string, string>();
    let inFlight = 0;
    let most = 0;
    const store: ClusterStatusStore = {
      getClusterStatus: unused,
      getClusterStatuses: unused,
      putClusterStatuses: unused,
      putClusterStatus: async (name, status) => {
        most = Math.max(most, ++inFlight);
        await new Promise((r) => setImmediate(r));
        inFlight--;
        written.set(name, status.state);
      },
    };
    return { store, written, most: () => most };
  }
  const clusterDoc = (name: string) =>
    `apiVersion: flotilla.dev/v1\nkind: Cluster\nmetadata: { name: ${name} }\nspec: { labels: { env: prod } }`;

  it("registers many new clusters together: a bundle each, in order, announced in one message", async () => {
    const status = recordingStatuses();
    const { registry, objects, events } = setup(status.store);
    const names = Array.from({ length: 45 }, (_, i) => `c-${String(i).padStart(2, "0")}`);
    const results = await registry.apply(names.map(clusterDoc).join("\n---\n"));
    expect(results.map((r) => [r.name, r.action, r.bootstrap?.cluster])).toEqual(names.map((n) => [n, "created", n]));
    // Each bundle carries its own cluster's agent key, and the stored record its public half.
    for (const r of results) {
      const stored = await objects.getObject("Cluster", r.name);
      expect(stored?.agentPublicKey).toBeDefined();
      expect(r.bootstrap?.agentSigningKey).toContain("PRIVATE KEY");
    }
    expect(new Set(results.map((r) => r.bootstrap?.agentSigningKey)).size).toBe(45);
    expect([...status.written.values()]).toEqual(names.map(() => "Pending"));
    expect(status.most()).toBeGreaterThan(1);
    expect(events.messages).toBe(1);
    expect(events.emitted.map((e) => (e.type === "registry" ? `${e.kind}/${e.name}/${e.action}` : e.type))).toEqual(
      names.map((n) => `Cluster/${n}/created`),
    );
    expect(events.nudges).toEqual(["*"]);
  });

  it("announces the clusters registered alongside one whose name was taken meanwhile, then names it", async () => {
    const status = recordingStatuses();
    const { registry, objects, events } = setup(status.store);
    const create = objects.createObject.bind(objects);
    // Another replica registers c-1 between the plan and the write.
    objects.createObject = async (kind, record) => (record.name === "c-1" ? false : create(kind, record));
    await expect(registry.apply(["c-0", "c-1", "c-2"].map(clusterDoc).join("\n---\n"))).rejects.toThrow(/c-1/);
    expect(events.emitted.map((e) => (e.type === "registry" ? e.name : e.type)).sort()).toEqual(["c-0", "c-2"]);
    expect([...status.written.keys()].sort()).toEqual(["c-0", "c-2"]);
  });
});
