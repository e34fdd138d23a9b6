import { describe, expect, it } from "vitest";
import { teamSpecSchema } from "./resources.js";
import { effectiveTeamPolicy, namespaceBreach, repoUrlBreach, teamMayTarget } from "./team-policy.js";

describe("a team's policy", () => {
  it("defaults to the team's own name space, no cluster-scoped kind, any repo URL, every cluster", () => {
    expect(effectiveTeamPolicy("web", undefined)).toEqual({
      team: "web",
      namespaces: ["web", "web-*"],
      clusterResources: [],
      repoUrls: ["*"],
    });
    expect(effectiveTeamPolicy("web", { namespaces: ["shop"] }).namespaces).toEqual(["shop"]);
  });

  it.each([
    ["web", undefined],
    ["web-api", undefined],
    ["webapi", "namespace webapi is not allowed by team web's policy.namespaces (web, web-*)"],
    ["shop", "namespace shop is not allowed by team web's policy.namespaces (web, web-*)"],
  ])("namespace %s: %s", (namespace, reason) => {
    expect(namespaceBreach(effectiveTeamPolicy("web", undefined), namespace)?.reason).toBe(reason);
  });

  it("checks repo URLs against its globs, naming the rule", () => {
    const policy = effectiveTeamPolicy("web", { repoUrls: ["https://git.example.com/web/*"] });
    expect(repoUrlBreach(policy, "https://git.example.com/web/shop.git")).toBeUndefined();
    expect(repoUrlBreach(policy, "https://git.example.com/ops/infra.git")).toEqual({
      field: "url",
      rule: "policy.repoUrls",
      reason:
        "https://git.example.com/ops/infra.git is not allowed by team web's policy.repoUrls (https://git.example.com/web/*)",
    });
    expect(repoUrlBreach(effectiveTeamPolicy("web", undefined), "https://anywhere/x.git")).toBeUndefined();
  });

  it("targets only the clusters its selector matches, in either selector form", () => {
    const map = effectiveTeamPolicy("web", { clusterSelector: { tier: "shared" } });
    const text = effectiveTeamPolicy("web", { clusterSelector: "tier!=restricted" });
    expect(teamMayTarget(map, { tier: "shared" })).toBe(true);
    expect(teamMayTarget(map, { tier: "restricted" })).toBe(false);
    expect(teamMayTarget(text, {})).toBe(true);
    expect(teamMayTarget(text, { tier: "restricted" })).toBe(false);
    expect(teamMayTarget(effectiveTeamPolicy("web", undefined), { tier: "restricted" })).toBe(true);
  });

  it("is refused in a spec when a pattern or selector cannot be read, naming the field", () => {
    const bad = (policy: unknown) => teamSpecSchema.safeParse({ policy }).error?.issues[0]?.path.join(".");
    expect(bad({ namespaces: ["Web"] })).toBe("policy.namespaces.0");
    expect(bad({ clusterResources: ["cluster role"] })).toBe("policy.clusterResources.0");
    expect(bad({ clusterSelector: "tier in (a" })).toBe("policy.clusterSelector");
    expect(bad({ unknown: true })).toBe("policy");
    expect(
      teamSpecSchema.safeParse({ policy: { namespaces: ["web-*"], clusterResources: ["*.example.com"] } }).success,
    ).toBe(true);
  });
});
