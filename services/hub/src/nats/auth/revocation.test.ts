import { type Account, decode } from "@nats-io/jwt";
import type { Msg, Payload, RequestOptions } from "nats";
import { describe, expect, it } from "vitest";
import { ClaimsUpdateError, InvalidUserKeyError, StaleAccountJwtError } from "./errors.js";
import {
  checkClaimsUpdateResponse,
  claimsLookupSubject,
  claimsUpdateSubject,
  pushAccountJwt,
  revokedAccountJwt,
  revokedUsers,
  revokeUser,
  type SystemConnection,
} from "./revocation.js";
import { natsServerConfig } from "./serverconfig.js";
import { createOperatorSetup, withAccountJwt } from "./setup.js";
import { mintClusterUser } from "./users.js";

const setup = await createOperatorSetup();
const a = await mintClusterUser(setup, "a");
const b = await mintClusterUser(setup, "b");
const encoder = new TextEncoder();

/**
 * Stands in for nats-server's full resolver on our SystemConnection port: stores whatever is
 * pushed (as the real one does, even an older JWT) and answers lookups with what it holds.
 */
class FakeResolver implements SystemConnection {
  readonly requests: string[] = [];
  constructor(
    public held: string,
    private readonly answer: (account: string) => object = (account) => ({
      data: { code: 200, account, message: "jwt updated" },
    }),
  ) {}
  async request(subject: string, payload?: Payload, _opts?: RequestOptions): Promise<Msg> {
    this.requests.push(subject);
    const account = decode(this.held).sub;
    if (subject === claimsLookupSubject(account)) return { data: encoder.encode(this.held) } as Msg;
    if (subject === claimsUpdateSubject(account)) {
      const body = this.answer(account);
      if ("data" in body) this.held = new TextDecoder().decode(payload as Uint8Array);
      return { data: encoder.encode(JSON.stringify(body)) } as Msg;
    }
    throw new Error("503 no responders");
  }
}

describe("revokedAccountJwt", () => {
  it("adds the user to the revocations, keeps the limits, and is signed by the operator", async () => {
    const before = decode<Account>(setup.account.jwt);
    const now = new Date();
    const jwt = await revokedAccountJwt(setup, a.userPublicKey, now);
    const after = decode<Account>(jwt);
    expect(after.sub).toBe(setup.account.publicKey);
    expect(after.iss).toBe(setup.operator.publicKey);
    expect(after.nats.revocations).toEqual({ [a.userPublicKey]: Math.floor(now.getTime() / 1000) });
    expect(after.nats.limits).toEqual(before.nats.limits);
    // A later issue time than the JWT it replaces, or the server could keep either one.
    expect(after.iat).toBeGreaterThan(before.iat);
  });

  it("builds on earlier revocations and is idempotent", async () => {
    const first = withAccountJwt(setup, await revokedAccountJwt(setup, a.userPublicKey));
    const second = await revokedAccountJwt(first, b.userPublicKey);
    expect(Object.keys(revokedUsers(second)).sort()).toEqual([a.userPublicKey, b.userPublicKey].sort());
    expect(await revokedAccountJwt(first, a.userPublicKey)).toBe(first.account.jwt);
  });

  it("refuses what is not a user key", async () => {
    for (const key of [setup.account.publicKey, "nonsense"]) {
      await expect(revokedAccountJwt(setup, key)).rejects.toBeInstanceOf(InvalidUserKeyError);
    }
  });

  it("ends up in the server config the hub writes next", async () => {
    const revoked = withAccountJwt(setup, await revokedAccountJwt(setup, a.userPublicKey));
    expect(natsServerConfig(revoked, { resolverDir: "/r" })).toContain(revoked.account.jwt);
  });
});

describe("checkClaimsUpdateResponse", () => {
  const account = setup.account.publicKey;
  const bytes = (o: unknown) => encoder.encode(JSON.stringify(o));
  it("accepts the server's success answer", () => {
    expect(() => checkClaimsUpdateResponse(account, bytes({ data: { code: 200, account } }))).not.toThrow();
  });
  it.each([
    ["an error answer", { error: { code: 500, account, description: "jwt validation failed - bad" } }],
    ["an answer for another account", { data: { code: 200, account: "AOTHER" } }],
    ["an empty answer", {}],
  ])("refuses %s as terminal", (_what, body) => {
    let err: unknown;
    try {
      checkClaimsUpdateResponse(account, bytes(body));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ClaimsUpdateError);
    expect((err as ClaimsUpdateError).retryable).toBe(false);
  });
});

describe("pushAccountJwt", () => {
  it("pushes a newer JWT on the account's update subject and confirms it", async () => {
    const next = await revokedAccountJwt(setup, a.userPublicKey);
    const server = new FakeResolver(setup.account.jwt);
    await pushAccountJwt(server, next);
    expect(server.held).toBe(next);
    expect(server.requests).toEqual([
      claimsLookupSubject(setup.account.publicKey),
      claimsUpdateSubject(setup.account.publicKey),
      claimsLookupSubject(setup.account.publicKey),
    ]);
  });

  it("does not push what the server already holds", async () => {
    const server = new FakeResolver(setup.account.jwt);
    await pushAccountJwt(server, setup.account.jwt);
    expect(server.requests).toHaveLength(1);
  });

  it("refuses to push a stale JWT over a newer one, which would undo revocations", async () => {
    const newer = await revokedAccountJwt(setup, a.userPublicKey);
    const server = new FakeResolver(newer);
    const err = await pushAccountJwt(server, setup.account.jwt).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StaleAccountJwtError);
    expect((err as StaleAccountJwtError).serverJwt).toBe(newer);
    expect(server.held).toBe(newer);
  });

  it("reports a rejection as terminal and an unreachable server as retryable", async () => {
    const next = await revokedAccountJwt(setup, a.userPublicKey);
    const rejecting = new FakeResolver(setup.account.jwt, (account) => ({ error: { code: 500, account } }));
    await expect(pushAccountJwt(rejecting, next)).rejects.toMatchObject({
      name: "ClaimsUpdateError",
      retryable: false,
    });
    const unreachable: SystemConnection = {
      request: () => Promise.reject(new Error("TIMEOUT")),
    };
    await expect(pushAccountJwt(unreachable, next)).rejects.toMatchObject({
      name: "ClaimsUpdateError",
      retryable: true,
    });
  });
});

describe("revokeUser", () => {
  it("returns the pushed JWT with the user revoked", async () => {
    const server = new FakeResolver(setup.account.jwt);
    const jwt = await revokeUser(setup, b.userPublicKey, server);
    expect(server.held).toBe(jwt);
    expect(Object.keys(revokedUsers(jwt))).toEqual([b.userPublicKey]);
  });
});
