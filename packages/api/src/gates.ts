/**
 * What a wave must pass besides health, as a policy states it: metric analysis checks run during
 * the wave's bake, calendar windows that allow or deny rollouts, and (in `freeze.ts`) freezes an
 * operator sets. The hub's rollout engine decides with these; the hub only measures and reads.
 */

import { isDnsLabel } from "@flotilla/proto";
import { Cron } from "croner";
import { z } from "zod";
import { DNS_LABEL_REASON } from "./labels.js";
import { selectorSchema } from "./selector.js";

/** Seconds between two measurements of an analysis, when unset. */
export const DEFAULT_ANALYSIS_INTERVAL_SECONDS = 30;
/** Measurements an analysis takes (not counting inconclusive ones), when unset. */
export const DEFAULT_ANALYSIS_COUNT = 3;
/** Failed measurements an analysis tolerates, when unset: none. */
export const DEFAULT_ANALYSIS_FAILURE_LIMIT = 0;
/** Inconclusive measurements an analysis tolerates before it pauses the rollout, when unset. */
export const DEFAULT_ANALYSIS_INCONCLUSIVE_LIMIT = 2;
/** What a query that returns no sample counts as, when unset: a human should look. */
export const DEFAULT_ANALYSIS_NO_DATA = "inconclusive" as const;
/** Time zone of a window's schedule, when unset. */
export const DEFAULT_WINDOW_TIME_ZONE = "UTC";

/** The comparisons a success condition can make. */
export const ANALYSIS_OPERATORS = ["<", "<=", ">", ">="] as const;
export type AnalysisOperator = (typeof ANALYSIS_OPERATORS)[number];

/** When an analysis runs: during the wave's bake, or before the wave writes its first cluster. */
export const ANALYSIS_PHASES = ["bake", "prePromotion"] as const;
export type AnalysisPhase = (typeof ANALYSIS_PHASES)[number];

/** Placeholders a query may carry; they are replaced per cluster of the wave. */
const PLACEHOLDER = /\{\{\s*(cluster|labels\.[A-Za-z0-9_./-]+)\s*\}\}/g;
const ANY_PLACEHOLDER = /\{\{[^}]*\}\}/g;

/**
 * One metric check of a wave, a small version of Argo Rollouts' AnalysisTemplate: a PromQL
 * query whose first sample is compared with a threshold every `intervalSeconds`, `count` times.
 * `{{cluster}}` and `{{labels.<key>}}` in the query are replaced by each changed cluster's name
 * and labels, and the query is then run once per cluster; without them it runs once per round.
 */
export const analysisSchema = z
  .strictObject({
    /** Names the check in the rollout, its events and the CLI: a DNS label, unique in the wave. */
    name: z.string().refine(isDnsLabel, { message: DNS_LABEL_REASON }),
    /** PromQL, evaluated as an instant query against the hub's Prometheus (FLOTILLA_HUB_PROMETHEUS_URL). */
    query: z
      .string()
      .min(1, "must be a PromQL query")
      .max(4000)
      .superRefine((query, ctx) => {
        const bad = [...query.matchAll(ANY_PLACEHOLDER)]
          .map((m) => m[0])
          .filter((p) => !new RegExp(PLACEHOLDER.source).test(p));
        if (bad.length > 0)
          ctx.addIssue({
            code: "custom",
            message: `has placeholder ${bad[0]}; only {{cluster}} and {{labels.<key>}} are replaced`,
          });
      }),
    /** A measurement succeeds when the query's value satisfies `value <operator> threshold`. */
    successCondition: z.strictObject({
      operator: z.enum(ANALYSIS_OPERATORS, { error: `must be one of ${ANALYSIS_OPERATORS.join(" ")}` }),
      threshold: z.number({ error: "must be a number" }),
    }),
    /** What a query with no sample counts as. @default "inconclusive" */
    noData: z.enum(["failure", "success", "inconclusive"]).default(DEFAULT_ANALYSIS_NO_DATA),
    /** Seconds from the bake's start to the first measurement, and between two. @default 30 */
    intervalSeconds: z.number().int().min(1).max(3600).default(DEFAULT_ANALYSIS_INTERVAL_SECONDS),
    /** Conclusive measurements to take; the wave cannot complete before they are all in. @default 3 */
    count: z.number().int().min(1).max(100).default(DEFAULT_ANALYSIS_COUNT),
    /** Failed measurements tolerated; one more fails the wave (and rolls back, with autoRollback). @default 0 */
    failureLimit: z.number().int().min(0).max(100).default(DEFAULT_ANALYSIS_FAILURE_LIMIT),
    /**
     * Inconclusive measurements (no data when `noData` says so, or the query failed) tolerated;
     * one more pauses the rollout with the reason, until `resume` (which measures again) or `rollback`.
     * @default 2
     */
    inconclusiveLimit: z.number().int().min(0).max(100).default(DEFAULT_ANALYSIS_INCONCLUSIVE_LIMIT),
    /**
     * When it runs: `bake`, during the wave's bake, about the clusters the wave changed; or
     * `prePromotion`, when the wave's turn comes and before any of its clusters is written, about
     * the clusters it is about to write (is it safe to promote there now?). A pre-promotion check
     * that fails fails the rollout before the wave writes anything.
     * @default "bake"
     */
    phase: z.enum(ANALYSIS_PHASES).default("bake"),
  })
  .meta({ id: "Analysis", description: "a metric check run during a wave's bake, or before its promotion" });
export type Analysis = z.output<typeof analysisSchema>;
export type AnalysisInput = z.input<typeof analysisSchema>;

/** Whether a query names a cluster (then it runs once per cluster). */
export function isPerCluster(query: string): boolean {
  return new RegExp(PLACEHOLDER.source).test(query);
}

/** `query` with `{{cluster}}` and `{{labels.<key>}}` replaced; a missing label becomes "". */
export function substituteQuery(query: string, cluster: string, labels: Readonly<Record<string, string>>): string {
  return query.replace(new RegExp(PLACEHOLDER.source, "g"), (_, name: string) =>
    name === "cluster" ? cluster : (labels[name.slice("labels.".length)] ?? ""),
  );
}

/** The analyses of one wave: names unique. */
export const analysesSchema = z
  .array(analysisSchema)
  .max(10)
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((a, i) => {
      if (seen.has(a.name))
        ctx.addIssue({ code: "custom", path: [i, "name"], message: `analysis name "${a.name}" is used twice` });
      seen.add(a.name);
    });
  });

/**
 * A calendar window: from each time `schedule` fires (a cron expression: minute hour
 * day-of-month month day-of-week, optionally with seconds first), in `timeZone`, for
 * `durationSeconds`. `allow` windows: when the policy has any, waves start and clusters are
 * written only inside one. `deny` windows: never inside one. Deny wins over allow.
 */
export const windowSchema = z
  .strictObject({
    kind: z.enum(["allow", "deny"], { error: 'must be "allow" or "deny"' }),
    schedule: z.string().min(1),
    /** IANA time zone the schedule is read in, e.g. "Europe/Paris". @default "UTC" */
    timeZone: z.string().min(1).default(DEFAULT_WINDOW_TIME_ZONE),
    /** How long each window lasts from each start. */
    durationSeconds: z
      .number()
      .int()
      .min(1)
      .max(31 * 86_400),
    /** Shown in the reason a rollout waits. */
    description: z.string().max(200).optional(),
    /**
     * Only the environment's clusters this selects are held by the window; the others move as if
     * it were not there. Absent: the whole environment.
     */
    selector: selectorSchema.optional(),
  })
  .superRefine((w, ctx) => {
    if (!isTimeZone(w.timeZone)) {
      ctx.addIssue({
        code: "custom",
        path: ["timeZone"],
        message: `"${w.timeZone}" is not an IANA time zone; write one like "UTC" or "Europe/Paris"`,
      });
      return;
    }
    try {
      if (new Cron(w.schedule, { timezone: w.timeZone }).nextRun(new Date(0)) === null)
        ctx.addIssue({ code: "custom", path: ["schedule"], message: "never fires" });
    } catch (err) {
      ctx.addIssue({
        code: "custom",
        path: ["schedule"],
        message: `is not a cron schedule like "0 2 * * 1-5" (minute hour day month weekday): ${(err as Error).message}`,
      });
    }
  })
  .meta({ id: "Window", description: "a calendar window that allows or denies rollouts" });
export type Window = z.output<typeof windowSchema>;
export type WindowInput = z.input<typeof windowSchema>;

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
