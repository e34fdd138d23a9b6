/**
 * The team policy's matching rules, shared by the hub (which checks an app's namespace and a
 * repo's URL when they are saved) and the agent (which checks every rendered object), so that
 * both ends read a pattern the same way.
 *
 * A glob is a whole-string pattern where `*` matches any run of characters (including none) and
 * every other character matches itself. Nothing else is special, so a namespace or URL pattern
 * cannot be misread as a regular expression.
 */
import type { flotilla } from "./gen/flotilla.js";

/** The agent-relevant part of a team's policy as it travels in a desired state. */
export type TeamPolicyInit = flotilla.v1.TeamPolicy.$Properties;

/** Whether `value` matches `pattern` as a whole, `*` matching any run of characters. */
export function matchesGlob(pattern: string, value: string): boolean {
  const parts = pattern.split("*");
  const first = parts[0] ?? "";
  const last = parts[parts.length - 1] ?? "";
  if (parts.length === 1) return pattern === value;
  if (!value.startsWith(first) || value.length < first.length + last.length || !value.endsWith(last)) return false;
  let at = first.length;
  const end = value.length - last.length;
  for (const part of parts.slice(1, -1)) {
    const found = value.indexOf(part, at);
    if (found < 0 || found + part.length > end) return false;
    at = found + part.length;
  }
  return true;
}

/** Whether any of `patterns` matches `value`. */
export function matchesAnyGlob(patterns: readonly string[], value: string): boolean {
  return patterns.some((p) => matchesGlob(p, value));
}

/** `Kind.group`, kubectl style (`Kind` alone for the core group): how policies name kinds. */
export function kindGroup(kind: string, group: string): string {
  return group ? `${kind}.${group}` : kind;
}

/** The rules a desired state's policy sets, with the defaults of an absent policy filled in. */
export interface EffectivePolicy {
  /** Team name, for messages; empty when the desired state carried no policy. */
  team: string;
  namespaces: readonly string[];
  clusterResources: readonly string[];
}

/**
 * The policy in force for one desired state. Without one (a hub older than team policies), only
 * the app's target namespace is allowed and no cluster-scoped kind: least privilege.
 */
export function effectivePolicy(policy: TeamPolicyInit | null | undefined, targetNamespace: string): EffectivePolicy {
  if (!policy) return { team: "", namespaces: targetNamespace ? [targetNamespace] : [], clusterResources: [] };
  return {
    team: policy.team ?? "",
    namespaces: [...(policy.namespaces ?? [])],
    clusterResources: [...(policy.clusterResources ?? [])],
  };
}
