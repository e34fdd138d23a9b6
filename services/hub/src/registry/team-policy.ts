/**
 * The team policy the hub puts in every desired state (see TEAM-POLICY.md): what the app's
 * objects may touch on a cluster, enforced by the agent. The rest of the policy (repo URLs, the
 * cluster selector) the hub enforces itself, when a repo or app is saved and when it picks an
 * app's clusters.
 */
import { type EffectiveTeamPolicy, effectiveTeamPolicy } from "@flotilla/api";
import type { TeamPolicyInit } from "@flotilla/proto";
import type { TeamRecord } from "../store.js";

/** The policy in force for the team named `teamName`, whose record is `team` (defaults when it has none). */
export function policyOfTeam(teamName: string, team: TeamRecord | undefined): EffectiveTeamPolicy {
  return effectiveTeamPolicy(teamName, team?.policy);
}

/**
 * The agent's part of the policy of team `teamName`: its namespaces (by default its own name
 * space, `<team>` and `<team>-*`) and its cluster-scoped kinds (by default none).
 */
export function teamPolicyOf(teamName: string, team: TeamRecord | undefined): TeamPolicyInit {
  const policy = policyOfTeam(teamName, team);
  return { team: teamName, namespaces: policy.namespaces, clusterResources: policy.clusterResources };
}
