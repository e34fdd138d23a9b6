import { describe, expect, it } from "vitest";
import type { TeamRecord } from "../store.js";
import { teamPolicyOf } from "./team-policy.js";

describe("teamPolicyOf", () => {
  it("allows only the app's namespace and no cluster-scoped kind when the team sets no policy", () => {
    expect(teamPolicyOf("web", { name: "web" }, "shop")).toEqual({
      team: "web",
      namespaces: ["shop"],
      clusterResources: [],
    });
    expect(teamPolicyOf("web", undefined, "shop")).toEqual({ team: "web", namespaces: ["shop"], clusterResources: [] });
  });

  it("sends the team's own policy when its record has one", () => {
    const team: TeamRecord & { policy: unknown } = {
      name: "web",
      policy: { namespaces: ["web", "web-*"], clusterResources: ["ClusterRole.rbac.authorization.k8s.io"] },
    };
    expect(teamPolicyOf("web", team, "shop")).toEqual({
      team: "web",
      namespaces: ["web", "web-*"],
      clusterResources: ["ClusterRole.rbac.authorization.k8s.io"],
    });
  });
});
