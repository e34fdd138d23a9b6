import { describe, expect, it } from "vitest";
import { changeDigest, SECRET_MARKER, withoutSecrets } from "./digest.js";

describe("the audit digest", () => {
  const repo = {
    team: "web",
    url: "https://git.example.com/web.git",
    credentials: { username: "ci", password: "hunter2" },
    webhookSecret: "0123456789abcdef0123",
  };

  it("replaces every secret field, at any depth, by a marker", () => {
    expect(withoutSecrets({ body: repo })).toEqual({
      body: { team: "web", url: repo.url, credentials: SECRET_MARKER, webhookSecret: SECRET_MARKER },
    });
    expect(JSON.stringify(withoutSecrets([{ token: "flt_x" }, { agentSigningKey: "k", natsCreds: "c" }]))).not.toMatch(
      /flt_x|"k"|"c"/,
    );
  });

  it("is the same for the same change whatever the key order, and differs when a field does", () => {
    const a = changeDigest({ x: 1, y: { b: 2, a: 1 } });
    expect(changeDigest({ y: { a: 1, b: 2 }, x: 1 })).toBe(a);
    expect(changeDigest({ x: 2, y: { a: 1, b: 2 } })).not.toBe(a);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
  });

  it("does not depend on a secret's value, only on whether one was set", () => {
    const other = { ...repo, credentials: { username: "ci", password: "correct horse" } };
    expect(changeDigest(other)).toBe(changeDigest(repo));
    const { credentials: _c, ...without } = repo;
    expect(changeDigest(without)).not.toBe(changeDigest(repo));
  });
});
