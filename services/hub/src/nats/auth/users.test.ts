import { clusterPermissions, InvalidNameError } from "@flotilla/proto";
import { describe, expect, it } from "vitest";
import { createOperatorSetup } from "./setup.js";
import { MAX_RESPONSES, mintClusterUser, parseUserCreds, RESPONSE_WINDOW_MS, userClaims } from "./users.js";

const setup = await createOperatorSetup();

describe("mintClusterUser", () => {
  it("grants exactly the cluster's permissions from the wire contract", async () => {
    const user = await mintClusterUser(setup, "prod-eu-1");
    const parsed = await parseUserCreds(user.creds);
    const expected = clusterPermissions("prod-eu-1");
    expect(parsed.publicKey).toBe(user.userPublicKey);
    expect(parsed.account).toBe(setup.account.publicKey);
    expect(parsed.claims.pub).toEqual({ allow: expected.publish });
    expect(parsed.claims.sub).toEqual({ allow: expected.subscribe });
    expect(parsed.claims.resp).toEqual({ max: MAX_RESPONSES, ttl: RESPONSE_WINDOW_MS * 1_000_000 });
    expect(parsed.claims.bearer_token).toBe(false);
    expect(parsed.claims.tags).toContain("cluster:prod-eu-1");
    expect(parsed.name).toBe("flotilla-agent-prod-eu-1");
  });

  it("mints a new key every time, so revoking one registration leaves the next alone", async () => {
    const a1 = await mintClusterUser(setup, "a");
    const a2 = await mintClusterUser(setup, "a");
    expect(a1.userPublicKey).not.toBe(a2.userPublicKey);
    expect(a1.userPublicKey).toMatch(/^U[A-Z2-7]{55}$/);
  });

  it("refuses a cluster name that is not a DNS label", async () => {
    await expect(mintClusterUser(setup, "a.>")).rejects.toBeInstanceOf(InvalidNameError);
  });

  it("writes a creds file nats clients read", () => {
    return mintClusterUser(setup, "a").then(({ creds }) => {
      expect(creds).toMatch(/^-----BEGIN NATS USER JWT-----\n[\w-]+\.[\w-]+\.[\w-]+\n------END NATS USER JWT------\n/);
      expect(creds).toMatch(/-----BEGIN USER NKEY SEED-----\nSU[A-Z2-7]+\n------END USER NKEY SEED------\n$/);
    });
  });
});

describe("userClaims", () => {
  it("turns an empty allow list into deny-all, not allow-all", () => {
    const claims = userClaims({ publish: [], subscribe: ["x"], allowResponses: false }, []);
    expect(claims.pub).toEqual({ deny: [">"] });
    expect(claims.sub).toEqual({ allow: ["x"] });
    expect(claims.resp).toBeUndefined();
  });
});

describe("parseUserCreds", () => {
  it("refuses a creds file whose seed belongs to another user", async () => {
    const a = await mintClusterUser(setup, "a");
    const b = await mintClusterUser(setup, "b");
    const mixed =
      a.creds.split("-----BEGIN USER NKEY SEED-----")[0] +
      b.creds.slice(b.creds.indexOf("-----BEGIN USER NKEY SEED-----"));
    await expect(parseUserCreds(mixed)).rejects.toThrow(/does not belong/);
  });
});
