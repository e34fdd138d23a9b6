/**
 * An environment's rollout policy and how it splits the environment's clusters into waves.
 *
 * Percentages resolve against the number of clusters in the wave when the rollout is planned:
 * `maxConcurrency` rounds UP (at least one cluster moves, so "25%" of 3 is 1, of 5 is 2) and
 * `failureBudget` rounds DOWN (a budget never tolerates more than asked, so "10%" of 9 is 0).
 * Offline clusters count in the wave's size.
 */

import { isDnsLabel } from "@flotilla/proto";
import { z } from "zod";
import { PolicyError, SelectorSyntaxError } from "./errors.js";
import { type LabelRequirement, matchesSelector, parseSelector, type Selector } from "./selector.js";

/** A share of a wave's clusters, e.g. `"25%"`: a whole number from 0 to 100 followed by `%`. */
export type Percentage = `${number}%`;

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

const PERCENTAGE = /^(100|[1-9]?[0-9])%$/;

function amountSchema(min: number, error: string) {
  const percentage = z
    .string()
    .regex(PERCENTAGE, { error })
    .refine((p) => Number.parseInt(p, 10) >= min, { error })
    .transform((p) => p as Percentage);
  return z.union([z.number({ error }).int({ error }).min(min, { error }), percentage], { error });
}

const concurrencySchema = amountSchema(
  1,
  'must be a whole number of clusters (at least 1) or a percentage from "1%" to "100%"',
);

const budgetSchema = amountSchema(
  0,
  'must be a whole number of failed clusters (0 or more) or a percentage from "0%" to "100%"',
);

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
  });

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
};

const waveSchema = z.strictObject({
  /** Shown in the API and used as a metrics label: a DNS label, unique in the policy, not "remaining". */
  name: z.string().refine(isDnsLabel, {
    message: "must be a DNS label: 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit",
  }),
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
    /**
     * `block`: an offline cluster is written only once it is back, and its wave cannot complete until then.
     * `skip`: an offline cluster is marked skipped when its turn comes, and reported. @default "block"
     */
    offlineClusters: z.enum(["block", "skip"]).default(DEFAULT_OFFLINE_CLUSTERS),
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
  });

/** A parsed rollout policy. */
export type Policy = z.output<typeof policySchema>;
/** A rollout policy as written by a user (every field optional). */
export type PolicyInput = z.input<typeof policySchema>;
/** What offline clusters do. */
export type OfflinePolicy = Policy["offlineClusters"];
/** The settings one wave can carry. */
export type WaveSettings = Policy["remaining"];

/** Parses a policy once, at the edge; throws PolicyError naming every field at fault. */
export function parsePolicy(input: unknown, environment = ""): Policy {
  const result = policySchema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({ field: issue.path.join("."), message: issue.message }));
  const [first] = issues;
  if (issues.length === 1 && first) throw new PolicyError(first.field, first.message, environment);
  const reason = issues.map((i) => (i.field ? `${i.field}: ${i.message}` : i.message)).join("; ");
  throw new PolicyError("", reason, environment);
}

/** Registry state of a cluster: Pending until its first heartbeat, then Ready ⇄ Offline. */
export type ClusterConnectivity = "Pending" | "Ready" | "Offline";

/** What planning needs to know about one cluster of the environment. */
export interface PlanCluster {
  name: string;
  labels: Record<string, string>;
  state: ClusterConnectivity;
}

/** One wave of a plan, with its settings resolved to numbers for this wave's size. */
export interface PlannedWave {
  name: string;
  /** True for the wave of clusters no explicit wave selected. */
  implicit: boolean;
  /** Cluster names, sorted, so the order clusters are written in is stable. */
  clusters: string[];
  /** Of `clusters`, those not Ready at planning time (shown by the preview). */
  offline: string[];
  maxConcurrency: number;
  failureBudget: number;
  bakeSeconds: number;
  requireApproval: boolean;
}

/**
 * Splits clusters into the policy's waves. Clusters that do not match `appSelector` (the app's
 * own cluster selector) are left out entirely. Each remaining cluster goes to the FIRST wave whose
 * selector it matches; clusters no wave matches form a last wave named "remaining" (present only
 * when non-empty), so none is forgotten. Explicit waves that select nothing are kept, empty, so a
 * preview shows them. Pure: serves both rollout creation and `POST /v1/environments/:env/plan`.
 */
export function planWaves(policy: Policy, clusters: readonly PlanCluster[], appSelector?: Selector): PlannedWave[] {
  const appRequirements = appSelector === undefined ? [] : parseSelector(appSelector);
  const eligible = clusters
    .filter((c) => matchesSelector(appRequirements, c.labels))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const selectors: LabelRequirement[][] = policy.waves.map((w) => parseSelector(w.selector));
  const members: PlanCluster[][] = policy.waves.map(() => []);
  const rest: PlanCluster[] = [];
  for (const cluster of eligible) {
    const index = selectors.findIndex((s) => matchesSelector(s, cluster.labels));
    (index < 0 ? rest : members[index])?.push(cluster);
  }
  const waves = policy.waves.map((w, i) => resolveWave(w.name, false, w, i === 0, members[i] ?? []));
  if (rest.length > 0) waves.push(resolveWave(IMPLICIT_WAVE_NAME, true, policy.remaining, waves.length === 0, rest));
  return waves;
}

function resolveWave(
  name: string,
  implicit: boolean,
  settings: WaveSettings,
  first: boolean,
  clusters: PlanCluster[],
): PlannedWave {
  const count = clusters.length;
  const concurrency = settings.maxConcurrency ?? (first ? DEFAULT_FIRST_WAVE_MAX_CONCURRENCY : DEFAULT_MAX_CONCURRENCY);
  const budget = settings.failureBudget ?? DEFAULT_FAILURE_BUDGET;
  return {
    name,
    implicit,
    clusters: clusters.map((c) => c.name),
    offline: clusters.filter((c) => c.state !== "Ready").map((c) => c.name),
    maxConcurrency:
      typeof concurrency === "number" ? concurrency : Math.max(1, Math.ceil((percent(concurrency) * count) / 100)),
    failureBudget: typeof budget === "number" ? budget : Math.floor((percent(budget) * count) / 100),
    bakeSeconds: settings.bakeSeconds ?? DEFAULT_BAKE_SECONDS,
    requireApproval: settings.requireApproval ?? DEFAULT_REQUIRE_APPROVAL,
  };
}

function percent(p: Percentage): number {
  return Number.parseInt(p, 10);
}
