import { CREDENTIALS_REQUEST, generateSigningKey, publicKeyToPem, type SigningKey, seal } from "@flotilla/proto";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { HubMetrics } from "../metrics.js";
import type { ClusterCredentialIssuer, MintedCredentials } from "../registry/credentials.js";
import type { ClusterRecord, ObjectStore, RecordOf, StoredKind } from "../store.js";
import { CredsResponder } from "./creds.js";

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
  async mint(): Promise<MintedCredentials> {
    throw new Error("not used");
  }
  async renew(cluster: string, user: string): Promise<string> {
    return `jwt(${cluster},${user})`;
  }
  async revoke(_cluster: string, user: string): Promise<void> {
    this.revoked.push(user);
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
  const responder = new CredsResponder({
    // The responder reads and writes clusters only.
    objects: clusters as unknown as ObjectStore,
    issuer,
    hubKey: generateSigningKey(),
    metrics: new HubMetrics(),
    log: pino({ level: "silent" }),
  });
  return { clusters, issuer, responder };
}

const request = (user: string, key: SigningKey = agentKey, cluster = "a") =>
  seal(CREDENTIALS_REQUEST, { cluster, userPublicKey: user, sentAtMs: 1 }, key);

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
});
