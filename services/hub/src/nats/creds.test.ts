import { CREDENTIALS_REQUEST, generateSigningKey, publicKeyToPem, type SigningKey, seal } from "@flotilla/proto";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { HubMetrics } from "../metrics.js";
import type { ClusterCredentialIssuer, MintedCredentials } from "../registry/credentials.js";
import type { ClusterRecord, ObjectStore, RecordOf, StoredKind } from "../store.js";
import { AnswerQueue, CredsResponder, type ShedReason } from "./creds.js";
import type { StatusGrant, StatusGrants } from "./grants.js";

const agentKey = generateSigningKey();
const USER = "UOLD";

/** Clusters in memory; only what the responder uses. */
class Clusters implements Pick<ObjectStore, "getObject" | "putObject"> {
  readonly records = new Map<string, ClusterRecord>();
  async getObject<K extends StoredKind>(kind: K, name: string): Promise<RecordOf[K] | undefined> {
    // Only clusters are kept: RecordOf["Cluster"] is ClusterRecord.
    return kind === "Cluster" ? (this.records.get(name) as RecordOf[K] | undefined) : undefined;
  }
  async putObject<K extends StoredKind>(kind: K, record: RecordOf[K]): Promise<void> {
    if (kind === "Cluster") this.records.set(record.name, record as ClusterRecord);
  }
}

class Issuer implements ClusterCredentialIssuer {
  readonly revoked: string[] = [];
  /** The apps each renewal granted, in order. */
  readonly granted: string[][] = [];
  async mint(): Promise<MintedCredentials> {
    throw new Error("not used");
  }
  async renew(cluster: string, user: string, apps: readonly string[]): Promise<string> {
    this.granted.push([...apps]);
    return `jwt(${cluster},${user})`;
  }
  async revoke(_cluster: string, user: string): Promise<void> {
    this.revoked.push(user);
  }
}

/** Cluster a is assigned web and api. */
class Grants implements StatusGrants {
  readonly assigned = ["api", "web"];
  async grantFor(_cluster: string, asked: readonly string[] = []): Promise<StatusGrant> {
    return { apps: this.assigned, notAssigned: asked.filter((a) => !this.assigned.includes(a)) };
  }
}

function setup(record: Partial<ClusterRecord> = {}) {
  const clusters = new Clusters();
  clusters.records.set("a", {
    name: "a",
    labels: {},
    agentPublicKey: publicKeyToPem(agentKey.publicKey),
    natsUserPublicKey: USER,
    createdAtMs: 0,
    ...record,
  });
  const issuer = new Issuer();
  const metrics = new HubMetrics();
  const responder = new CredsResponder({
    // The responder reads and writes clusters only.
    objects: clusters as unknown as ObjectStore,
    issuer,
    grants: new Grants(),
    hubKey: generateSigningKey(),
    metrics,
    log: pino({ level: "silent" }),
  });
  return { clusters, issuer, responder, metrics };
}

const request = (user: string, key: SigningKey = agentKey, cluster = "a", apps: string[] = []) =>
  seal(CREDENTIALS_REQUEST, { cluster, userPublicKey: user, sentAtMs: 1, apps }, key);

describe("CredsResponder.decide", () => {
  it.each([
    ["the cluster's own user", "a", request(USER), "renewed", ""],
    ["another key", "a", request(USER, generateSigningKey()), "signature_invalid", "does not verify"],
    ["another user", "a", request("UOTHER"), "unknown_user", "is not cluster a's NATS user"],
    ["an unregistered cluster", "b", request(USER, agentKey, "b"), "unknown_cluster", "not registered"],
    ["a request naming another cluster", "a", request(USER, agentKey, "b"), "cluster_mismatch", "another cluster"],
  ])("answers %s: %s", async (_what, cluster, data, result, error) => {
    const { responder } = setup();
    const d = await responder.decide(cluster, data);
    expect(d.result).toBe(result);
    expect(d.response.error ?? "").toContain(error);
    expect(d.response.jwt ?? "").toBe(error ? "" : `jwt(a,${USER})`);
  });

  it("rotates: the current user is asked for a new key, the new one is recorded and the old revoked", async () => {
    const { responder, clusters } = setup({ natsRotateRequested: true });
    const asked = await responder.decide("a", request(USER));
    expect(asked).toMatchObject({ result: "rotate_asked", response: { rotate: true } });
    const rotated = await responder.decide("a", request("UNEW"));
    expect(rotated).toMatchObject({ result: "rotated", revoke: USER, response: { jwt: "jwt(a,UNEW)" } });
    const record = clusters.records.get("a");
    expect(record?.natsUserPublicKey).toBe("UNEW");
    expect(record?.natsRotateRequested).toBeUndefined();
    // Rotated: the old user is now a stranger.
    expect((await responder.decide("a", request(USER))).result).toBe("unknown_user");
  });

  it("grants the cluster's assigned apps on every renewal and rotation, whatever the agent asks for", async () => {
    const { responder, issuer } = setup();
    const asked = await responder.decide("a", request(USER, agentKey, "a", ["web", "db", "web"]));
    expect(asked).toMatchObject({
      result: "renewed",
      grant: { apps: ["api", "web"], asked: ["db", "web"], notAssigned: ["db"] },
    });
    const odd = await responder.decide("a", request(USER, agentKey, "a", ["Not.A.Name", "web"]));
    expect(odd.grant?.asked).toEqual(["web"]);
    const plain = await responder.decide("a", request(USER));
    expect(plain.grant).toMatchObject({ apps: ["api", "web"], asked: [], notAssigned: [] });
    const { responder: rotating, issuer: rotatingIssuer } = setup({ natsRotateRequested: true });
    const rotated = await rotating.decide("a", request("UNEW", agentKey, "a", ["web"]));
    expect(rotated).toMatchObject({ result: "rotated", grant: { apps: ["api", "web"], notAssigned: [] } });
    expect(issuer.granted).toEqual([
      ["api", "web"],
      ["api", "web"],
      ["api", "web"],
    ]);
    expect(rotatingIssuer.granted).toEqual([["api", "web"]]);
  });

  it("grants nothing to a refused request", async () => {
    const { responder, issuer } = setup();
    const refused = await responder.decide("a", request("UOTHER", agentKey, "a", ["web"]));
    expect(refused.grant).toBeUndefined();
    expect(issuer.granted).toEqual([]);
  });
});

describe("AnswerQueue", () => {
  it("works on at most `limit` items at once and sheds the ones that waited too long", async () => {
    let now = 0;
    const started: number[] = [];
    const shed: number[] = [];
    const finish = new Map<number, () => void>();
    const queue = new AnswerQueue<number>({
      limit: 2,
      maxWaitMs: 100,
      maxWaiting: 100,
      key: String,
      now: () => now,
      work: (n) =>
        new Promise<void>((resolve) => {
          started.push(n);
          finish.set(n, resolve);
        }),
      shed: (n) => shed.push(n),
    });
    for (const n of [1, 2, 3, 4]) queue.push(n);
    expect(started).toEqual([1, 2]);
    expect(queue.waiting).toBe(2);
    finish.get(1)?.();
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([1, 2, 3]);
    // 4 waited past the limit by the time 2 finishes: nobody waits for its answer any more.
    now = 101;
    finish.get(2)?.();
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([1, 2, 3]);
    expect(shed).toEqual([4]);
    queue.push(5);
    finish.get(3)?.();
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([1, 2, 3, 5]);
  });

  it("keeps one waiting item per key, the newest at the back, and sheds new keys past maxWaiting", async () => {
    const started: string[] = [];
    const shed: [string, ShedReason][] = [];
    const finish: (() => void)[] = [];
    const queue = new AnswerQueue<string>({
      limit: 1,
      maxWaitMs: 1_000,
      maxWaiting: 3,
      key: (s) => s.split("#")[0] ?? s,
      now: () => 0,
      work: (s) =>
        new Promise<void>((resolve) => {
          started.push(s);
          finish.push(resolve);
        }),
      shed: (s, reason) => shed.push([s, reason]),
    });
    queue.push("busy#1");
    // A flood on one subject holds one place; the others still get theirs.
    for (let i = 1; i <= 1_000; i++) queue.push(`flood#${i}`);
    queue.push("b#1");
    queue.push("c#1");
    queue.push("d#1");
    expect(queue.waiting).toBe(3);
    expect(shed.filter(([, r]) => r === "superseded")).toHaveLength(999);
    expect(shed.at(-1)).toEqual(["d#1", "queue_full"]);
    queue.push("flood#1001");
    for (let i = 0; i < 4; i++) {
      finish[i]?.();
      await new Promise((r) => setImmediate(r));
    }
    expect(started).toEqual(["busy#1", "b#1", "c#1", "flood#1001"]);
  });
});
