import { createAccount, createUser, decode, encodeUser } from "@nats-io/jwt";
import { describe, expect, it } from "vitest";
import { nativeSigner } from "./signer.js";

describe("nativeSigner", () => {
  it("signs exactly as nkeys does, and its JWTs verify", async () => {
    const account = createAccount();
    const seed = new TextDecoder().decode(account.getSeed());
    const signer = nativeSigner(seed);
    expect(signer.getPublicKey()).toBe(account.getPublicKey());
    const data = new TextEncoder().encode("a renewal's claims");
    expect(Buffer.from(signer.sign(data))).toEqual(Buffer.from(account.sign(data)));
    const jwt = await encodeUser("u", createUser(), signer, {});
    const [head = "", body = "", sig = ""] = jwt.split(".");
    expect(account.verify(new TextEncoder().encode(`${head}.${body}`), Buffer.from(sig, "base64url"))).toBe(true);
    expect(decode(jwt).iss).toBe(account.getPublicKey());
  });

  it("refuses what is not an nkey seed", () => {
    expect(() => nativeSigner("SAnotaseed")).toThrow();
  });
});
