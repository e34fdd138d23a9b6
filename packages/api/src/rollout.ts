/**
 * Rollouts as the hub keeps and shows them. The rollout engine's persisted state is this schema's
 * output type (plain JSON, stored in Redis as is), so the engine and the API cannot disagree on a
 * field. Times are Unix milliseconds of the hub's clock.
 */
import { z } from "zod";
import { analysisSchema, windowSchema } from "./gates.js";
import { nameSchema } from "./labels.js";
import { offlinePolicySchema, policySchema } from "./policy.js";

/**
 * Version of the stored rollout shape; bump it (and migrate in the hub's reader) when a stored
 * rollout would no longer read. 2: targets are (revision, settings digest) instead of bare revisions.
 */
export const ROLLOUT_STATE_VERSION = 2;

/**
 * What a rollout rolls to, or back to: one commit AND the app's settings snapshot, named by its
 * digest. Two desired states of an app differ exactly when their targets differ, so a change of
 * values, path, namespace or policy rolls through the waves like a new commit.
 */
export const rolloutTargetSchema = z
  .object({
    revision: z.string().describe("commit SHA"),
    settings: z
      .string()
      .describe(
        "SHA-256 digest of the settings snapshot the hub stored content-addressed; empty when unknown (a rollout stored before settings were part of the target)",
      ),
  })
  .meta({ id: "RolloutTarget" });
export type RolloutTarget = z.output<typeof rolloutTargetSchema>;

/** What a rollout changes compared with the last good target. */
export const CHANGE_KINDS = ["revision", "settings"] as const;
export const changeKindSchema = z
  .enum(CHANGE_KINDS)
  .meta({ id: "ChangeKind", description: "what a rollout changes compared with the last good target" });
export type ChangeKind = z.output<typeof changeKindSchema>;

/** Longest commit message kept in a rollout, so the document stays small. */
export const COMMIT_MESSAGE_MAX = 1000;

/** The commit a rollout's revision names, as read from Git. */
export const commitInfoSchema = z
  .object({
    message: z.string().describe(`the commit message, cut to ${COMMIT_MESSAGE_MAX} characters`),
    author: z.string().describe("`Name <email>` of the author"),
    committedAtMs: z.number().describe("committer time; a revision change's lead time starts here"),
  })
  .meta({ id: "CommitInfo" });
export type CommitInfo = z.output<typeof commitInfoSchema>;

/** One changed settings field: its dotted path and the values before and after (absent: not set). */
export const settingsChangeSchema = z
  .object({
    path: z.string(),
    from: z.string().optional().describe("JSON text of the old value; absent when it was not set"),
    to: z.string().optional().describe("JSON text of the new value; absent when it is no longer set"),
  })
  .meta({ id: "SettingsChange", description: "One changed settings field; secret-looking values come masked" });
export type SettingsChange = z.output<typeof settingsChangeSchema>;

/** Lifecycle of a rollout. Succeeded, Failed, RolledBack and Superseded are terminal. */
export const ROLLOUT_PHASES = [
  "Pending",
  "Progressing",
  "Paused",
  "Succeeded",
  "Failed",
  "RolledBack",
  "Superseded",
] as const;
export const rolloutPhaseSchema = z.enum(ROLLOUT_PHASES).meta({
  id: "RolloutPhase",
  description: "Lifecycle of a rollout; Succeeded, Failed, RolledBack and Superseded are terminal",
});
export type RolloutPhase = z.output<typeof rolloutPhaseSchema>;

/** The phases a rollout ends in. */
export const TERMINAL_PHASES = ["Succeeded", "Failed", "RolledBack", "Superseded"] as const satisfies RolloutPhase[];
/** The phases of a rollout still under way. */
export const IN_FLIGHT_PHASES = ["Pending", "Progressing", "Paused"] as const satisfies RolloutPhase[];

/** Whether a rollout in this phase is over: no more waves, no more forward writes. */
export function isTerminalPhase(state: string): boolean {
  return (TERMINAL_PHASES as readonly string[]).includes(state);
}

/** The commands of `POST /v1/rollouts/{id}/{command}`. */
export const ROLLOUT_COMMANDS = ["pause", "resume", "promote", "abort", "rollback"] as const;
export const rolloutCommandSchema = z.enum(ROLLOUT_COMMANDS);
/**
 * A command the engine applies: those of the generic route, and `override` (windows and freezes
 * no longer hold the rollout), which has its own operation because only who may freeze may override.
 */
export type RolloutCommand = z.output<typeof rolloutCommandSchema> | "override";

/** Lifecycle of a wave. */
export const waveStatusSchema = z.enum([
  "pending",
  "awaiting-approval",
  "progressing",
  "baking",
  "succeeded",
  "failed",
]);
export type WaveStatus = z.output<typeof waveStatusSchema>;

/**
 * Lifecycle of one cluster in a rollout:
 * pending → writing (write decided, not yet confirmed) → progressing (write confirmed, generation known)
 * → healthy | failed; pending → skipped (offline, policy "skip"); any cluster that received the
 * revision → rolling-back (rollback decided) → rolled-back (rollback write confirmed).
 */
export const clusterStepStateSchema = z.enum([
  "pending",
  "writing",
  "progressing",
  "healthy",
  "failed",
  "skipped",
  "rolling-back",
  "rolled-back",
]);
export type ClusterStepState = z.output<typeof clusterStepStateSchema>;

/** A cluster's rollback, present once the cluster is to be rolled back to the rollout's `from` target. */
export const clusterRollbackSchema = z.object({
  requestedAtMs: z.number(),
  generation: z.number().int().optional().describe("generation of the rollback's desired state, once written"),
  writtenAtMs: z.number().optional(),
  abandoned: z
    .object({ atMs: z.number(), reason: z.string() })
    .optional()
    .describe("set when there is nothing left to roll back: the cluster or the app was deleted"),
});

/** One cluster's progress in the rollout. */
export const clusterProgressSchema = z.object({
  name: nameSchema,
  state: clusterStepStateSchema,
  generation: z
    .number()
    .int()
    .optional()
    .describe("generation of the desired state this rollout wrote for the cluster"),
  dispatchedAtMs: z.number().optional().describe("when the write was decided; the progress deadline runs from here"),
  writtenAtMs: z.number().optional().describe("when the write was confirmed"),
  healthyAtMs: z.number().optional(),
  failedAtMs: z.number().optional(),
  skippedAtMs: z.number().optional(),
  reason: z.string().optional().describe("why the cluster failed, was skipped, or is waiting"),
  unchanged: z
    .boolean()
    .optional()
    .describe(
      "the write changed nothing: the cluster's desired state already was the target; it passes on its existing report, and a wave of only such clusters needs no bake",
    ),
  rollback: clusterRollbackSchema.optional(),
});
export type ClusterProgress = z.output<typeof clusterProgressSchema>;

/** The settings of one wave, resolved to numbers for the wave's size when the rollout was planned. */
const resolvedWaveSettingsShape = {
  maxConcurrency: z.number().int().describe("clusters written at once"),
  failureBudget: z.number().int().describe("failed clusters tolerated; one more fails the rollout"),
  bakeSeconds: z.number().int(),
  requireApproval: z.boolean(),
};

/** What one measurement of an analysis came to. */
export const measurementVerdictSchema = z.enum(["success", "failure", "inconclusive"]);
export type MeasurementVerdict = z.output<typeof measurementVerdictSchema>;

/** One round of an analysis: every cluster's value (or the one value of a fleet-wide query) judged. */
export const measurementSchema = z.object({
  atMs: z.number(),
  verdict: measurementVerdictSchema,
  message: z.string().describe("the query, the value(s) and the condition, e.g. `… on canary-1 = 0.42, wanted < 0.1`"),
});
export type Measurement = z.output<typeof measurementSchema>;

/** Lifecycle of one analysis in a wave. */
export const analysisStatusSchema = z.enum(["pending", "running", "succeeded", "failed", "inconclusive", "skipped"]);
export type AnalysisStatus = z.output<typeof analysisStatusSchema>;

/** One analysis of a wave: its spec (snapshotted at creation) and how it went. */
export const analysisRunSchema = analysisSchema
  .extend({
    status: analysisStatusSchema,
    startedAtMs: z.number().optional().describe("when the wave's bake started it; measurements are due from here"),
    measurements: z.array(measurementSchema),
    reason: z.string().optional().describe("why it failed, paused the rollout, or was skipped"),
  })
  .meta({ id: "AnalysisRun" });
export type AnalysisRun = z.output<typeof analysisRunSchema>;

/** One wave: its resolved settings (snapshotted at creation), status and clusters. */
export const waveProgressSchema = z.object({
  name: z.string(),
  implicit: z.boolean().describe("the wave of clusters no explicit wave selected"),
  ...resolvedWaveSettingsShape,
  status: waveStatusSchema,
  clusters: z.array(clusterProgressSchema),
  startedAtMs: z.number().optional(),
  approvedAtMs: z.number().optional().describe("when promote approved this wave"),
  bakeStartedAtMs: z.number().optional(),
  completedAtMs: z.number().optional(),
  analyses: z.array(analysisRunSchema).optional().describe("metric checks run during the bake; absent: none"),
});
export type WaveProgress = z.output<typeof waveProgressSchema>;

/** Why a rollout ended without succeeding. */
export const rolloutFailureSchema = z
  .object({
    kind: z.enum(["budget-exceeded", "analysis-failed", "aborted", "rollback-requested"]),
    reason: z.string().describe("one line: what failed, where, and the clusters' own reasons"),
    wave: z.string().optional().describe("the wave that was current when it failed"),
    atMs: z.number(),
  })
  .meta({ id: "RolloutFailure" });
export type RolloutFailure = z.output<typeof rolloutFailureSchema>;

/** Why a rollout is held: a window is closed, or a freeze is in force. */
export const rolloutHoldSchema = z
  .object({
    kind: z.enum(["window", "freeze"]),
    reason: z.string().describe("in words, e.g. `outside every allow window; the next opens at …`"),
    sinceMs: z.number(),
  })
  .meta({ id: "RolloutHold" });
export type RolloutHold = z.output<typeof rolloutHoldSchema>;

/** The whole persisted rollout. */
export const rolloutStateSchema = z.object({
  version: z.literal(ROLLOUT_STATE_VERSION),
  id: z.string(),
  app: nameSchema,
  environment: nameSchema,
  from: rolloutTargetSchema
    .optional()
    .describe("the last good target, rolled back to on failure; absent for a first deploy (no rollback possible)"),
  to: rolloutTargetSchema,
  changed: z.array(changeKindSchema).describe("what differs between from and to; both for a first deploy"),
  state: rolloutPhaseSchema,
  progressDeadlineSeconds: z.number().int(),
  autoRollback: z.boolean(),
  offlineClusters: offlinePolicySchema,
  waves: z.array(waveProgressSchema),
  commit: commitInfoSchema.optional().describe("the commit of to.revision, when the hub could read it from Git"),
  commitUnknown: z
    .string()
    .optional()
    .describe("why commit is missing (the fetch failed); the lead time then starts at detection"),
  commitAtMs: z
    .number()
    .optional()
    .describe(
      "start of the commit→converged lead time: the commit's committer time when the revision changed and the commit was read; else the detection time",
    ),
  detectedAtMs: z.number().describe("when the hub noticed the change and created the rollout"),
  sourceDigest: z
    .string()
    .optional()
    .describe(
      "digest of the app's Git inputs at to (tree ids of its path and what it references); absent when unknown",
    ),
  startedAtMs: z.number().optional().describe("first step"),
  pausedAtMs: z.number().optional().describe("set while Paused"),
  convergedAtMs: z.number().optional().describe("when every wave completed (Succeeded only)"),
  finishedAtMs: z.number().optional().describe("when the rollout reached a terminal state"),
  failure: rolloutFailureSchema.optional(),
  supersededBy: z.string().optional().describe("the rollout that superseded this one"),
  windows: z
    .array(windowSchema)
    .optional()
    .describe("the environment's calendar windows when the rollout was created; absent: none"),
  hold: rolloutHoldSchema.optional().describe("set while a closed window or a freeze keeps the rollout from moving on"),
  holdOverride: z
    .object({ atMs: z.number(), by: z.string() })
    .optional()
    .describe("set by the override command: windows and freezes no longer hold this rollout"),
});
export type RolloutState = z.output<typeof rolloutStateSchema>;

/** How long one completed wave took. */
export const waveDurationSchema = z.object({
  wave: z.string(),
  index: z.number().int(),
  durationSeconds: z.number().describe("wave start (after any approval) → wave complete (after its bake)"),
});
export type WaveDuration = z.output<typeof waveDurationSchema>;

/** Lead-time figures known so far; a field is absent until both of its ends are known. */
export const leadTimeSchema = z.object({
  commitToConvergedSeconds: z.number().optional().describe("commit time in Git → every wave complete"),
  detectedToConvergedSeconds: z.number().optional().describe("hub noticed the change → every wave complete"),
  commitToDetectedSeconds: z
    .number()
    .optional()
    .describe("commit time → the hub noticed it: the poll (or webhook) delay; known from creation on"),
  startsAt: z
    .enum(["commit", "detection"])
    .describe(
      "what the commit→converged figure starts at: the commit's time, or detection (settings-only change, commit unread)",
    ),
  waves: z.array(waveDurationSchema).describe("completed waves, in order"),
});
export type LeadTime = z.output<typeof leadTimeSchema>;

/** One cluster of a rollout as the API shows it: its stored progress and why it is there. */
export const rolloutClusterViewSchema = clusterProgressSchema
  .extend({
    // Optional for clients: a hub before per-cluster reasons sent none, and a client then shows `reason`.
    why: z.string().optional().describe("why the cluster is where it is, in words; every hub that knows it sends it"),
  })
  .meta({ id: "RolloutCluster" });
export type RolloutClusterView = z.output<typeof rolloutClusterViewSchema>;

/** One wave of a rollout as the API shows it. */
export const rolloutWaveViewSchema = waveProgressSchema
  .extend({ clusters: z.array(rolloutClusterViewSchema) })
  .meta({ id: "RolloutWave" });
export type RolloutWaveView = z.output<typeof rolloutWaveViewSchema>;

/**
 * A rollout as the API shows it: the stored state, whether it settled, its lead time, why each
 * cluster is where it is, and, when settings changed, the masked settings diff.
 */
export const rolloutViewSchema = rolloutStateSchema
  .extend({
    waves: z.array(rolloutWaveViewSchema),
    settled: z.boolean().describe("ended, and every rollback write it decided is confirmed"),
    leadTime: leadTimeSchema,
    settingsDiff: z
      .array(settingsChangeSchema)
      .optional()
      .describe(
        "with a settings change: the changed fields, secret-looking values masked; every field of the new snapshot when the old one is unknown",
      ),
  })
  .meta({ id: "Rollout" });
export type RolloutView = z.output<typeof rolloutViewSchema>;

/** A rollout in a list: what it is and where it stands, without per-cluster detail. */
export const rolloutSummarySchema = z
  .object({
    ...rolloutStateSchema.pick({
      id: true,
      app: true,
      environment: true,
      from: true,
      to: true,
      changed: true,
      commit: true,
      commitUnknown: true,
      state: true,
      detectedAtMs: true,
      finishedAtMs: true,
      failure: true,
      hold: true,
    }).shape,
    waves: z.array(
      z.object({
        name: z.string(),
        status: waveStatusSchema,
        clusters: z.number().int().describe("how many clusters the wave holds"),
      }),
    ),
  })
  .meta({ id: "RolloutSummary" });
export type RolloutSummary = z.output<typeof rolloutSummarySchema>;

/** One wave of a plan, with its settings resolved to numbers for this wave's size. */
export const plannedWaveSchema = z
  .object({
    name: z.string(),
    implicit: z.boolean().describe("the wave of clusters no explicit wave selected"),
    clusters: z.array(nameSchema).describe("cluster names, sorted: the order they are written in"),
    offline: z.array(nameSchema).describe("of clusters, those not Ready at planning time"),
    ...resolvedWaveSettingsShape,
    analysis: z.array(analysisSchema).optional().describe("metric checks run during the bake"),
  })
  .meta({ id: "PlannedWave" });
export type PlannedWave = z.output<typeof plannedWaveSchema>;

/** `POST /v1/environments/{env}/plan`: which clusters would fall in which wave; nothing changes. */
export const planPreviewSchema = z
  .object({
    environment: z.string(),
    app: nameSchema,
    policy: policySchema,
    waves: z.array(plannedWaveSchema),
    holds: z
      .array(
        z.object({
          kind: z.enum(["window", "freeze", "cluster-freeze"]),
          reason: z.string(),
          clusters: z
            .array(nameSchema)
            .optional()
            .describe(
              "the only clusters it holds (a selector-limited window or freeze, a cluster's own freeze); absent: all",
            ),
        }),
      )
      .optional()
      .describe(
        "what would hold a rollout started now: closed windows of the policy, freezes in force, clusters that ask for a freeze",
      ),
    dependsOn: z
      .array(nameSchema)
      .optional()
      .describe("apps whose rollout must be Healthy on a cluster before this app is written there"),
  })
  .meta({ id: "PlanPreview" });
export type PlanPreview = z.output<typeof planPreviewSchema>;
