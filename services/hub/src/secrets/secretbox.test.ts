import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DecryptError } from "../errors.js";
import { SecretBox } from "./secretbox.js";

describe("SecretBox", () => {
  const box = new SecretBox(randomBytes(32));

  it("round-trips and never stores the plaintext", () => {
    const sealed = box.seal('{"password":"hunter2-hunter2"}', "repo/web");
    expect(sealed).not.toContain("hunter2");
    expect(box.open(sealed, "repo/web")).toBe('{"password":"hunter2-hunter2"}');
  });

  it("uses a fresh IV each time", () => {
    expect(box.seal("x", "c")).not.toBe(box.seal("x", "c"));
  });

  it.each([
    ["another key", (s: string) => new SecretBox(randomBytes(32)).open(s, "repo/web")],
    ["another context", (s: string) => box.open(s, "repo/other")],
    ["a flipped byte", (s: string) => box.open(s.slice(0, -4) + (s.endsWith("AAAA") ? "BBBB" : "AAAA"), "repo/web")],
    ["garbage", () => box.open("not-sealed", "repo/web")],
  ])("refuses %s", (_what, open) => {
    const sealed = box.seal("secret", "repo/web");
    expect(() => open(sealed)).toThrow(DecryptError);
  });
});
