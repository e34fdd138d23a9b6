import { describe, expect, it } from "vitest";
import { effectivePolicy, kindGroup, matchesAnyGlob, matchesGlob } from "./policy.js";

describe("matchesGlob", () => {
  it.each([
    ["web", "web", true],
    ["web", "web2", false],
    ["web", "we", false],
    ["web-*", "web-", true],
    ["web-*", "web-eu", true],
    ["web-*", "web", false],
    ["web-*", "team-web-eu", false],
    ["*", "", true],
    ["*", "anything", true],
    ["*-prod", "web-prod", true],
    ["*-prod", "web-prod-2", false],
    ["a*b*c", "abc", true],
    ["a*b*c", "axxbyyc", true],
    ["a*b*c", "acb", false],
    ["ab*ba", "aba", false],
    ["ab*ba", "abba", true],
    ["web.*", "webx", false],
    ["web.?", "web.?", true],
    ["web.?", "web.a", false],
    ["https://git.example.com/web/*", "https://git.example.com/web/shop.git", true],
    ["https://git.example.com/web/*", "https://git.example.com.evil.io/web/shop.git", false],
    ["*.example.com", "CustomThing.example.com", true],
    ["*.example.com", "CustomThing.example.com.evil", false],
  ])("%j matches %j: %s", (pattern, value, expected) => {
    expect(matchesGlob(pattern, value)).toBe(expected);
  });

  it("matches when any pattern does", () => {
    expect(matchesAnyGlob(["a", "b-*"], "b-1")).toBe(true);
    expect(matchesAnyGlob(["a", "b-*"], "c")).toBe(false);
    expect(matchesAnyGlob([], "a")).toBe(false);
  });
});

describe("kindGroup", () => {
  it("names kinds kubectl style", () => {
    expect(kindGroup("Namespace", "")).toBe("Namespace");
    expect(kindGroup("ClusterRole", "rbac.authorization.k8s.io")).toBe("ClusterRole.rbac.authorization.k8s.io");
  });
});

describe("effectivePolicy", () => {
  it("allows only the target namespace without a policy", () => {
    expect(effectivePolicy(undefined, "shop")).toEqual({ team: "", namespaces: ["shop"], clusterResources: [] });
    expect(effectivePolicy(null, "")).toEqual({ team: "", namespaces: [], clusterResources: [] });
  });

  it("takes the policy as sent", () => {
    expect(
      effectivePolicy({ team: "web", namespaces: ["web-*"], clusterResources: ["PersistentVolume"] }, "web-1"),
    ).toEqual({ team: "web", namespaces: ["web-*"], clusterResources: ["PersistentVolume"] });
  });
});
