/**
 * @flotilla/hub — the Flotilla hub: cluster registry, Git tracking, rollout waves, desired-state
 * publication, status ingestion and the fleet API. Start it with {@link startHub}.
 *
 * The package's only entry point. Besides the hub itself it exports its settings table, the
 * records it keeps, and the NATS operator-mode set-up (trust chain, server configuration,
 * cluster users, revocation) that a local fleet and the tests need to run a nats-server the hub
 * trusts. The HTTP contract clients read is `@flotilla/api`.
 */
export * from "./config.js";
export * from "./errors.js";
export { type RunningHub, type StartHubOptions, startHub } from "./hub.js";
export {
  type ClusterUser,
  clusterUserJwt,
  createOperatorSetup,
  mintClusterUser,
  type NatsServerConfigOptions,
  type NatsServerTls,
  natsServerConfig,
  natsTlsConfig,
  type OperatorSetup,
  parseOperatorSetup,
  revokedUsers,
  revokeUser,
  serializeOperatorSetup,
  withAccountJwt,
} from "./nats/auth/index.js";
export {
  DEFAULT_BUCKET_LIMITS,
  desiredStreamConfig,
  statusStreamConfig,
} from "./nats/buckets.js";
export type { DesiredStatePublisher, PublishResult } from "./nats/publisher.js";
export { KEY_PREFIX, NUDGE_CHANNEL, RedisObjectStore, RedisRolloutStore } from "./redis/index.js";
export { parseApplyDocuments, planApply } from "./registry/apply.js";
export type { ClusterCredentialIssuer, MintedCredentials } from "./registry/credentials.js";
export { ENV_LABEL, targetClusters } from "./registry/targets.js";
export { planWaves } from "./rollout/index.js";
export {
  type ClusterState,
  type ClusterStatus,
  type DesiredRecord,
  type ReportRecord,
  ROLLOUT_RETENTION,
  type RolloutFilter,
  type RolloutStore,
  type StoredRollout,
} from "./store.js";
export { type CommitSource, GitSourceCache, type SourceReader } from "./tracking/source-cache.js";
export {
  GENERIC_SIGNATURE_HEADER,
  GITHUB_SIGNATURE_HEADER,
  GITLAB_TOKEN_HEADER,
  signBody,
  verifyWebhook,
} from "./tracking/webhook.js";
