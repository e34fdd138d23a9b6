/**
 * An app's settings as one immutable value, and the pure function that turns it into a
 * cluster's desired state. Everything a desired state carries except cluster, revision,
 * generation and rollout id comes from here, never from the live registry, so a rollout writes
 * exactly the settings it was created with (and a rollback exactly the last good ones).
 *
 * A snapshot is per (app, environment): the branch is the environment's, and the path keeps its
 * `{env}` template (resolved per cluster). Snapshots are stored content-addressed by
 * {@link settingsDigest}; a rollout names its target's snapshot by that digest.
 *
 * Adding a field the desired state carries (a policy, health rules, ...) means: add it to
 * {@link AppSettings}, fill it in {@link settingsOf}, copy it in {@link resolveDesired} and
 * {@link desiredFingerprint}. Its digest then changes, so every app rolls the new field out
 * through its waves once.
 */

import type { AppSpec, HealthCheck } from "@flotilla/api";
import { type DesiredStateInit, SourceType, type TeamPolicyInit } from "@flotilla/proto";
import { fingerprint } from "../registry/canonical.js";
import { healthRulesInput, mergeHealthChecks } from "../registry/health-checks.js";
import { matchesSelector, resolveAppPath } from "../registry/targets.js";
import { teamPolicyOf } from "../registry/team-policy.js";
import type { AppRecord, RepoRecord, TeamRecord } from "../store.js";

/** Version of the {@link AppSettings} shape; part of the digest. */
export const SETTINGS_SCHEMA = 1;

/** Helm parameters of a helm app, or of a cluster override. */
export interface HelmSettings {
  releaseName?: string;
  valueFiles?: string[];
  set?: Record<string, string>;
}

/** Settings for the clusters whose labels match (the App spec's `overrides`, resources.ts). */
export type ClusterOverride = NonNullable<AppSpec["overrides"]>[number];

/** The settings snapshot of one app in one environment. */
export interface AppSettings {
  schema: typeof SETTINGS_SCHEMA;
  /** Repo name, kept on desired records so repo passes find their apps' states. */
  repo: string;
  repoUrl: string;
  /** The environment's branch. */
  branch: string;
  /** Path template; `{env}` is replaced by the environment. */
  path: string;
  source: AppSpec["source"];
  helm?: HelmSettings;
  namespace: string;
  prune: boolean;
  selfHeal: boolean;
  /** The app's team. */
  team: string;
  overrides?: ClusterOverride[];
  /** Health rules for kinds the agent cannot judge by the conventions (team's, then app's). */
  healthChecks?: HealthCheck[];
  /** Seconds an object may stay Progressing after an apply; unset keeps the agent's setting. */
  progressDeadlineSeconds?: number;
  /** What the app's objects may touch: the team's policy (see `registry/team-policy.ts`). */
  policy?: TeamPolicyInit;
  /** Take over live objects no Flotilla app created; absent means no. */
  adopt?: true;
}

/** What a desired state holds besides generation, rollout id and issue time. */
export type DesiredInputs = Omit<DesiredStateInit, "generation" | "rolloutId" | "issuedAtMs">;

/** An app record (its spec carries the per-cluster overrides). */
export type AppWithOverrides = AppRecord;

/**
 * The snapshot of `app` in `environment`, from the live records. `team` is the repo's team
 * record, whose policy (when it has one) bounds what the app's objects may touch.
 */
export function settingsOf(
  app: AppWithOverrides,
  repo: RepoRecord,
  environment: string,
  team?: TeamRecord,
): AppSettings {
  const settings: AppSettings = {
    schema: SETTINGS_SCHEMA,
    repo: repo.name,
    repoUrl: repo.url,
    branch: repo.branches[environment] ?? "",
    path: app.path,
    source: app.source,
    namespace: app.namespace,
    prune: app.prune,
    selfHeal: app.selfHeal,
    team: repo.team,
  };
  if (app.helm) settings.helm = structuredClone(app.helm);
  if (app.overrides && app.overrides.length > 0) settings.overrides = structuredClone([...app.overrides]);
  // Team rules join here once teams carry them: the team's first, the app's replacing them per kind.
  if (app.healthChecks && app.healthChecks.length > 0) settings.healthChecks = structuredClone([...app.healthChecks]);
  if (app.progressDeadlineSeconds !== undefined) settings.progressDeadlineSeconds = app.progressDeadlineSeconds;
  settings.policy = teamPolicyOf(repo.team, team);
  if (app.adopt) settings.adopt = true;
  return settings;
}

/** SHA-256 of the canonical JSON of `settings`: equal settings, equal digest, on every replica. */
export function settingsDigest(settings: AppSettings): string {
  return fingerprint(settings);
}

/**
 * The settings as they apply on a cluster with `labels`: every matching override folded in,
 * in order. The result carries no overrides.
 */
export function effectiveSettings(settings: AppSettings, labels: Record<string, string>): AppSettings {
  const { overrides, ...base } = settings;
  const out: AppSettings = structuredClone(base);
  for (const o of overrides ?? []) {
    if (!matchesSelector(labels, o.clusterSelector)) continue;
    if (o.path !== undefined) out.path = o.path;
    if (o.helm) {
      const helm: HelmSettings = out.helm ?? {};
      if (o.helm.set) helm.set = { ...(helm.set ?? {}), ...o.helm.set };
      if (o.helm.valueFiles) helm.valueFiles = [...(helm.valueFiles ?? []), ...o.helm.valueFiles];
      out.helm = helm;
    }
  }
  return out;
}

const SOURCE_TYPES: Record<AppSpec["source"], SourceType> = {
  /** The agent detects it from the directory's marker files when it renders. */
  auto: SourceType.SOURCE_TYPE_UNSPECIFIED,
  manifests: SourceType.SOURCE_TYPE_MANIFESTS,
  kustomize: SourceType.SOURCE_TYPE_KUSTOMIZE,
  helm: SourceType.SOURCE_TYPE_HELM,
};

/** Where one desired state goes. */
export interface DesiredPlace {
  app: string;
  cluster: string;
  labels: Record<string, string>;
  environment: string;
  revision: string;
}

/** The desired state of `place.app` on `place.cluster` at `place.revision` under `settings`. */
export function resolveDesired(settings: AppSettings, place: DesiredPlace): DesiredInputs {
  const s = effectiveSettings(settings, place.labels);
  return {
    cluster: place.cluster,
    app: place.app,
    environment: place.environment,
    source: {
      repoUrl: s.repoUrl,
      revision: place.revision,
      branch: s.branch,
      path: resolveAppPath(s.path, place.environment),
      type: SOURCE_TYPES[s.source],
      ...(s.helm
        ? {
            helm: {
              releaseName: s.helm.releaseName ?? "",
              valueFiles: s.helm.valueFiles ?? [],
              set: s.helm.set ?? {},
            },
          }
        : {}),
    },
    targetNamespace: s.namespace,
    prune: s.prune,
    selfHeal: s.selfHeal,
    healthRules: mergeHealthChecks([], s.healthChecks ?? []),
    progressDeadlineSeconds: s.progressDeadlineSeconds ?? 0,
    ...(s.policy ? { policy: structuredClone(s.policy) } : {}),
    adopt: s.adopt === true,
  };
}

/**
 * Everything in a desired state the agent acts on, normalised so that a state built here and
 * the same state decoded from the bucket hash equally (protobuf turns unset into defaults).
 */
export function desiredFingerprint(m: DesiredInputs): string {
  const helm = m.source?.helm;
  const helmInputs =
    helm && (helm.releaseName || (helm.valueFiles?.length ?? 0) > 0 || Object.keys(helm.set ?? {}).length > 0)
      ? { releaseName: helm.releaseName ?? "", valueFiles: [...(helm.valueFiles ?? [])], set: { ...(helm.set ?? {}) } }
      : null;
  const rules = healthRulesInput(m.healthRules);
  const deadline = Number(m.progressDeadlineSeconds ?? 0);
  return fingerprint({
    cluster: m.cluster ?? "",
    app: m.app ?? "",
    environment: m.environment ?? "",
    repoUrl: m.source?.repoUrl ?? "",
    revision: m.source?.revision ?? "",
    branch: m.source?.branch ?? "",
    path: m.source?.path ?? "",
    type: Number(m.source?.type ?? 0),
    helm: helmInputs,
    targetNamespace: m.targetNamespace ?? "",
    prune: Boolean(m.prune),
    selfHeal: Boolean(m.selfHeal),
    remove: Boolean(m.remove),
    // Only when set, so that states published before these fields existed keep their fingerprint.
    ...(rules.length > 0 ? { healthRules: rules } : {}),
    ...(deadline > 0 ? { progressDeadlineSeconds: deadline } : {}),
    // Every state carries the team's policy since teams have one: a changed policy is published
    // again, so agents enforce what the team may touch now.
    ...(m.policy
      ? {
          policy: {
            team: m.policy.team ?? "",
            namespaces: [...(m.policy.namespaces ?? [])],
            clusterResources: [...(m.policy.clusterResources ?? [])],
          },
        }
      : {}),
    ...(m.adopt ? { adopt: true } : {}),
  });
}
