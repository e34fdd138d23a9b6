/**
 * Health rules in CEL, for kinds whose status the agent's built-in rules cannot read. The hub
 * checks them when an app is saved and the agent compiles them once per desired state, with
 * the same environment, so an expression the hub accepts is one the agent can run.
 *
 * An expression sees the object's top-level fields as variables (`metadata`, `spec`,
 * `status`; `{}` when absent), as Flux's `healthCheckExprs` do, and the whole object as
 * `self`. It must yield a bool. CEL's optional syntax (`status.?phase.orValue('')`) is on.
 */
import { Environment } from "@marcbachmann/cel-js";
import { InvalidHealthRuleError } from "./errors.js";
import type { flotilla } from "./gen/flotilla.js";

export type HealthRuleInit = flotilla.v1.HealthRule.$Properties;

/** The expression fields of a rule, in the order the agent evaluates them. */
export const HEALTH_RULE_EXPRESSIONS = ["inProgress", "failed", "current"] as const;
export type HealthRuleExpressionField = (typeof HEALTH_RULE_EXPRESSIONS)[number];

/** Longest expression accepted: rules are a few conditions, not programs. */
export const MAX_HEALTH_EXPRESSION_LENGTH = 2_000;

/** The variables an expression may name. */
const VARIABLES = ["self", "metadata", "spec", "status"] as const;

const environment = (() => {
  // Parse-time limits keep one evaluation small: it runs for every object on every health poll.
  const env = new Environment({ enableOptionalTypes: true, limits: { maxAstNodes: 500, maxDepth: 32 } });
  for (const v of VARIABLES) env.registerVariable(v, "dyn");
  return env;
})();

/** One compiled expression. */
export interface HealthExpression {
  readonly source: string;
  /** True or false for `obj`; throws when the expression fails on it (a missing field, a non-bool). */
  evaluate(obj: Readonly<Record<string, unknown>>): boolean;
}

const EMPTY = Object.freeze({});

function section(obj: Readonly<Record<string, unknown>>, key: string): unknown {
  const v = obj[key];
  return typeof v === "object" && v !== null ? v : EMPTY;
}

/** The name a rule goes by in errors and reports: `example.com/Widget`, or `Service` for the core group. */
export function healthRuleName(rule: Pick<HealthRuleInit, "group" | "kind">): string {
  return rule.group ? `${rule.group}/${rule.kind ?? ""}` : (rule.kind ?? "");
}

/**
 * Compiles one expression; throws InvalidHealthRuleError naming `rule` and `field` when it does
 * not parse, names an unknown variable, or cannot yield a bool.
 */
export function compileHealthExpression(rule: string, field: string, source: string): HealthExpression {
  if (source.length > MAX_HEALTH_EXPRESSION_LENGTH) {
    throw new InvalidHealthRuleError(rule, field, `longer than ${MAX_HEALTH_EXPRESSION_LENGTH} characters`);
  }
  const checked = environment.check(source);
  if (!checked.valid) {
    throw new InvalidHealthRuleError(rule, field, firstLine(checked.error?.message ?? "does not compile"));
  }
  if (checked.type !== "bool" && checked.type !== "dyn") {
    throw new InvalidHealthRuleError(rule, field, `yields ${checked.type}, not bool`);
  }
  const program = environment.parse(source);
  return {
    source,
    evaluate(obj) {
      const value = program({
        self: obj,
        metadata: section(obj, "metadata"),
        spec: section(obj, "spec"),
        status: section(obj, "status"),
      });
      if (typeof value !== "boolean") throw new Error(`yielded ${typeof value}, not bool`);
      return value;
    },
  };
}

function firstLine(message: string): string {
  return message.split("\n")[0]?.trim() ?? message;
}
