/**
 * The specs of the objects a fleet is made of, as a user writes them in a request body or an
 * applied document: clusters, teams, repos, apps and environments, and notification receivers.
 */
import { compileHealthExpression, HEALTH_RULE_EXPRESSIONS, InvalidHealthRuleError } from "@flotilla/proto";
import { z } from "zod";
import { labelsSchema, nameSchema } from "./labels.js";
import { type ReceiverDocumentSpec, receiverDocumentSpecSchema } from "./notifications.js";
import { policySchema } from "./policy.js";
import { teamPolicySchema } from "./team-policy.js";

/** The kinds of object an applied document can be, as written in its `kind:`: the registry's and receivers. */
export const KINDS = ["Cluster", "Team", "Repo", "App", "Environment", "Receiver"] as const;
export type Kind = (typeof KINDS)[number];

/** The apiVersion every applied document must carry. */
export const API_VERSION = "flotilla.dev/v1";

const BRANCH = /^(?!\/|.*\/\/|.*\.\.|.*\.lock$|.*\/$)[A-Za-z0-9._/-]+$/;

/** Cluster spec: its labels (`env=<environment>` puts it in an environment). */
export const clusterSpecSchema = z.strictObject({
  labels: labelsSchema.default({}),
});

/** Team spec: a description, and its policy (what its apps may touch; defaults in team-policy.ts). */
export const teamSpecSchema = z.strictObject({
  description: z.string().max(500).optional(),
  policy: teamPolicySchema.optional(),
});

/** Basic-auth credentials for a Git server; write-only through the API. */
export const gitCredentialsSchema = z.strictObject({
  username: z.string().min(1),
  password: z.string().min(1),
});

/** Repo spec. */
export const repoSpecSchema = z.strictObject({
  team: nameSchema,
  url: z
    .string()
    .url()
    .refine((u) => /^https?:\/\//.test(u), { message: "must be an http(s) URL" })
    .refine((u) => !/^https?:\/\/[^/]*@/.test(u), { message: "must not embed credentials; use credentials" }),
  /** Environment name → branch. */
  branches: z
    .record(nameSchema, z.string().regex(BRANCH, "is not a valid branch name"))
    .refine((b) => Object.keys(b).length > 0, { message: "must map at least one environment to a branch" }),
  /** Seconds between polls; the hub default when unset. */
  pollIntervalSeconds: z.number().min(0.1).max(86_400).optional(),
  credentials: gitCredentialsSchema.optional().describe("write-only: never shown again"),
  webhookSecret: z
    .string()
    .min(16, "must be at least 16 characters")
    .optional()
    .describe("write-only: never shown again"),
});

const SAFE_PATH = /^(?!\/)(?!.*(^|\/)\.\.(\/|$))[^\\\0]*$/;

/** Helm parameters of a helm app. */
export const helmSchema = z.strictObject({
  releaseName: nameSchema.optional(),
  valueFiles: z.array(z.string().regex(SAFE_PATH, "must be a relative path inside the chart")).optional(),
  set: z.record(z.string().min(1), z.string()).optional(),
});

/** Longest deadline a health check or an app may set: a week, as the rollout policy's. */
const MAX_DEADLINE_SECONDS = 7 * 86_400;

const deadlineSeconds = z.number().int().min(1).max(MAX_DEADLINE_SECONDS);

/**
 * A health rule for one kind whose status the agent's built-in rules cannot read: CEL
 * expressions over the object (docs/health.md). Each expression is compiled here, with the
 * agent's CEL environment, so a bad one is refused when the app is saved, naming its field.
 */
export const healthCheckSchema = z
  .strictObject({
    /** API group of the kind; empty for the core group. @default "" */
    group: z.string().max(253).default(""),
    kind: z.string().regex(/^[A-Z][A-Za-z0-9]{0,62}$/, "must be a Kubernetes kind, like Widget or Service"),
    /** CEL: true when an object of the kind is healthy. Required unless only `deadlineSeconds` is set. */
    current: z.string().min(1).optional(),
    /** CEL: true when it has failed for certain. */
    failed: z.string().min(1).optional(),
    /** CEL: true while it is still converging, whatever `current` says. */
    inProgress: z.string().min(1).optional(),
    /** Seconds an object of the kind may stay Progressing after an apply before it is Degraded. */
    deadlineSeconds: deadlineSeconds.optional(),
  })
  .superRefine((rule, ctx) => {
    if (!rule.current && (rule.failed || rule.inProgress || !rule.deadlineSeconds)) {
      ctx.addIssue({
        code: "custom",
        path: ["current"],
        message: "is required, unless the rule sets only deadlineSeconds",
      });
    }
    for (const field of HEALTH_RULE_EXPRESSIONS) {
      const source = rule[field];
      if (!source) continue;
      try {
        compileHealthExpression(rule.kind, field, source);
      } catch (err) {
        if (!(err instanceof InvalidHealthRuleError)) throw err;
        ctx.addIssue({ code: "custom", path: [field], message: `is not a CEL bool expression: ${err.reason}` });
      }
    }
  });

/**
 * Settings that differ on the clusters whose labels match `clusterSelector`, like Rancher
 * Fleet's `targetCustomizations`. Applied in order: `path` replaces the app's path (a Kustomize
 * overlay per region), `helm.set` merges over the app's (later wins), `helm.valueFiles` are
 * appended. Each cluster's effective settings roll out through the waves like any change.
 */
export const clusterOverrideSchema = z
  .strictObject({
    clusterSelector: labelsSchema.refine((l) => Object.keys(l).length > 0, {
      message: "must name at least one label (an override for every cluster is the app's own setting)",
    }),
    /** Directory in the repo for these clusters; `{env}` is replaced by the environment name. */
    path: z
      .string()
      .min(1)
      .regex(SAFE_PATH, "must be a relative path inside the repo (no leading '/', no '..')")
      .optional(),
    helm: z
      .strictObject({
        valueFiles: z.array(z.string().regex(SAFE_PATH, "must be a relative path inside the chart")).optional(),
        set: z.record(z.string().min(1), z.string()).optional(),
      })
      .optional(),
  })
  .refine((o) => o.path !== undefined || o.helm !== undefined, { message: "must change path or helm" });

/** App spec. */
export const appSpecSchema = z
  .strictObject({
    repo: nameSchema,
    /** Directory in the repo; `{env}` is replaced by the environment name. */
    path: z
      .string()
      .min(1)
      .regex(SAFE_PATH, "must be a relative path inside the repo (no leading '/', no '..')")
      .default("."),
    /**
     * How the agent renders `path`. `auto` (the default): Kustomize when the directory holds a
     * kustomization.yaml, kustomization.yml or Kustomization, Helm when it holds Chart.yaml, plain
     * manifests otherwise; decided by the agent at every render and shown in its report.
     */
    source: z.enum(["auto", "manifests", "kustomize", "helm"]).default("auto"),
    helm: helmSchema.optional(),
    namespace: nameSchema,
    /** Extra labels a cluster must carry, on top of `env=<environment>`. */
    clusterSelector: labelsSchema.optional(),
    /** Delete objects that were applied before and are no longer in Git. @default false */
    prune: z.boolean().default(false),
    /** Re-apply when live objects drift from Git. @default false */
    selfHeal: z.boolean().default(false),
    /** Per-cluster settings by labels, applied in order; see {@link clusterOverrideSchema}. */
    overrides: z.array(clusterOverrideSchema).max(50).optional(),
    /** Health rules for kinds the agent cannot judge by the conventions; one per kind. */
    healthChecks: z
      .array(healthCheckSchema)
      .max(50)
      .superRefine((rules, ctx) => {
        const seen = new Set<string>();
        rules.forEach((r, i) => {
          const key = `${r.group}/${r.kind}`;
          if (seen.has(key)) {
            ctx.addIssue({ code: "custom", path: [i, "kind"], message: `has a health check already (${key})` });
          }
          seen.add(key);
        });
      })
      .optional(),
    /**
     * Seconds an object of this app may stay Progressing after an apply before the agent calls it
     * Degraded; unset keeps the agent's (FLOTILLA_PROGRESS_DEADLINE). Keep the environment's
     * rollout progressDeadlineSeconds at least as long.
     */
    progressDeadlineSeconds: deadlineSeconds.optional(),
    /**
     * Take over live objects that exist but that no Flotilla app created (they lack Flotilla's
     * labels), instead of refusing them. Objects another app owns are refused either way.
     * @default false
     */
    adopt: z.boolean().default(false),
    /**
     * Apps of the same environment this one waits for: on each cluster, this app's new desired
     * state is written only once each of them is Healthy at its newest desired state there.
     * Cycles are refused when the apps are saved.
     */
    dependsOn: z
      .array(nameSchema)
      .max(20)
      .refine((names) => new Set(names).size === names.length, { message: "names an app twice" })
      .optional(),
  })
  .superRefine((app, ctx) => {
    app.overrides?.forEach((o, i) => {
      if (o.helm && app.source !== "helm")
        ctx.addIssue({
          code: "custom",
          path: ["overrides", i, "helm"],
          message: `sets Helm parameters, but the app's source is ${app.source}; use path for a Kustomize overlay`,
        });
    });
  });

/**
 * How the hub authenticates to its Prometheus-compatible endpoint for this environment's metric
 * analyses: a bearer token, or basic auth (a Mimir or Cortex tenant, say). Write-only: sealed at
 * rest like a repo's credentials, never shown again, never logged.
 */
export const prometheusCredentialsSchema = z
  .union(
    [
      z.strictObject({ bearerToken: z.string().min(1).max(4096) }),
      z.strictObject({ username: z.string().min(1).max(256), password: z.string().min(1).max(1024) }),
    ],
    { error: "must be { bearerToken } or { username, password }" },
  )
  .meta({ id: "PrometheusCredentials" });
export type PrometheusCredentials = z.output<typeof prometheusCredentialsSchema>;

/**
 * Environment spec: its rollout policy (waves, concurrency, bake, budgets, deadline, rollback,
 * offline clusters). Stored with every default filled in, so what the API shows is what runs.
 */
export const environmentSpecSchema = z.strictObject({
  policy: policySchema.prefault({}),
  prometheusCredentials: prometheusCredentialsSchema
    .optional()
    .describe("write-only: how the hub authenticates to Prometheus for this environment's analyses; never shown again"),
});

export type ClusterSpec = z.output<typeof clusterSpecSchema>;
export type TeamSpec = z.output<typeof teamSpecSchema>;
export type RepoSpec = z.output<typeof repoSpecSchema>;
export type AppSpec = z.output<typeof appSpecSchema>;
export type HealthCheck = z.output<typeof healthCheckSchema>;
export type EnvironmentSpec = z.output<typeof environmentSpecSchema>;
export type GitCredentials = z.output<typeof gitCredentialsSchema>;

/** The spec schema of each kind. */
export const SPEC_SCHEMAS = {
  Cluster: clusterSpecSchema,
  Team: teamSpecSchema,
  Repo: repoSpecSchema,
  App: appSpecSchema,
  Environment: environmentSpecSchema,
  Receiver: receiverDocumentSpecSchema,
} as const;

/** The parsed spec of each kind. */
export interface SpecOf {
  Cluster: ClusterSpec;
  Team: TeamSpec;
  Repo: RepoSpec;
  App: AppSpec;
  Environment: EnvironmentSpec;
  /** URL and secret may be left out: apply keeps the stored ones. */
  Receiver: ReceiverDocumentSpec;
}
