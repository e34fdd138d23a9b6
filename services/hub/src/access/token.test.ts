import { describe, expect, it } from "vitest";
import { newToken, parseToken, secretDigest, secretMatches } from "./token.js";

describe("tokens", () => {
  it("mints flt_<id>_<secret> and keeps only the secret's digest", () => {
    const { token, id, secretSha256 } = newToken();
    expect(token).toMatch(/^flt_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const parts = parseToken(token);
    expect(parts?.id).toBe(id);
    expect(secretSha256).toBe(secretDigest(parts?.secret ?? ""));
    expect(secretSha256).not.toContain(parts?.secret ?? "x");
    expect(secretMatches(parts?.secret ?? "", secretSha256)).toBe(true);
  });

  it("tells secrets apart, and mints a different token every time", () => {
    const a = newToken();
    const b = newToken();
    expect(a.token).not.toBe(b.token);
    expect(secretMatches(parseToken(b.token)?.secret ?? "", a.secretSha256)).toBe(false);
  });

  it.each([
    ["", undefined],
    ["not-a-token", undefined],
    ["flt_0123456789abcdef", undefined],
    ["flt_0123456789ABCDEF_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", undefined],
    ["flt_0123456789abcdef_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", undefined],
    [
      "flt_0123456789abcdef_a_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      { id: "0123456789abcdef", secret: "a_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" },
    ],
  ])("parses %j as %j", (text, parts) => {
    expect(parseToken(text)).toEqual(parts);
  });
});
