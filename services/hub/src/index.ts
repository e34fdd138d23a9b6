/**
 * @flotilla/hub — the Flotilla hub: cluster registry, Git tracking, rollout waves, desired-state
 * publication, status ingestion and the fleet API. Start it with {@link startHub}.
 */
export type { ApplyAction } from "./apply.js";
export { parseApplyDocuments, planApply } from "./apply.js";
export * from "./config.js";
export type { BootstrapBundle, ClusterCredentialIssuer, MintedCredentials } from "./credentials.js";
export * from "./errors.js";
export type { HubEvent, HubEventType } from "./events.js";
export type { AppOnCluster, EnvironmentSummary, FleetStatus } from "./fleet.js";
export { type RunningHub, type StartHubOptions, startHub } from "./hub.js";
export {
  type ClusterUser,
  createOperatorSetup,
  mintClusterUser,
  type NatsServerConfigOptions,
  natsServerConfig,
  type OperatorSetup,
  revokedUsers,
  revokeUser,
  serializeOperatorSetup,
  statusStreamConfig,
  withAccountJwt,
} from "./natsauth/index.js";
export type { DesiredStatePublisher, PublishResult } from "./publisher.js";
export { EVENTS_CHANNEL, KEY_PREFIX, NUDGE_CHANNEL } from "./redis-store.js";
export * from "./resources.js";
export type {
  ClusterProgress,
  LeadTime,
  PlannedWave,
  Policy,
  PolicyInput,
  RolloutCommand,
  RolloutPhase,
  RolloutState,
  WaveProgress,
} from "./rollout/index.js";
export { planWaves, policySchema, ROLLOUT_COMMANDS } from "./rollout/index.js";
export {
  RedisRolloutStore,
  ROLLOUT_RETENTION,
  type RolloutFilter,
  type RolloutStore,
  type StoredRollout,
} from "./rollout-store.js";
export type { ClusterState, ClusterStatus, DesiredRecord, ReportRecord } from "./store.js";
export { ENV_LABEL, targetClusters } from "./targets.js";
export {
  GENERIC_SIGNATURE_HEADER,
  GITHUB_SIGNATURE_HEADER,
  GITLAB_TOKEN_HEADER,
  signBody,
  verifyWebhook,
} from "./webhook.js";
