import { describe, expect, it } from "vitest";
import { SelectorSyntaxError } from "./errors.js";
import { matchesSelector, parseSelector } from "./selector.js";

describe("selectors", () => {
  const labels = { tier: "canary", region: "eu", "example.com/zone": "a" };
  it.each([
    [{}, true],
    ["", true],
    [{ tier: "canary" }, true],
    [{ tier: "canary", region: "us" }, false],
    ["tier=canary", true],
    ["tier==canary,region=eu", true],
    ["tier!=canary", false],
    ["missing!=x", true],
    ["region in (us, eu)", true],
    ["region in (us,ap)", false],
    ["region notin (us,ap)", true],
    ["missing notin (us)", true],
    ["tier", true],
    ["missing", false],
    ["!missing", true],
    ["!tier", false],
    ["example.com/zone=a, region in (eu), !legacy", true],
  ] as const)("%j → %s", (selector, expected) => {
    expect(matchesSelector(selector, labels)).toBe(expected);
  });

  it.each(["tier in ()", "tier=a,,b", "tier = a b", "(x", "Bad Key", "tier in (a b)"])("refuses %j", (selector) => {
    expect(() => parseSelector(selector)).toThrow(SelectorSyntaxError);
  });
});
