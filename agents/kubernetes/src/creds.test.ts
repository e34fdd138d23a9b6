import {
  CREDENTIALS_REQUEST,
  CREDENTIALS_RESPONSE,
  type CredentialsResponseInit,
  credsSubject,
  generateSigningKey,
  KeyRing,
  open,
  seal,
} from "@flotilla/proto";
import { nkeys } from "nats";
import { describe, expect, it } from "vitest";
import { formatCreds, jwtClaims, newerCreds, parseCreds, RenewalRefusedError, renewAtMs, renewCreds } from "./creds.js";

const hubKey = generateSigningKey();
const agentKey = generateSigningKey();

/** An unsigned JWT-shaped string with these claims (the agent never verifies JWTs: the server does). */
function jwt(claims: { sub: string; iat: number; exp?: number }): string {
  return `e30.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.sig`;
}

function credsFor(iat: number, exp?: number) {
  const user = nkeys.createUser();
  const seed = new TextDecoder().decode(user.getSeed());
  return { user, text: formatCreds({ jwt: jwt({ sub: user.getPublicKey(), iat, ...(exp ? { exp } : {}) }), seed }) };
}

describe("agent NATS creds", () => {
  it("round-trips a creds file and reads its claims", () => {
    const { user, text } = credsFor(100, 110);
    expect(jwtClaims(parseCreds(text).jwt)).toEqual({ sub: user.getPublicKey(), iat: 100, exp: 110 });
    expect(() => parseCreds("nothing")).toThrow(/no user JWT/);
  });

  it.each([
    [100, 110, 105_000],
    [100, undefined, undefined],
  ])("renews half way through a JWT issued at %s expiring at %s", (iat, exp, at) => {
    expect(renewAtMs({ sub: "U", iat, ...(exp ? { exp } : {}) })).toBe(at);
  });

  it("prefers the later issued of bundle and saved creds", () => {
    const bundle = credsFor(100, 200).text;
    const renewed = credsFor(150, 250).text;
    const newBundle = credsFor(300, 400).text;
    expect(newerCreds(bundle, renewed)).toBe(renewed);
    expect(newerCreds(newBundle, renewed)).toBe(newBundle);
    expect(newerCreds(bundle, undefined)).toBe(bundle);
    expect(newerCreds(bundle, "garbage")).toBe(bundle);
  });

  /** A hub that rotates when told to, answering with JWTs for the user asked about. */
  function hub(rotate: boolean, refuse?: string) {
    const asked: string[] = [];
    const request = async (subject: string, data: Uint8Array) => {
      expect(subject).toBe(credsSubject("a"));
      const req = open(CREDENTIALS_REQUEST, data, new KeyRing([agentKey.publicKey])).message;
      asked.push(req.userPublicKey);
      const answer: CredentialsResponseInit = refuse
        ? { cluster: "a", error: refuse }
        : rotate && asked.length === 1
          ? { cluster: "a", rotate: true }
          : { cluster: "a", jwt: jwt({ sub: req.userPublicKey, iat: 200, exp: 210 }) };
      return seal(CREDENTIALS_RESPONSE, answer, hubKey);
    };
    return { asked, request };
  }

  const renew = (current: string, request: (s: string, d: Uint8Array) => Promise<Uint8Array>) =>
    renewCreds({ cluster: "a", current, agentKey, hubKeys: new KeyRing([hubKey.publicKey]), request });

  it("renews for the same user, keeping its seed", async () => {
    const { user, text } = credsFor(100, 110);
    const h = hub(false);
    const { creds, rotated } = await renew(text, h.request);
    expect(rotated).toBe(false);
    expect(h.asked).toEqual([user.getPublicKey()]);
    expect(parseCreds(creds).seed).toBe(parseCreds(text).seed);
    expect(jwtClaims(parseCreds(creds).jwt)).toMatchObject({ sub: user.getPublicKey(), exp: 210 });
  });

  it("rotates to a new user key when the hub asks", async () => {
    const { user, text } = credsFor(100, 110);
    const h = hub(true);
    const { creds, rotated } = await renew(text, h.request);
    expect(rotated).toBe(true);
    expect(h.asked[0]).toBe(user.getPublicKey());
    expect(h.asked[1]).not.toBe(user.getPublicKey());
    const fresh = nkeys.fromSeed(new TextEncoder().encode(parseCreds(creds).seed));
    expect(fresh.getPublicKey()).toBe(h.asked[1]);
  });

  it("surfaces a refusal, and refuses an answer not signed by the hub", async () => {
    const { text } = credsFor(100, 110);
    await expect(renew(text, hub(false, "cluster a is not registered").request)).rejects.toThrow(RenewalRefusedError);
    const forged = async () => seal(CREDENTIALS_RESPONSE, { cluster: "a", jwt: "x.y.z" }, generateSigningKey());
    await expect(renew(text, forged)).rejects.toThrow();
  });

  it("reads the JWT's publish allow list, and names the apps it lacks in the request", async () => {
    const claims = { sub: "U", iat: 1, nats: { pub: { allow: ["$KV.flotilla_status.a.web"] } } };
    const token = `e30.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.sig`;
    expect(jwtClaims(token).publishAllow).toEqual(["$KV.flotilla_status.a.web"]);
    const { text } = credsFor(100, 110);
    const apps: string[][] = [];
    const request = async (_subject: string, data: Uint8Array) => {
      const req = open(CREDENTIALS_REQUEST, data, new KeyRing([agentKey.publicKey])).message;
      apps.push(req.apps ?? []);
      return seal(CREDENTIALS_RESPONSE, { cluster: "a", jwt: jwt({ sub: req.userPublicKey, iat: 200 }) }, hubKey);
    };
    await renewCreds({
      cluster: "a",
      current: text,
      agentKey,
      hubKeys: new KeyRing([hubKey.publicKey]),
      request,
      apps: ["api", "web"],
    });
    expect(apps).toEqual([["api", "web"]]);
  });
});
