import { describe, expect, it } from "vitest";
import { matchesSelector, targetClusters } from "./targets.js";

const clusters: { name: string; labels: Record<string, string> }[] = [
  { name: "prod-us", labels: { env: "prod", region: "us" } },
  { name: "dev-b", labels: { env: "dev", tier: "canary" } },
  { name: "dev-a", labels: { env: "dev" } },
  { name: "unlabelled", labels: {} },
  { name: "staging", labels: { env: "staging", region: "us" } },
];

describe("targetClusters", () => {
  it.each([
    ["dev", undefined, ["dev-a", "dev-b"]],
    ["prod", undefined, ["prod-us"]],
    ["dev", { tier: "canary" }, ["dev-b"]],
    ["dev", { tier: "stable" }, []],
    ["prod", { region: "us" }, ["prod-us"]],
    ["qa", undefined, []],
    ["dev", {}, ["dev-a", "dev-b"]],
    // A selector cannot move an app out of its environment.
    ["dev", { env: "prod" }, []],
  ] as const)("env %s selector %j → %j", (env, selector, expected) => {
    expect(targetClusters(clusters, env, selector).map((c) => c.name)).toEqual(expected);
  });
});

describe("matchesSelector", () => {
  it("needs every key to match exactly", () => {
    expect(matchesSelector({ a: "1", b: "2" }, { a: "1" })).toBe(true);
    expect(matchesSelector({ a: "1" }, { a: "1", b: "2" })).toBe(false);
    expect(matchesSelector({ a: "1" }, { a: "2" })).toBe(false);
    expect(matchesSelector({}, undefined)).toBe(true);
  });
});
