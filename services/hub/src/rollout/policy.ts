/**
 * How an environment's rollout policy splits its clusters into waves. The policy itself (schema,
 * defaults, selector grammar) is part of the API contract, in `@flotilla/api`; this is the pure
 * planning the engine and the plan preview share.
 *
 * Percentages resolve against the number of clusters in the wave when the rollout is planned:
 * `maxConcurrency` rounds UP (at least one cluster moves, so "25%" of 3 is 1, of 5 is 2) and
 * `failureBudget` rounds DOWN (a budget never tolerates more than asked, so "10%" of 9 is 0).
 * Offline clusters count in the wave's size.
 */

import {
  type ClusterState,
  DEFAULT_BAKE_SECONDS,
  DEFAULT_FAILURE_BUDGET,
  DEFAULT_FIRST_WAVE_MAX_CONCURRENCY,
  DEFAULT_MAX_CONCURRENCY,
  DEFAULT_REQUIRE_APPROVAL,
  IMPLICIT_WAVE_NAME,
  type LabelRequirement,
  matchesSelector,
  type Percentage,
  type PlannedWave,
  type Policy,
  parseSelector,
  policySchema,
  type Selector,
  type WaveSettings,
} from "@flotilla/api";
import { PolicyError } from "./errors.js";

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
export type ClusterConnectivity = ClusterState;

/** What planning needs to know about one cluster of the environment. */
export interface PlanCluster {
  name: string;
  labels: Record<string, string>;
  state: ClusterConnectivity;
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
    ...(settings.analysis?.length ? { analysis: settings.analysis } : {}),
  };
}

function percent(p: Percentage): number {
  return Number.parseInt(p, 10);
}
