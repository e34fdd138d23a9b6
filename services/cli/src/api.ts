/**
 * The hub API's objects as the CLI reads them (see `GET /openapi.json` on a hub). Declared here
 * rather than imported from the hub's internals: the HTTP API is the contract a CLI of one
 * version must keep reading from a hub of another. Fields the CLI does not show are left out;
 * `-o json|yaml` prints whole responses, untouched.
 */

/** `{ items }` of every list route. */
export interface List<T> {
  items: T[];
}

/** `GET /v1/clusters` item. */
export interface ClusterView {
  name: string;
  labels: Record<string, string>;
  agentKeyId?: string;
  hasNatsCredentials?: boolean;
  createdAtMs: number;
  /** Liveness, folded from heartbeats. */
  status: ClusterStatus;
}

export interface ClusterStatus {
  state: string;
  lastHeartbeatMs?: number;
  agentVersion?: string;
  kubernetesVersion?: string;
  changedAtMs?: number;
}

/** One (cluster, app) row of `GET /v1/clusters/:name` and `GET /v1/apps/:app/status`. */
export interface AppOnCluster {
  cluster: string;
  app: string;
  environment: string;
  desired: { generation: number; revision: string; rolloutId: string; publishedAtMs: number } | null;
  report: {
    observedGeneration: number;
    revision: string;
    phase: string;
    health: string;
    error?: { code: string; message: string };
    reportedAtMs: number;
  } | null;
  current: boolean;
  clusterState?: string;
}

/** `GET /v1/clusters/:name`. */
export interface ClusterDetail extends ClusterView {
  status: ClusterStatus;
  apps: AppOnCluster[];
}

/** `POST /v1/clusters` (201): the agent's bootstrap bundle. Secret: never printed in a table. */
export interface BootstrapBundle {
  cluster: string;
  natsUrl: string;
  natsCreds: string;
  hubPublicKey: string;
  agentSigningKey: string;
}

export interface Team {
  name: string;
  description?: string;
}

export interface Repo {
  name: string;
  team: string;
  url: string;
  branches: Record<string, string>;
  pollIntervalSeconds?: number;
  hasCredentials: boolean;
  hasWebhookSecret: boolean;
}

export interface App {
  name: string;
  repo: string;
  path: string;
  source: string;
  namespace: string;
  clusterSelector?: Record<string, string>;
  prune?: boolean;
  selfHeal?: boolean;
  helm?: { releaseName?: string; valueFiles?: string[]; set?: Record<string, string> };
  /** CEL health rules per kind (docs/health.md). */
  healthChecks?: {
    group?: string;
    kind: string;
    current?: string;
    failed?: string;
    inProgress?: string;
    deadlineSeconds?: number;
  }[];
  progressDeadlineSeconds?: number;
}

/** `GET /v1/apps/:app/status`. */
export interface AppStatus {
  app: string;
  repo: string;
  /** The newest rollout of the app per environment. */
  rollouts?: {
    id: string;
    environment: string;
    from?: RolloutTarget;
    to: RolloutTarget;
    changed: ChangeKind[];
    state: string;
    wave: string | null;
    failure?: string;
  }[];
  clusters: AppOnCluster[];
}

/** A wave as written in a policy. */
export interface WaveInput {
  name: string;
  selector?: Record<string, string> | string;
  maxConcurrency?: number | string;
  bakeSeconds?: number;
  failureBudget?: number | string;
  requireApproval?: boolean;
}

/** An environment's rollout policy as written (every field optional). */
export interface PolicyInput {
  waves?: WaveInput[];
  remaining?: Omit<WaveInput, "name" | "selector">;
  progressDeadlineSeconds?: number;
  autoRollback?: boolean;
  offlineClusters?: "block" | "skip";
}

export interface Environment {
  name: string;
  policy: PolicyInput;
}

/** `GET /v1/fleet/status`. */
export interface FleetStatus {
  rollouts?: { inFlight: number; inFlightIds: string[] };
  clusters: Record<string, number> & { total: number };
  environments: Record<
    string,
    {
      clusters: Record<string, number>;
      sync: Record<string, number>;
      health: Record<string, number>;
      current: number;
      apps: number;
    }
  >;
}

/** `POST /v1/apply`: one object's outcome. */
export interface ApplyResult {
  index: number;
  kind: string;
  name: string;
  action: string;
  bootstrap?: BootstrapBundle;
}

/** Rollout phases; the last four are terminal. */
export type RolloutPhase = "Pending" | "Progressing" | "Paused" | "Succeeded" | "Failed" | "RolledBack" | "Superseded";

export const TERMINAL_PHASES: readonly RolloutPhase[] = ["Succeeded", "Failed", "RolledBack", "Superseded"];
export const IN_FLIGHT_PHASES: readonly RolloutPhase[] = ["Pending", "Progressing", "Paused"];

/** One cluster of a rollout wave (hub rollout/state.ts ClusterProgress). */
export interface RolloutCluster {
  name: string;
  state: string;
  generation?: number;
  dispatchedAtMs?: number;
  writtenAtMs?: number;
  healthyAtMs?: number;
  failedAtMs?: number;
  skippedAtMs?: number;
  reason?: string;
  /** The write changed nothing on this cluster (its desired state already was the target). */
  unchanged?: boolean;
  /** Why the cluster is where it is, in words (from the hub). */
  why?: string;
  rollback?: { requestedAtMs: number; generation?: number; writtenAtMs?: number };
}

/** One wave of a rollout (hub rollout/state.ts WaveProgress). */
export interface RolloutWave {
  name: string;
  implicit: boolean;
  maxConcurrency: number;
  failureBudget: number;
  bakeSeconds: number;
  requireApproval: boolean;
  status: string;
  clusters: RolloutCluster[];
  startedAtMs?: number;
  approvedAtMs?: number;
  bakeStartedAtMs?: number;
  completedAtMs?: number;
}

/** What a rollout rolls to, or back to: a commit and a settings snapshot (by digest; "" unknown). */
export interface RolloutTarget {
  revision: string;
  settings: string;
}

/** What a rollout changes compared with the last good target. */
export type ChangeKind = "revision" | "settings";

/** The commit of a rollout's revision, as the hub read it. */
export interface CommitInfo {
  message: string;
  author: string;
  committedAtMs: number;
}

/** One changed settings field; secret-looking values come masked. */
export interface SettingsChange {
  path: string;
  from?: string;
  to?: string;
}

/** `GET /v1/rollouts/:id` (hub rollout/state.ts RolloutState). */
export interface Rollout {
  id: string;
  app: string;
  environment: string;
  /** The last good target; absent for a first deploy. */
  from?: RolloutTarget;
  to: RolloutTarget;
  changed: ChangeKind[];
  commit?: CommitInfo;
  commitUnknown?: string;
  /** With a settings change: the changed fields. */
  settingsDiff?: SettingsChange[];
  state: RolloutPhase;
  progressDeadlineSeconds?: number;
  autoRollback?: boolean;
  offlineClusters?: string;
  waves: RolloutWave[];
  commitAtMs?: number;
  detectedAtMs: number;
  startedAtMs?: number;
  pausedAtMs?: number;
  convergedAtMs?: number;
  finishedAtMs?: number;
  failure?: { kind: string; reason: string; wave?: string; atMs: number };
  supersededBy?: string;
  /** True once the rollout ended and every rollback write it decided is confirmed. */
  settled?: boolean;
  leadTime?: {
    waves: { wave: string; index: number; durationSeconds: number }[];
    detectedToConvergedSeconds?: number;
    commitToConvergedSeconds?: number;
    commitToDetectedSeconds?: number;
    startsAt?: "commit" | "detection";
  };
}

/** `GET /v1/rollouts` item: where a rollout stands, without per-cluster detail. */
export interface RolloutSummary {
  id: string;
  app: string;
  environment: string;
  from?: RolloutTarget;
  to: RolloutTarget;
  changed: ChangeKind[];
  commit?: CommitInfo;
  state: RolloutPhase;
  waves: { name: string; status: string; clusters: number }[];
  detectedAtMs: number;
  finishedAtMs?: number;
  failure?: Rollout["failure"];
}

/** One wave of `POST /v1/environments/:env/plan` (hub rollout/policy.ts PlannedWave). */
export interface PlannedWave {
  name: string;
  implicit: boolean;
  clusters: string[];
  offline: string[];
  maxConcurrency: number;
  failureBudget: number;
  bakeSeconds: number;
  requireApproval: boolean;
}

/** `GET /v1/hub`. */
export interface HubInfo {
  replica: string;
  leader: boolean;
  leaderReplica: string | null;
  hubKeyId: string;
}

/** Whether a rollout in this phase is over. */
export function isTerminalPhase(state: string): boolean {
  return (TERMINAL_PHASES as readonly string[]).includes(state);
}
