import { generateKeyPairSync } from "node:crypto";
import { keyIdOf, publicKeyFromPem } from "@flotilla/proto";
import { describe, expect, it } from "vitest";
import { AgentKeys, ed25519KeyIdOfPem } from "./agent-keys.js";

function pemOf(type: "ed25519" | "ec"): string {
  const { publicKey } =
    type === "ed25519" ? generateKeyPairSync("ed25519") : generateKeyPairSync("ec", { namedCurve: "P-256" });
  return publicKey.export({ format: "pem", type: "spki" }).toString();
}

describe("agent key ids", () => {
  it("reads an Ed25519 key's id from its PEM exactly as the parsed key gives it", () => {
    for (let i = 0; i < 5; i++) {
      const pem = pemOf("ed25519");
      expect(ed25519KeyIdOfPem(pem)).toBe(keyIdOf(publicKeyFromPem(pem)));
      expect(new AgentKeys().keyId(pem)).toBe(keyIdOf(publicKeyFromPem(pem)));
    }
  });

  it("leaves any other text to the full parse, which refuses what is not an Ed25519 key", () => {
    expect(ed25519KeyIdOfPem(pemOf("ec"))).toBeUndefined();
    expect(ed25519KeyIdOfPem("not a key")).toBeUndefined();
    expect(() => new AgentKeys().keyId(pemOf("ec"))).toThrow();
  });
});
