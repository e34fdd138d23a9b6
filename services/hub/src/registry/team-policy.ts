/**
 * The team policy the hub puts in every desired state (see TEAM-POLICY.md): what the app's
 * objects may touch on a cluster, enforced by the agent.
 */
import type { TeamPolicyInit } from "@flotilla/proto";
import type { TeamRecord } from "../store.js";

function strings(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === "string") ? value : undefined;
}

/**
 * The policy of an app of team `teamName` deploying into `appNamespace`: the team's own
 * `policy` when its record has one; otherwise only the app's own namespace and no
 * cluster-scoped kind, so an app can touch nothing beyond what it was registered for.
 */
export function teamPolicyOf(teamName: string, team: TeamRecord | undefined, appNamespace: string): TeamPolicyInit {
  const own = team && "policy" in team && typeof team.policy === "object" && team.policy !== null ? team.policy : {};
  const namespaces = "namespaces" in own ? strings(own.namespaces) : undefined;
  const clusterResources = "clusterResources" in own ? strings(own.clusterResources) : undefined;
  return {
    team: teamName,
    namespaces: namespaces ?? [appNamespace],
    clusterResources: clusterResources ?? [],
  };
}
