import { describe, expect, it } from "vitest";
import { ParsedCache } from "./json.js";

describe("ParsedCache", () => {
  it("returns the value parsed before while the text is the same, and parses a changed text anew", () => {
    const cache = new ParsedCache<{ state: string; freeze?: { reason: string } }>();
    const first = cache.parse("c1", '{"state":"Ready","freeze":{"reason":"audit"}}');
    expect(cache.parse("c1", '{"state":"Ready","freeze":{"reason":"audit"}}')).toBe(first);
    const changed = cache.parse("c1", '{"state":"Offline"}');
    expect(changed).not.toBe(first);
    expect(changed).toEqual({ state: "Offline" });
    expect(cache.parse("c2", '{"state":"Offline"}')).not.toBe(changed);
  });

  it("reads a missing key as undefined and forgets what it held for it", () => {
    const cache = new ParsedCache<{ state: string }>();
    const first = cache.parse("c1", '{"state":"Ready"}');
    expect(cache.parse("c1", null)).toBeUndefined();
    expect(cache.parse("c1", '{"state":"Ready"}')).not.toBe(first);
  });

  it("freezes what it shares, nested objects too, so no reader can change another's value", () => {
    const cache = new ParsedCache<{ state: string; freeze: { reason: string } }>();
    const value = cache.parse("c1", '{"state":"Ready","freeze":{"reason":"audit"}}')!;
    expect(Object.isFrozen(value)).toBe(true);
    expect(Object.isFrozen(value.freeze)).toBe(true);
    expect(() => {
      value.freeze.reason = "other";
    }).toThrow(TypeError);
  });
});
