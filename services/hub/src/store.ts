import type { AppSpec, EnvironmentSpec, RepoSpec, TeamSpec } from "./registry/resources.js";

/** Lifecycle of a cluster: Pending until its first heartbeat, then Ready ⇄ Offline. */
export type ClusterState = "Pending" | "Ready" | "Offline";
export const CLUSTER_STATES: readonly ClusterState[] = ["Pending", "Ready", "Offline"];

/** A registered cluster. The agent's private key is never stored, only its public half. */
export interface ClusterRecord {
  name: string;
  labels: Record<string, string>;
  /** SPKI PEM of the agent's Ed25519 key; reports and heartbeats verify against it alone. */
  agentPublicKey: string;
  /** Public nkey of the cluster's NATS user, when credentials were minted; revoked on delete. */
  natsUserPublicKey?: string;
  createdAtMs: number;
}

/** Liveness of a cluster, folded from heartbeats. */
export interface ClusterStatus {
  state: ClusterState;
  /** Hub clock when the last verified heartbeat arrived. */
  lastHeartbeatMs?: number;
  agentVersion?: string;
  kubernetesVersion?: string;
  capabilities?: string[];
  /** Hub clock of the last state change. */
  changedAtMs: number;
}

export interface TeamRecord extends TeamSpec {
  name: string;
}

/** A repo as stored: secrets only in `sealedSecrets`, encrypted. */
export interface RepoRecord extends Omit<RepoSpec, "credentials" | "webhookSecret"> {
  name: string;
  /** SecretBox ciphertext of {@link RepoSecrets}, bound to the repo name. */
  sealedSecrets?: string;
  hasCredentials: boolean;
  hasWebhookSecret: boolean;
}

/** The write-only parts of a repo. */
export interface RepoSecrets {
  credentials?: { username: string; password: string };
  webhookSecret?: string;
}

export interface AppRecord extends AppSpec {
  name: string;
}

export interface EnvironmentRecord extends EnvironmentSpec {
  name: string;
}

export interface RecordOf {
  Cluster: ClusterRecord;
  Team: TeamRecord;
  Repo: RepoRecord;
  App: AppRecord;
  Environment: EnvironmentRecord;
}
export type StoredKind = keyof RecordOf;

/** The last desired state the hub published for one (cluster, app). */
export interface DesiredRecord {
  cluster: string;
  app: string;
  generation: number;
  environment: string;
  repo: string;
  branch: string;
  revision: string;
  path: string;
  rolloutId: string;
  /** Hash of everything the agent acts on (not generation, time or rollout id). */
  fingerprint: string;
  /** The app was removed from this cluster (a `remove` desired state was published). */
  removed?: boolean;
  publishedAtMs: number;
}

/** The last verified report of one (cluster, app). */
export interface ReportRecord {
  cluster: string;
  app: string;
  observedGeneration: number;
  revision: string;
  rolloutId: string;
  /** Sync phase, lowercase (`synced`, `failed`, ...). */
  phase: string;
  /** Health, lowercase (`healthy`, `degraded`, ...). */
  health: string;
  error?: { code: string; message: string; retryable: boolean };
  /** With phase `rejected`: the generation the agent refused, so a rollout fails it at once. */
  rejectedGeneration?: number;
  resources: { kind: string; namespace: string; name: string; health: string; sync: string; message: string }[];
  reportedAtMs: number;
  receivedAtMs: number;
  agentVersion: string;
  /** SHA-256 of the envelope bytes, so a re-delivered value is not ingested twice. */
  digest: string;
}

/** The last branch head the tracker saw for one repo and environment. */
export interface HeadRecord {
  repo: string;
  environment: string;
  branch: string;
  sha: string;
  seenAtMs: number;
}

/** Who holds the leader lease and the fencing token it was granted with. */
export interface Lease {
  holder: string;
  token: number;
}

/**
 * Everything the hub knows. The process keeps nothing a restart can lose: all of it is here.
 * Implemented over Redis (RedisStore); unit tests may fake it.
 */
export interface Store {
  getObject<K extends StoredKind>(kind: K, name: string): Promise<RecordOf[K] | undefined>;
  listObjects<K extends StoredKind>(kind: K): Promise<RecordOf[K][]>;
  /** Writes `record` only if no object of that kind and name exists; false if one does. */
  createObject<K extends StoredKind>(kind: K, record: RecordOf[K]): Promise<boolean>;
  putObject<K extends StoredKind>(kind: K, record: RecordOf[K]): Promise<void>;
  deleteObject(kind: StoredKind, name: string): Promise<boolean>;

  getClusterStatus(cluster: string): Promise<ClusterStatus | undefined>;
  /** Statuses of many clusters in one round trip; clusters without one are left out. */
  getClusterStatuses(clusters: readonly string[]): Promise<Map<string, ClusterStatus>>;
  putClusterStatus(cluster: string, status: ClusterStatus): Promise<void>;
  /** Drops status, reports and desired records of a deregistered cluster (generations stay). */
  forgetCluster(cluster: string): Promise<void>;

  /**
   * The next generation of (cluster, app): at least one more than any before and at least
   * `floor`. Only when `fence` still holds the leader lease; else throws NotLeaderError.
   */
  allocateGeneration(cluster: string, app: string, floor: number, fence: Lease): Promise<number>;
  /** The last allocated generation of (cluster, app), 0 when none. */
  currentGeneration(cluster: string, app: string): Promise<number>;

  getDesired(cluster: string, app: string): Promise<DesiredRecord | undefined>;
  putDesired(record: DesiredRecord): Promise<void>;
  listDesired(by: { cluster?: string; app?: string }): Promise<DesiredRecord[]>;

  getReport(cluster: string, app: string): Promise<ReportRecord | undefined>;
  putReport(record: ReportRecord): Promise<void>;
  listReports(by: { cluster?: string; app?: string }): Promise<ReportRecord[]>;

  getHead(repo: string, environment: string): Promise<HeadRecord | undefined>;
  putHead(record: HeadRecord): Promise<void>;

  /** The hub's generated signing key, sealed; set only if absent so replicas agree. */
  getSealedSigningKey(): Promise<string | undefined>;
  setSealedSigningKeyIfAbsent(sealed: string): Promise<string>;

  /** Takes the leader lease if free; returns it with a new fencing token, or undefined. */
  acquireLease(holder: string, ttlMs: number): Promise<Lease | undefined>;
  /** Extends a held lease; false when it is no longer held by `lease.holder` with that token. */
  renewLease(lease: Lease, ttlMs: number): Promise<boolean>;
  releaseLease(lease: Lease): Promise<void>;
  currentLease(): Promise<Lease | undefined>;
}
