/**
 * Custom health rules: CEL expressions per kind, from the desired state (the team's rules,
 * then the app's), compiled once per desired state and evaluated for each object of the kind.
 */
import {
  compileHealthExpression,
  type HealthExpression,
  type HealthRuleInit,
  healthRuleName,
  InvalidHealthRuleError,
} from "@flotilla/proto";
import type { KubeObject } from "../objects.js";
import { type Assessment, degraded, healthy, kindKey, progressing } from "./status.js";

/** One rule, ready to run. */
export interface CompiledRule {
  /** `group/Kind`, or `Kind` for the core group, as reports name it. */
  readonly name: string;
  readonly inProgress?: HealthExpression;
  readonly failed?: HealthExpression;
  readonly current?: HealthExpression;
  /** The kind's own progress deadline; undefined keeps the app's or the agent's. */
  readonly deadlineMs?: number;
}

/** Rules by {@link kindKey}. */
export type HealthRules = ReadonlyMap<string, CompiledRule>;

export const NO_HEALTH_RULES: HealthRules = new Map();

/**
 * Compiles the rules of one desired state; a later rule for the same kind replaces an
 * earlier one (the app's over the team's). Throws InvalidHealthRuleError naming the first
 * rule whose expression does not compile.
 */
export function compileHealthRules(rules: readonly HealthRuleInit[]): HealthRules {
  if (rules.length === 0) return NO_HEALTH_RULES;
  const compiled = new Map<string, CompiledRule>();
  rules.forEach((rule, i) => {
    const name = healthRuleName(rule);
    const label = `health rule ${i + 1} (${name || "no kind"})`;
    if (!rule.kind) throw new InvalidHealthRuleError(label, "kind", "required");
    const expr = (field: "inProgress" | "failed" | "current") => {
      const source = rule[field];
      return source ? compileHealthExpression(label, field, source) : undefined;
    };
    compiled.set(kindKey(rule.group ?? "", rule.kind), {
      name,
      inProgress: expr("inProgress"),
      failed: expr("failed"),
      current: expr("current"),
      deadlineMs: rule.deadlineSeconds ? rule.deadlineSeconds * 1000 : undefined,
    });
  });
  return compiled;
}

/**
 * The verdict of a rule with expressions: `inProgress` true is Progressing, `failed` true
 * Degraded, `current` true Healthy, none Progressing. An expression that fails on the object
 * (a field not there yet) is Progressing with the error: the object has not converged to a
 * shape the rule can read.
 */
export function ruleVerdict(rule: CompiledRule, obj: KubeObject): Assessment {
  const steps: [keyof CompiledRule & ("inProgress" | "failed" | "current"), (m: string) => Assessment][] = [
    ["inProgress", progressing],
    ["failed", degraded],
    ["current", healthy],
  ];
  for (const [field, verdict] of steps) {
    const expr = rule[field];
    if (!expr) continue;
    let holds: boolean;
    try {
      holds = expr.evaluate(obj);
    } catch (err) {
      return progressing(
        `health rule ${rule.name}: ${field} cannot be evaluated yet: ${(err as Error).message.split("\n")[0]}`,
      );
    }
    if (holds) return verdict(`health rule ${rule.name}: ${field} holds (${expr.source})`);
  }
  return progressing(`health rule ${rule.name}: current does not hold yet (${rule.current?.source ?? ""})`);
}
