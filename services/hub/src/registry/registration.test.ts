import { type RegistrationRequest, registrationRequestSchema } from "@flotilla/api";
import { CREDENTIALS_RESPONSE, generateSigningKey, KeyRing, open, publicKeyToPem } from "@flotilla/proto";
import { nkeys } from "nats";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { ConflictError, NotFoundError, RegistrationRefusedError, ValidationError } from "../errors.js";
import { HubMetrics } from "../metrics.js";
import type {
  ClusterRecord,
  ObjectStore,
  RecordOf,
  RegistrationTokenRecord,
  RegistrationTokenStore,
  StoredKind,
} from "../store.js";
import type { ClusterCredentialIssuer, MintedCredentials } from "./credentials.js";
import { Registrations, refusalOf, tokenDigest } from "./registration.js";

const OLD_USER = nkeys.createUser().getPublicKey();
const NOW = 1_000_000;

/** Clusters in memory. */
class Clusters implements Pick<ObjectStore, "getObject" | "replaceObject"> {
  readonly records = new Map<string, ClusterRecord>();
  /** Runs between a registration's read and its write (another request changing the cluster). */
  meanwhile: (() => void) | undefined;
  async getObject<K extends StoredKind>(kind: K, name: string): Promise<RecordOf[K] | undefined> {
    return kind === "Cluster" ? (this.records.get(name) as RecordOf[K] | undefined) : undefined;
  }
  async replaceObject<K extends StoredKind>(kind: K, expected: RecordOf[K], next: RecordOf[K]): Promise<boolean> {
    this.meanwhile?.();
    const current = this.records.get(next.name);
    if (kind !== "Cluster" || JSON.stringify(current) !== JSON.stringify(expected)) return false;
    this.records.set(next.name, next as ClusterRecord);
    return true;
  }
}

/** Tokens in memory, taken as GETDEL takes them; expiry is the store's, so a test ages them by hand. */
class Tokens implements RegistrationTokenStore {
  readonly records = new Map<string, RegistrationTokenRecord>();
  async put(digest: string, record: RegistrationTokenRecord): Promise<void> {
    this.records.set(`${record.cluster}:${digest}`, record);
  }
  async take(cluster: string, digest: string): Promise<RegistrationTokenRecord | undefined> {
    const key = `${cluster}:${digest}`;
    const record = this.records.get(key);
    this.records.delete(key);
    return record;
  }
  async dropAll(cluster: string): Promise<number> {
    const mine = [...this.records.keys()].filter((k) => k.startsWith(`${cluster}:`));
    for (const k of mine) this.records.delete(k);
    return mine.length;
  }
}

class Issuer implements ClusterCredentialIssuer {
  readonly revoked: string[] = [];
  failing = false;
  async mint(): Promise<MintedCredentials> {
    throw new Error("not used");
  }
  async renew(cluster: string, user: string, apps: readonly string[]): Promise<string> {
    if (this.failing) throw new Error("NATS is away");
    return `jwt(${cluster},${user}${apps.map((a) => `,${a}`).join("")})`;
  }
  async revoke(_cluster: string, user: string): Promise<void> {
    this.revoked.push(user);
  }
}

function setup(o: { issuer?: boolean } = {}) {
  const clusters = new Clusters();
  const agentKey = generateSigningKey();
  for (const name of ["a", "b"]) {
    clusters.records.set(name, {
      name,
      labels: {},
      agentPublicKey: publicKeyToPem(agentKey.publicKey),
      natsUserPublicKey: OLD_USER,
      natsRotateRequested: true,
      createdAtMs: 10,
    });
  }
  const tokens = new Tokens();
  const issuer = new Issuer();
  const hubKey = generateSigningKey();
  const metrics = new HubMetrics();
  let now = NOW;
  const registrations = new Registrations({
    tokens,
    objects: clusters,
    ...(o.issuer === false ? {} : { issuer }),
    // Cluster a runs app web.
    grants: { grantFor: async (cluster: string) => ({ apps: cluster === "a" ? ["web"] : [], notAssigned: [] }) },
    hubKey,
    metrics,
    log: pino({ level: "silent" }),
    now: () => now,
  });
  const count = async (result: string) =>
    (await metrics.registrations.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
  return { clusters, tokens, issuer, hubKey, registrations, count, later: (ms: number) => (now += ms) };
}

const newUser = () => nkeys.createUser().getPublicKey();

describe("refusalOf", () => {
  const cluster: ClusterRecord = { name: "a", labels: {}, agentPublicKey: "", createdAtMs: 10 };
  const token: RegistrationTokenRecord = {
    cluster: "a",
    clusterCreatedAtMs: 10,
    createdAtMs: 0,
    expiresAtMs: 100,
    createdBy: "t",
  };
  it.each([
    ["a live token of the cluster's registration", token, cluster, 99, undefined],
    ["no token", undefined, cluster, 99, "no such token"],
    ["a token past its expiry", token, cluster, 100, "expired"],
    ["a cluster gone", token, undefined, 99, "not registered"],
    ["a cluster registered again since", token, { ...cluster, createdAtMs: 11 }, 99, "earlier registration"],
  ])("%s", (_what, t, c, now, reason) => {
    const got = refusalOf(t, c, now);
    if (reason === undefined) expect(got).toBeUndefined();
    else expect(got).toContain(reason);
  });
});

describe("Registrations", () => {
  it("mints a token it keeps only as a digest, expiring after the TTL asked for", async () => {
    const { registrations, tokens } = setup();
    const minted = await registrations.mint("a", 60, "tok1");
    expect(minted).toMatchObject({ cluster: "a", expiresAtMs: NOW + 60_000 });
    expect(minted.token).toMatch(/^flreg_[A-Za-z0-9_-]{43}$/);
    expect([...tokens.records.keys()]).toEqual([`a:${tokenDigest(minted.token)}`]);
    expect(JSON.stringify([...tokens.records.values()])).not.toContain(minted.token);
    expect(tokens.records.get(`a:${tokenDigest(minted.token)}`)).toEqual({
      cluster: "a",
      clusterCreatedAtMs: 10,
      createdAtMs: NOW,
      expiresAtMs: NOW + 60_000,
      createdBy: "tok1",
    });
  });

  it("refuses to mint for an unknown cluster (404) and without NATS credentials to mint (409)", async () => {
    await expect(setup().registrations.mint("nope", undefined, "t")).rejects.toBeInstanceOf(NotFoundError);
    await expect(setup({ issuer: false }).registrations.mint("a", undefined, "t")).rejects.toBeInstanceOf(
      ConflictError,
    );
  });

  it("registers once: a JWT for the new user, signed by the hub, the new user recorded, the old one to revoke", async () => {
    const { registrations, clusters, hubKey, count } = setup();
    const { token } = await registrations.mint("a", undefined, "t");
    const user = newUser();
    const { registration, replacedUser } = await registrations.register("a", { token, natsUserPublicKey: user }, "ip");
    // Granted the status keys of the cluster's apps, as a renewal would be.
    expect(registration).toMatchObject({ cluster: "a", jwt: `jwt(a,${user},web)`, hubKeyId: hubKey.keyId });
    const signed = open(
      CREDENTIALS_RESPONSE,
      Buffer.from(registration.credentialsResponse, "base64"),
      new KeyRing([hubKey.publicKey]),
    );
    expect(signed.message).toMatchObject({ cluster: "a", jwt: `jwt(a,${user},web)` });
    expect(replacedUser).toBe(OLD_USER);
    expect(clusters.records.get("a")).toMatchObject({ natsUserPublicKey: user });
    expect(clusters.records.get("a")?.natsRotateRequested).toBeUndefined();
    expect(await count("registered")).toBe(1);

    const again = registrations.register("a", { token, natsUserPublicKey: newUser() }, "ip");
    await expect(again).rejects.toBeInstanceOf(RegistrationRefusedError);
    expect(clusters.records.get("a")).toMatchObject({ natsUserPublicKey: user });
    expect(await count("refused")).toBe(1);
  });

  it("answers an unknown, expired, other cluster's and used token, and an unknown cluster, with one message", async () => {
    const { registrations, later, count } = setup();
    const used = (await registrations.mint("a", 60, "t")).token;
    await registrations.register("a", { token: used, natsUserPublicKey: newUser() }, "ip");
    const expiring = (await registrations.mint("a", 1, "t")).token;
    const forB = (await registrations.mint("b", 60, "t")).token;
    later(1_000);
    const messages: string[] = [];
    for (const [cluster, token] of [
      ["a", "flreg_not-a-token"],
      ["a", expiring],
      ["a", forB],
      ["a", used],
      ["nope", forB],
    ] as const) {
      const err = await registrations.register(cluster, { token, natsUserPublicKey: newUser() }, "ip").then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, `${cluster} ${token}`).toBeInstanceOf(RegistrationRefusedError);
      messages.push(
        (err as Error).message.replace(JSON.stringify(cluster), "X").replace(`token ${cluster}'`, "token X'"),
      );
    }
    expect(new Set(messages).size).toBe(1);
    expect(messages[0]).toContain("flotilla cluster token");
    expect(await count("refused")).toBe(5);
    // Presented for another cluster, B's token was not spent.
    await expect(
      registrations.register("b", { token: forB, natsUserPublicKey: newUser() }, "ip"),
    ).resolves.toBeDefined();
  });

  it("of two concurrent uses of one token, exactly one registers", async () => {
    const { registrations } = setup();
    const { token } = await registrations.mint("a", 60, "t");
    const results = await Promise.allSettled([
      registrations.register("a", { token, natsUserPublicKey: newUser() }, "ip"),
      registrations.register("a", { token, natsUserPublicKey: newUser() }, "ip"),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
  });

  it("refuses a bad user key before taking the token, so a typo does not spend it", async () => {
    const { registrations } = setup();
    const { token } = await registrations.mint("a", 60, "t");
    // The checksum's last character changed (to another one: a key that already ended in A stayed valid).
    const user = newUser();
    const corrupt = `${user.slice(0, -1)}${user.endsWith("A") ? "B" : "A"}`;
    await expect(registrations.register("a", { token, natsUserPublicKey: corrupt }, "ip")).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(registrations.register("a", { token, natsUserPublicKey: newUser() }, "ip")).resolves.toBeDefined();
  });

  it("never changes the agent key: the request schema refuses an agentPublicKey, naming it", async () => {
    const { registrations, clusters } = setup();
    const before = clusters.records.get("a")?.agentPublicKey;
    const { token } = await registrations.mint("a", 60, "t");
    const body = {
      token,
      natsUserPublicKey: newUser(),
      agentPublicKey: publicKeyToPem(generateSigningKey().publicKey),
    };
    const parsed = registrationRequestSchema.safeParse(body);
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toContain("agentPublicKey");
    // Even a caller past the schema cannot set it: the extra field is ignored.
    await registrations.register("a", body as RegistrationRequest, "ip");
    expect(clusters.records.get("a")?.agentPublicKey).toBe(before);
  });

  it("keeps one outstanding token per cluster: a new mint voids earlier ones, a registration every other", async () => {
    const { registrations, tokens } = setup();
    const first = (await registrations.mint("a", 60, "t")).token;
    const second = (await registrations.mint("a", 60, "t")).token;
    await expect(
      registrations.register("a", { token: first, natsUserPublicKey: newUser() }, "ip"),
    ).rejects.toBeInstanceOf(RegistrationRefusedError);
    // A token put back by hand (as a store racing a mint would) is dropped by the registration.
    const parked = (await registrations.mint("b", 60, "t")).token;
    const record = tokens.records.get(`b:${tokenDigest(parked)}`);
    if (!record) throw new Error("the minted token was not stored");
    await tokens.put(tokenDigest("flreg_parked"), { ...record });
    await registrations.register("b", { token: parked, natsUserPublicKey: newUser() }, "ip");
    expect([...tokens.records.keys()].filter((k) => k.startsWith("b:"))).toEqual([]);
    await expect(
      registrations.register("a", { token: second, natsUserPublicKey: newUser() }, "ip"),
    ).resolves.toBeDefined();
  });

  it("revokes every outstanding token of a cluster on request, and 404s an unknown cluster", async () => {
    const { registrations } = setup();
    const { token } = await registrations.mint("a", 60, "t");
    expect(await registrations.revokeTokens("a", "t")).toBe(1);
    expect(await registrations.revokeTokens("a", "t")).toBe(0);
    await expect(registrations.register("a", { token, natsUserPublicKey: newUser() }, "ip")).rejects.toBeInstanceOf(
      RegistrationRefusedError,
    );
    await expect(registrations.revokeTokens("nope", "t")).rejects.toBeInstanceOf(NotFoundError);
  });

  it("gives the token back when no JWT could be minted", async () => {
    const { registrations, issuer, count } = setup();
    const { token } = await registrations.mint("a", 60, "t");
    issuer.failing = true;
    await expect(registrations.register("a", { token, natsUserPublicKey: newUser() }, "ip")).rejects.toThrow(
      "NATS is away",
    );
    expect(await count("error")).toBe(1);
    issuer.failing = false;
    await expect(registrations.register("a", { token, natsUserPublicKey: newUser() }, "ip")).resolves.toBeDefined();
  });

  it("writes nothing over a cluster deleted meanwhile, revokes the new user and gives the token back", async () => {
    const { registrations, clusters, issuer, count } = setup();
    const { token } = await registrations.mint("a", 60, "t");
    clusters.meanwhile = () => clusters.records.delete("a");
    const user = newUser();
    await expect(registrations.register("a", { token, natsUserPublicKey: user }, "ip")).rejects.toBeInstanceOf(
      ConflictError,
    );
    expect(clusters.records.has("a")).toBe(false);
    expect(issuer.revoked).toEqual([user]);
    expect(await count("error")).toBe(1);
    // The token is back; the next try meets the cluster as it is now: gone, so refused.
    clusters.meanwhile = undefined;
    await expect(registrations.register("a", { token, natsUserPublicKey: newUser() }, "ip")).rejects.toBeInstanceOf(
      RegistrationRefusedError,
    );
  });

  it("writes nothing over a cluster registered again with a new agent key meanwhile", async () => {
    const { registrations, clusters } = setup();
    const { token } = await registrations.mint("a", 60, "t");
    const fresh = { ...(clusters.records.get("a") as ClusterRecord), agentPublicKey: "another key", createdAtMs: 99 };
    clusters.meanwhile = () => clusters.records.set("a", fresh);
    await expect(registrations.register("a", { token, natsUserPublicKey: newUser() }, "ip")).rejects.toBeInstanceOf(
      ConflictError,
    );
    expect(clusters.records.get("a")).toBe(fresh);
  });

  it("revokes the replaced user through the issuer", async () => {
    const { registrations, issuer } = setup();
    await registrations.revokeReplaced("a", OLD_USER);
    expect(issuer.revoked).toEqual([OLD_USER]);
  });
});
