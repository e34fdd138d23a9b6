/**
 * Freezes: an operator's "no new changes now", for the whole fleet or one environment. A frozen
 * rollout starts no wave and writes no new cluster; clusters already written are still judged and
 * rolled back if they fail, so a freeze never strands a bad release half-way.
 */
import { z } from "zod";
import { nameSchema } from "./labels.js";
import { type Selector, selectorSchema } from "./selector.js";

const reasonSchema = z.string().trim().min(1, 'must say why, e.g. "incident 4711"').max(500);

/** The body of `PUT /v1/freeze` (the fleet): why, in words that end up in every held rollout. */
export const fleetFreezeRequestSchema = z.strictObject({ reason: reasonSchema }).meta({ id: "FleetFreezeRequest" });
export type FleetFreezeRequest = z.output<typeof fleetFreezeRequestSchema>;

/** The body of `PUT /v1/environments/{env}/freeze`: why, and optionally which of its clusters. */
export const freezeRequestSchema = z
  .strictObject({
    reason: reasonSchema,
    /** Only the environment's clusters this selects wait; the others move on. Absent: the whole environment. */
    selector: selectorSchema.optional(),
  })
  .meta({ id: "FreezeRequest" });
export type FreezeRequest = z.output<typeof freezeRequestSchema>;

/** A freeze in force. */
export const freezeSchema = z
  .object({
    scope: z.enum(["fleet", "environment"]),
    environment: nameSchema.optional().describe("with scope environment: which one"),
    reason: z.string(),
    selector: selectorSchema.optional().describe("only the environment's clusters this selects are frozen"),
    by: z.string().describe("the token (or admin) that set it"),
    atMs: z.number(),
  })
  .meta({ id: "Freeze" });
export type Freeze = z.output<typeof freezeSchema>;

/** `GET /v1/freezes`. */
export const freezeListSchema = z.object({ items: z.array(freezeSchema) }).meta({ id: "FreezeList" });
export type FreezeList = z.output<typeof freezeListSchema>;

/** Words for a held rollout: `environment prod is frozen by admin: incident 4711`. */
export function describeFreeze(f: Freeze): string {
  const what =
    f.scope === "fleet"
      ? "the fleet is frozen"
      : f.selector !== undefined
        ? `clusters ${describeSelector(f.selector)} of environment ${f.environment ?? ""} are frozen`
        : `environment ${f.environment ?? ""} is frozen`;
  return `${what} by ${f.by}: ${f.reason}`;
}

/** A selector in words: `tier=canary,region=eu` for a map, the string as written otherwise. */
export function describeSelector(selector: Selector): string {
  return typeof selector === "string"
    ? selector
    : Object.entries(selector)
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
}
