import { describe, expect, it } from "vitest";
import { UsageError } from "../errors.js";
import { parseSince } from "./audit.js";
import { formatExpiry } from "./token.js";

describe("audit --since", () => {
  const now = Date.parse("2026-03-01T12:00:00Z");
  it.each([
    ["1h", now - 3_600_000],
    ["7d", now - 7 * 86_400_000],
    ["90", now - 90_000],
    ["2026-02-28T00:00:00Z", Date.parse("2026-02-28T00:00:00Z")],
  ])("reads %s", (text, at) => {
    expect(parseSince(text, now)).toBe(at);
  });
  it("refuses what is neither", () => {
    expect(() => parseSince("yesterday", now)).toThrow(UsageError);
  });
});

describe("token expiry", () => {
  const now = Date.parse("2026-03-01T12:00:00Z");
  it("says never, when, or how long ago", () => {
    expect(formatExpiry(undefined, now)).toBe("never");
    expect(formatExpiry(now + 86_400_000, now)).toBe("2026-03-02T12:00:00Z");
    expect(formatExpiry(now - 7_200_000, now)).toMatch(/^expired 2h/);
  });
});
