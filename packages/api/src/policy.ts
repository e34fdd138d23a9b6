/**
 * An environment's rollout policy: its waves and their settings. Every field is optional and
 * every default is named here, so a client shows the same defaults the hub applies.
 *
 * Percentages resolve against the number of clusters in the wave when the rollout is planned:
 * `maxConcurrency` rounds UP (at least one cluster moves, so "25%" of 3 is 1, of 5 is 2) and
 * `failureBudget` rounds DOWN (a budget never tolerates more than asked, so "10%" of 9 is 0).
 * Offline clusters count in the wave's size.
 */

import { isDnsLabel } from "@flotilla/proto";
import { z } from "zod";
import { analysesSchema, windowSchema } from "./gates.js";
import { DNS_LABEL_REASON } from "./labels.js";
import { selectorSchema } from "./selector.js";

/** Concurrency of the first wave when unset: one cluster at a time, so a bad revision hurts one cluster. */
export const DEFAULT_FIRST_WAVE_MAX_CONCURRENCY = 1;
/** Concurrency of every later wave (and of the implicit wave after explicit ones) when unset. */
export const DEFAULT_MAX_CONCURRENCY: Percentage = "25%";
/** Seconds a wave must stay healthy after its last cluster turned healthy, when unset. */
export const DEFAULT_BAKE_SECONDS = 60;
/** Failed clusters a wave tolerates when unset: none. */
export const DEFAULT_FAILURE_BUDGET = 0;
/** Whether promotion into a wave waits for `promote`, when unset. */
export const DEFAULT_REQUIRE_APPROVAL = false;
/** Seconds a cluster has, from dispatch, to report the new revision Healthy (as Kubernetes Deployments). */
export const DEFAULT_PROGRESS_DEADLINE_SECONDS = 600;
/** Whether a failed rollout rolls every cluster that received the revision back to the last good one. */
export const DEFAULT_AUTO_ROLLBACK = true;
/** What offline clusters do when unset: hold the wave until they return. */
export const DEFAULT_OFFLINE_CLUSTERS = "block" as const;
/** Name of the wave that collects clusters no explicit wave selects; reserved. */
export const IMPLICIT_WAVE_NAME = "remaining";

/**
 * What offline clusters do. `block`: an offline cluster is written only once it is back, and its
 * wave cannot complete until then. `skip`: it is marked skipped when its turn comes, and reported.
 */
export const offlinePolicySchema = z.enum(["block", "skip"]);

const PERCENTAGE = /^(100|[1-9]?[0-9])%$/;

/**
 * A share of a wave's clusters, e.g. `"25%"`: a whole number from 0 to 100 followed by `%`. The
 * template literal gives the type; the refinement the range, which the document states as a pattern.
 */
function percentageSchema(min: number, error: string) {
  return z
    .templateLiteral([z.number(), "%"], { error })
    .refine((p) => PERCENTAGE.test(p) && Number.parseInt(p, 10) >= min, { error })
    .meta({ pattern: PERCENTAGE.source });
}

/** A share of a wave's clusters, e.g. `"25%"`. */
export type Percentage = `${number}%`;

function amountSchema(min: number, error: string) {
  return z.union([z.number({ error }).int({ error }).min(min, { error }), percentageSchema(min, error)], { error });
}

const concurrencySchema = amountSchema(
  1,
  'must be a whole number of clusters (at least 1) or a percentage from "1%" to "100%"',
);

const budgetSchema = amountSchema(
  0,
  'must be a whole number of failed clusters (0 or more) or a percentage from "0%" to "100%"',
);

const waveSettingsShape = {
  /** Clusters written at once in this wave; a slot frees when a cluster turns healthy (or fails).
   * @default 1 for the first wave, "25%" for later waves */
  maxConcurrency: concurrencySchema.optional(),
  /** Seconds the whole wave must stay healthy before the next wave starts. @default 60 */
  bakeSeconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400)
    .optional(),
  /** Failed clusters tolerated in this wave; one more fails the rollout. @default 0 */
  failureBudget: budgetSchema.optional(),
  /** Promotion into this wave waits for `promote`. @default false */
  requireApproval: z.boolean().optional(),
  /** Metric checks run during this wave's bake; a failing one fails the wave (see gates.ts). @default [] */
  analysis: analysesSchema.optional(),
};

const waveSchema = z.strictObject({
  /** Shown in the API and used as a metrics label: a DNS label, unique in the policy, not "remaining". */
  name: z.string().refine(isDnsLabel, { message: DNS_LABEL_REASON }),
  /** Clusters of the environment this wave takes (those no earlier wave took). @default {} (all) */
  selector: selectorSchema.default({}),
  ...waveSettingsShape,
});

/**
 * The rollout policy of one environment. Every field is optional; `{}` is a valid, safe policy:
 * one wave of all clusters, one at a time, no failures tolerated, automatic rollback.
 */
export const policySchema = z
  .strictObject({
    /** Ordered waves; each cluster goes to the first wave whose selector it matches. @default [] */
    waves: z.array(waveSchema).default([]),
    /** Settings of the implicit last wave of clusters no wave selects. @default first-wave defaults when there are no waves */
    remaining: z.strictObject(waveSettingsShape).default({}),
    /** Seconds a cluster has from dispatch to report the new revision Healthy. @default 600 */
    progressDeadlineSeconds: z
      .number()
      .int()
      .min(1)
      .max(7 * 86_400)
      .default(DEFAULT_PROGRESS_DEADLINE_SECONDS),
    /** Roll back every cluster that received the revision when the rollout fails. @default true */
    autoRollback: z.boolean().default(DEFAULT_AUTO_ROLLBACK),
    /** What offline clusters do (see {@link offlinePolicySchema}). @default "block" */
    offlineClusters: offlinePolicySchema.default(DEFAULT_OFFLINE_CLUSTERS),
    /** Calendar windows that allow or deny starting waves and writing clusters (see gates.ts). @default [] */
    windows: z.array(windowSchema).max(50).default([]),
  })
  .superRefine((policy, ctx) => {
    const seen = new Set<string>();
    policy.waves.forEach((wave, i) => {
      if (wave.name === IMPLICIT_WAVE_NAME)
        ctx.addIssue({
          code: "custom",
          path: ["waves", i, "name"],
          message: `"${IMPLICIT_WAVE_NAME}" is reserved for the implicit last wave; configure it under "remaining"`,
        });
      else if (seen.has(wave.name))
        ctx.addIssue({ code: "custom", path: ["waves", i, "name"], message: `wave name "${wave.name}" is used twice` });
      seen.add(wave.name);
    });
  })
  .meta({
    id: "Policy",
    description: "An environment's rollout policy; {} is one wave of all clusters, one at a time",
  });

/** A parsed rollout policy. */
export type Policy = z.output<typeof policySchema>;
/** A rollout policy as written by a user (every field optional). */
export type PolicyInput = z.input<typeof policySchema>;
/** A wave as written by a user. */
export type WaveInput = PolicyInput["waves"] extends (infer W)[] | undefined ? W : never;
/** What offline clusters do. */
export type OfflinePolicy = Policy["offlineClusters"];
/** The settings one wave can carry. */
export type WaveSettings = Policy["remaining"];
