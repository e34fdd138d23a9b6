/**
 * The health rules a desired state carries: the team's, then the app's, the app's replacing
 * the team's for the same kind, in the wire form the agent compiles (docs/health.md).
 */

import type { HealthCheck } from "@flotilla/api";
import type { HealthRuleInit } from "@flotilla/proto";

type WireRule = Required<Omit<HealthRuleInit, "$unknowns">>;

/** Wire form of one rule, every field present so that fingerprints compare equal after a round trip. */
function toRule(c: HealthCheck): WireRule {
  return {
    group: c.group,
    kind: c.kind,
    current: c.current ?? "",
    failed: c.failed ?? "",
    inProgress: c.inProgress ?? "",
    deadlineSeconds: c.deadlineSeconds ?? 0,
  };
}

/**
 * The rules for one app: `team` first (a team's rules, from its policy), then `app`; a kind
 * both name keeps only the app's rule, at the team rule's place.
 */
export function mergeHealthChecks(team: readonly HealthCheck[], app: readonly HealthCheck[]): HealthRuleInit[] {
  const byKind = new Map<string, WireRule>();
  for (const c of [...team, ...app]) byKind.set(`${c.group}/${c.kind}`, toRule(c));
  return [...byKind.values()];
}

/** A rule list as a fingerprint input: absent fields as their proto defaults. */
export function healthRulesInput(rules: readonly HealthRuleInit[] | null | undefined): unknown[] {
  return (rules ?? []).map((r) => [
    r.group ?? "",
    r.kind ?? "",
    r.current ?? "",
    r.failed ?? "",
    r.inProgress ?? "",
    Number(r.deadlineSeconds ?? 0),
  ]);
}
