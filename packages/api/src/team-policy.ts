/**
 * A team's policy: what its apps may touch and where its repos may live (TEAM-POLICY.md). The
 * hub refuses a repo or app that breaks it when it is saved, targets the team's apps only at the
 * clusters its selector matches, and sends the agent-relevant part (namespaces, cluster-scoped
 * kinds) inside every signed desired state, where the agent enforces it.
 *
 * Every field is optional; the defaults are least privilege: the team's own name space, no
 * cluster-scoped kind, any repo URL the hub's own URL rules allow, every cluster.
 */
import { matchesAnyGlob } from "@flotilla/proto";
import { z } from "zod";
import { matchesSelector, type Selector, selectorSchema } from "./selector.js";

/** Namespace globs: DNS-label characters and `*`. */
const NAMESPACE_GLOB = /^[a-z0-9*]([-a-z0-9*]{0,61}[a-z0-9*])?$/;
/** `Kind.group` globs, kubectl style: a kind (or `*`), then optionally `.` and a group. */
const KIND_GROUP_GLOB = /^[A-Za-z0-9*]+(\.[a-z0-9*]([-a-z0-9.*]*[a-z0-9*])?)?$/;

/** A team's policy as written in its spec. */
export const teamPolicySchema = z
  .strictObject({
    /**
     * Namespaces the team's apps may deploy into: globs, `*` any run of characters. An app's
     * `namespace` must match one, and so must every namespaced object it renders.
     * @default ["<team>", "<team>-*"]
     */
    namespaces: z
      .array(z.string().regex(NAMESPACE_GLOB, "must be a namespace name or a glob of one, like web-*"))
      .max(100)
      .optional(),
    /**
     * Cluster-scoped kinds the team's apps may hold, as `Kind.group` globs (`Kind` alone for the
     * core group): `ClusterRole.rbac.authorization.k8s.io`, `*.example.com`. @default []
     */
    clusterResources: z
      .array(z.string().regex(KIND_GROUP_GLOB, "must be Kind.group, like ClusterRole.rbac.authorization.k8s.io"))
      .max(100)
      .optional(),
    /** Repo URLs the team may register: globs over the whole URL. @default ["*"] */
    repoUrls: z.array(z.string().min(1).max(2048)).max(100).optional(),
    /**
     * Clusters the team's apps may target (a map of label equalities or a selector string, as
     * waves take); an app's own clusterSelector narrows it further. @default every cluster
     */
    clusterSelector: selectorSchema.optional(),
  })
  .meta({ id: "TeamPolicy" });
export type TeamPolicySpec = z.output<typeof teamPolicySchema>;

/** A team's policy with every default filled in. */
export interface EffectiveTeamPolicy {
  team: string;
  namespaces: string[];
  clusterResources: string[];
  repoUrls: string[];
  clusterSelector?: Selector;
}

/** The namespaces a team's apps may use when its policy names none: its own name space. */
export function defaultTeamNamespaces(team: string): string[] {
  return [team, `${team}-*`];
}

/** The policy in force for `team`, its defaults filled in (see {@link teamPolicySchema}). */
export function effectiveTeamPolicy(team: string, policy: TeamPolicySpec | undefined): EffectiveTeamPolicy {
  return {
    team,
    namespaces: [...(policy?.namespaces ?? defaultTeamNamespaces(team))],
    clusterResources: [...(policy?.clusterResources ?? [])],
    repoUrls: [...(policy?.repoUrls ?? ["*"])],
    ...(policy?.clusterSelector !== undefined ? { clusterSelector: policy.clusterSelector } : {}),
  };
}

/** A rule of a team's policy that an object breaks: which rule and why, in one line. */
export interface PolicyBreach {
  /** The field of the object at fault (`url`, `namespace`). */
  field: string;
  /** The rule, as `policy.<field>` of the team. */
  rule: "policy.repoUrls" | "policy.namespaces";
  reason: string;
}

/** Why a repo URL breaks the team's policy, or undefined when it does not. */
export function repoUrlBreach(policy: EffectiveTeamPolicy, url: string): PolicyBreach | undefined {
  if (matchesAnyGlob(policy.repoUrls, url)) return undefined;
  return {
    field: "url",
    rule: "policy.repoUrls",
    reason: `${url} is not allowed by team ${policy.team}'s policy.repoUrls (${policy.repoUrls.join(", ")})`,
  };
}

/** Why an app's namespace breaks the team's policy, or undefined when it does not. */
export function namespaceBreach(policy: EffectiveTeamPolicy, namespace: string): PolicyBreach | undefined {
  if (matchesAnyGlob(policy.namespaces, namespace)) return undefined;
  return {
    field: "namespace",
    rule: "policy.namespaces",
    reason: `namespace ${namespace} is not allowed by team ${policy.team}'s policy.namespaces (${policy.namespaces.join(", ")})`,
  };
}

/** Whether a cluster with `labels` is one the team's apps may target. */
export function teamMayTarget(policy: EffectiveTeamPolicy, labels: Record<string, string>): boolean {
  return policy.clusterSelector === undefined || matchesSelector(policy.clusterSelector, labels);
}
