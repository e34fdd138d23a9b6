/**
 * Label selectors for waves and apps. Two spellings: a map of label equalities
 * (`{ tier: "canary" }`, every pair must match), or a Kubernetes selector string
 * (`"tier=canary,region in (eu,us),!legacy"`). An empty map or string matches every cluster.
 */

import { z } from "zod";
import { SelectorSyntaxError } from "./errors.js";
import { LABEL_KEY, LABEL_VALUE } from "./labels.js";

/** A label selector: equality map, or a Kubernetes-style selector string. */
export type Selector = Record<string, string> | string;

/** One parsed term of a selector. `!=` and `notin` also match clusters without the label, as in Kubernetes. */
export interface LabelRequirement {
  key: string;
  operator: "=" | "!=" | "in" | "notin" | "exists" | "!exists";
  values: string[];
}

const SET_TERM = /^(\S+)\s+(in|notin)\s*\((.*)\)$/;
const EQUALITY_TERM = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/;

/** Parses a selector into requirements; throws SelectorSyntaxError naming the bad term. */
export function parseSelector(selector: Selector): LabelRequirement[] {
  if (typeof selector !== "string") {
    return Object.entries(selector).map(([key, value]) => {
      checkKey(JSON.stringify(selector), key);
      checkValue(JSON.stringify(selector), key, value);
      return { key, operator: "=" as const, values: [value] };
    });
  }
  return splitTerms(selector).map((term) => parseTerm(selector, term));
}

/** Whether `labels` satisfy every requirement of `selector`. */
export function matchesSelector(
  selector: Selector | readonly LabelRequirement[],
  labels: Record<string, string>,
): boolean {
  const requirements = Array.isArray(selector) ? selector : parseSelector(selector as Selector);
  return requirements.every((r) => matches(r, labels));
}

function matches(requirement: LabelRequirement, labels: Record<string, string>): boolean {
  const value = Object.hasOwn(labels, requirement.key) ? labels[requirement.key] : undefined;
  switch (requirement.operator) {
    case "=":
    case "in":
      return value !== undefined && requirement.values.includes(value);
    case "!=":
    case "notin":
      return value === undefined || !requirement.values.includes(value);
    case "exists":
      return value !== undefined;
    case "!exists":
      return value === undefined;
  }
}

/** Splits on commas outside parentheses, so `a in (x,y),b` is two terms. */
function splitTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    const ch = selector[i];
    if (ch === "(") depth++;
    else if (ch === ")") depth--;
    else if (ch === "," && depth === 0) {
      terms.push(selector.slice(start, i));
      start = i + 1;
    }
    if (depth < 0 || depth > 1) throw new SelectorSyntaxError(selector, "unbalanced parentheses");
  }
  if (depth !== 0) throw new SelectorSyntaxError(selector, "unbalanced parentheses");
  terms.push(selector.slice(start));
  const trimmed = terms.map((t) => t.trim());
  if (trimmed.length === 1 && trimmed[0] === "") return [];
  if (trimmed.includes("")) throw new SelectorSyntaxError(selector, "empty term between commas");
  return trimmed;
}

function parseTerm(selector: string, term: string): LabelRequirement {
  const set = SET_TERM.exec(term);
  if (set) {
    const [, key = "", op, list = ""] = set;
    checkKey(selector, key);
    const values = list.split(",").map((v) => v.trim());
    if (values.length === 1 && values[0] === "")
      throw new SelectorSyntaxError(selector, `${term}: give at least one value in the parentheses`);
    for (const v of values) checkValue(selector, key, v);
    return { key, operator: op === "in" ? "in" : "notin", values };
  }
  const equality = EQUALITY_TERM.exec(term);
  if (equality) {
    const [, key = "", op, value = ""] = equality;
    checkKey(selector, key);
    checkValue(selector, key, value);
    return { key, operator: op === "!=" ? "!=" : "=", values: [value] };
  }
  if (term.startsWith("!")) {
    const key = term.slice(1).trim();
    checkKey(selector, key);
    return { key, operator: "!exists", values: [] };
  }
  if (LABEL_KEY.test(term)) return { key: term, operator: "exists", values: [] };
  throw new SelectorSyntaxError(
    selector,
    `cannot parse ${JSON.stringify(term)}: use key=value, key!=value, key in (a,b), key notin (a,b), key or !key`,
  );
}

function checkKey(selector: string, key: string): void {
  if (!LABEL_KEY.test(key))
    throw new SelectorSyntaxError(
      selector,
      `${JSON.stringify(key)} is not a label key (e.g. tier, example.com/region)`,
    );
}

function checkValue(selector: string, key: string, value: string): void {
  if (!LABEL_VALUE.test(value))
    throw new SelectorSyntaxError(
      selector,
      `value ${JSON.stringify(value)} of ${key} is not a label value (at most 63 letters, digits, '-', '_' or '.')`,
    );
}

/** A selector that must parse; the error names the bad term. */
export const selectorSchema = z
  .union([z.record(z.string(), z.string()), z.string()], {
    error: 'must be a map of label equalities or a selector string like "tier=canary,region in (eu,us)"',
  })
  .superRefine((selector, ctx) => {
    try {
      parseSelector(selector);
    } catch (err) {
      if (!(err instanceof SelectorSyntaxError)) throw err;
      ctx.addIssue({ code: "custom", message: err.reason });
    }
  })
  .meta({ description: 'map of label equalities, or a selector string like "tier=canary,region in (eu,us),!legacy"' });
