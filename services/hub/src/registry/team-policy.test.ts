import { describe, expect, it } from "vitest";
import { teamPolicyOf } from "./team-policy.js";

describe("teamPolicyOf", () => {
  it("gives a team without a policy its own name space and no cluster-scoped kind", () => {
    const least = { team: "web", namespaces: ["web", "web-*"], clusterResources: [] };
    expect(teamPolicyOf("web", { name: "web" })).toEqual(least);
    expect(teamPolicyOf("web", undefined)).toEqual(least);
    expect(teamPolicyOf("web", { name: "web", policy: { repoUrls: ["https://git.example.com/*"] } })).toEqual(least);
  });

  it("sends the team's own namespaces and kinds, and nothing the agent does not enforce", () => {
    const team = {
      name: "web",
      policy: {
        namespaces: ["web", "shop"],
        clusterResources: ["ClusterRole.rbac.authorization.k8s.io"],
        clusterSelector: { tier: "shared" },
      },
    };
    expect(teamPolicyOf("web", team)).toEqual({
      team: "web",
      namespaces: ["web", "shop"],
      clusterResources: ["ClusterRole.rbac.authorization.k8s.io"],
    });
  });
});
