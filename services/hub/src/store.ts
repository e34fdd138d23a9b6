/**
 * What the hub keeps: the records, and one small interface per concern over them. The process
 * keeps nothing a restart can lose; all of it lives behind these interfaces, implemented over
 * Redis in `redis/`. Each component takes only the interfaces it uses, so a unit test fakes
 * only those.
 */
import type {
  App,
  AuditEntry,
  ClusterStatus,
  Delivery,
  Environment,
  Freeze,
  Receiver,
  Report,
  RepoSpec,
  Role,
  RolloutPhase,
  RolloutState,
  Team,
} from "@flotilla/api";
import type { AppSettings } from "./desired/index.js";

export { CLUSTER_STATES, type ClusterState, type ClusterStatus } from "@flotilla/api";

/** A registered cluster. The agent's private key is never stored, only its public half. */
export interface ClusterRecord {
  name: string;
  labels: Record<string, string>;
  /** SPKI PEM of the agent's Ed25519 key; reports and heartbeats verify against it alone. */
  agentPublicKey: string;
  /** Public nkey of the cluster's NATS user, when credentials were minted; revoked on delete. */
  natsUserPublicKey?: string;
  /** Set by `cluster rotate`: the next credentials request must bring a new NATS user key. */
  natsRotateRequested?: boolean;
  createdAtMs: number;
}

/** A team as stored: exactly as the API shows it. */
export type TeamRecord = Team;

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

/** An app as stored: exactly as the API shows it. */
export type AppRecord = App;

/** An environment as stored, its policy with every default filled in: exactly as the API shows it. */
/** An environment as stored: its Prometheus credentials only in `sealedPrometheusCredentials`, encrypted. */
export type EnvironmentRecord = Environment & {
  /** SecretBox ciphertext of its PrometheusCredentials, bound to the environment's name. */
  sealedPrometheusCredentials?: string;
};

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
  /**
   * Digest of the settings snapshot this state was resolved from (with `revision`, the target
   * the cluster is at); absent on records written before snapshots existed.
   */
  settings?: string;
  /** Hash of everything the agent acts on (not generation, time or rollout id). */
  fingerprint: string;
  /** The app was removed from this cluster (a `remove` desired state was published). */
  removed?: boolean;
  publishedAtMs: number;
}

/** The last verified report of one (cluster, app), stored as the API shows it. */
export type ReportRecord = Report;

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

/** Registry objects, read side: all most components need. */
export interface ObjectReader {
  getObject<K extends StoredKind>(kind: K, name: string): Promise<RecordOf[K] | undefined>;
  /** Every object of `kind`, sorted by name. */
  listObjects<K extends StoredKind>(kind: K): Promise<RecordOf[K][]>;
  /**
   * Objects of `kind` by name in one round trip; names without an object are left out. The
   * records may be shared with other readers (frozen): copy before changing one.
   */
  getObjects<K extends StoredKind>(kind: K, names: readonly string[]): Promise<Map<string, RecordOf[K]>>;
}

/** Registry objects: clusters, teams, repos, apps and environments. Only the registry writes. */
export interface ObjectStore extends ObjectReader {
  /** Names of every object of `kind`, sorted, without reading the objects: for paging. */
  listNames(kind: StoredKind): Promise<string[]>;
  /** Writes `record` only if no object of that kind and name exists; false if one does. */
  createObject<K extends StoredKind>(kind: K, record: RecordOf[K]): Promise<boolean>;
  putObject<K extends StoredKind>(kind: K, record: RecordOf[K]): Promise<void>;
  /**
   * Replaces `expected` (as read) with `next` only if the object still holds exactly what was
   * read: false when it was changed or deleted meanwhile, and then nothing is written.
   */
  replaceObject<K extends StoredKind>(kind: K, expected: RecordOf[K], next: RecordOf[K]): Promise<boolean>;
  /** False when there was no such object. */
  deleteObject(kind: StoredKind, name: string): Promise<boolean>;
}

/** Cluster liveness, folded from heartbeats by the leader's ingester. */
export interface ClusterStatusStore {
  getClusterStatus(cluster: string): Promise<ClusterStatus | undefined>;
  /** Statuses of many clusters in one round trip; clusters without one are left out. */
  getClusterStatuses(clusters: readonly string[]): Promise<Map<string, ClusterStatus>>;
  putClusterStatus(cluster: string, status: ClusterStatus): Promise<void>;
  /** Writes many statuses in one round trip. */
  putClusterStatuses(statuses: ReadonlyMap<string, ClusterStatus>): Promise<void>;
}

/**
 * What the hub recorded about a cluster while it ran: its status, reports and desired records.
 * Dropped together when it is deregistered, so a cluster registered later under the same name
 * starts clean.
 */
export interface ClusterCleanup {
  /** Drops status, reports and desired records of a deregistered cluster (generations stay). */
  forgetCluster(cluster: string): Promise<void>;
}

/** Generation counters per (cluster, app): never reset, so an agent never sees a number twice. */
export interface GenerationStore {
  /**
   * The next generation of (cluster, app): at least one more than any before and at least
   * `floor`. Only when `fence` still holds the leader lease; else throws NotLeaderError.
   */
  allocateGeneration(cluster: string, app: string, floor: number, fence: Lease): Promise<number>;
  /** {@link allocateGeneration} for many pairs in one round trip, all or none; in the order asked. */
  allocateGenerations(
    requests: readonly { cluster: string; app: string; floor: number }[],
    fence: Lease,
  ): Promise<number[]>;
}

/** The last desired state published per (cluster, app). */
export interface DesiredStore {
  getDesired(cluster: string, app: string): Promise<DesiredRecord | undefined>;
  putDesired(record: DesiredRecord): Promise<void>;
  /** Records of one cluster, of one app, or (no filter) of every registered cluster. */
  listDesired(by: { cluster?: string; app?: string }): Promise<DesiredRecord[]>;
}

/**
 * Which (cluster, app) pairs the hub has published a desired state for: the apps assigned to a
 * cluster, now or before (a removed app's last reports still count). One round trip per call.
 */
export interface AssignmentReader {
  published(pairs: readonly { cluster: string; app: string }[]): Promise<boolean[]>;
}

/** Desired records of many (cluster, app) pairs at once: one round trip per batch, for the publisher and conductor. */
export interface DesiredBatchStore extends DesiredStore {
  /** The records of many pairs in one round trip, in the order asked; undefined where there is none. */
  getDesiredMany(pairs: readonly { cluster: string; app: string }[]): Promise<(DesiredRecord | undefined)[]>;
  /** Stores many records in one transaction. */
  putDesiredMany(records: readonly DesiredRecord[]): Promise<void>;
}

/** The last verified report per (cluster, app). */
/**
 * A verified report ready to store: the fields the hub acts on at once (digest, events) and the
 * whole record as the JSON it is stored as. The verification threads make it, so the main
 * thread neither receives a report's resources as objects nor serializes them again.
 */
export interface SerializedReport
  extends Pick<
    ReportRecord,
    "cluster" | "app" | "revision" | "observedGeneration" | "phase" | "health" | "receivedAtMs" | "digest"
  > {
  json: string;
}

/** A report record with its stored JSON (tests and single writes). */
export function serializeReport(record: ReportRecord): SerializedReport {
  const { cluster, app, revision, observedGeneration, phase, health, receivedAtMs, digest } = record;
  return {
    cluster,
    app,
    revision,
    observedGeneration,
    phase,
    health,
    receivedAtMs,
    digest,
    json: JSON.stringify(record),
  };
}

export interface ReportStore {
  getReport(cluster: string, app: string): Promise<ReportRecord | undefined>;
  putReport(record: ReportRecord): Promise<void>;
  /** The reports of many (cluster, app) pairs in one round trip, in the order asked; undefined where there is none. */
  getReports(pairs: readonly { cluster: string; app: string }[]): Promise<(ReportRecord | undefined)[]>;
  /** Writes many reports, serialized where they were verified, in one round trip. */
  putReports(reports: readonly SerializedReport[]): Promise<void>;
  /** Reports of one cluster, of one app, or (no filter) of every registered cluster. */
  listReports(by: { cluster?: string; app?: string }): Promise<ReportRecord[]>;
}

/** The last branch head the tracker saw per (repo, environment). */
export interface HeadStore {
  getHead(repo: string, environment: string): Promise<HeadRecord | undefined>;
  putHead(record: HeadRecord): Promise<void>;
}

/**
 * Settings snapshots, content-addressed: the key is the snapshot's digest, so a stored snapshot
 * never changes and every replica reads the same settings for a rollout's target.
 */
export interface SettingsStore {
  /** Stores `settings` under `digest` unless already there (its content is the same by construction). */
  putSettings(digest: string, settings: AppSettings): Promise<void>;
  getSettings(digest: string): Promise<AppSettings | undefined>;
}

/** The hub's generated signing key, sealed; replicas must all load the same one. */
export interface SigningKeyStore {
  getSealedSigningKey(): Promise<string | undefined>;
  /** Stores `sealed` only if no key is stored yet; returns the key stored now, so replicas agree. */
  setSealedSigningKeyIfAbsent(sealed: string): Promise<string>;
  /** Overwrites the stored key (after a rotation: with the current one, so no retired private key stays). */
  replaceSealedSigningKey(sealed: string): Promise<void>;
  /** Ids of hub keys retired by rotations, kept apart from the key set so a lost set cannot bring one back. */
  getRetiredKeyIds(): Promise<string[]>;
  addRetiredKeyIds(ids: readonly string[]): Promise<void>;
  /** The sealed key set (see `keys/rotation.ts`) and its version, when one is stored. */
  getSealedKeySet(): Promise<{ version: number; sealed: string } | undefined>;
  /**
   * Stores a key set at `version` only while the stored one is at `expected` (undefined: none
   * stored); false when another replica changed it first.
   */
  putSealedKeySet(sealed: string, version: number, expected: number | undefined): Promise<boolean>;
}

/** The leader lease and its fencing tokens. */
export interface LeaseStore {
  /** Takes the leader lease if free; returns it with a new fencing token, or undefined. */
  acquireLease(holder: string, ttlMs: number): Promise<Lease | undefined>;
  /** Extends a held lease; false when it is no longer held by `lease.holder` with that token. */
  renewLease(lease: Lease, ttlMs: number): Promise<boolean>;
  releaseLease(lease: Lease): Promise<void>;
  currentLease(): Promise<Lease | undefined>;
}

/**
 * Ended rollouts kept per (app, environment): the newest this many stay listed in
 * `GET /v1/rollouts`; older ones that have settled are deleted when a new rollout is created.
 * Rollouts in flight (or still finishing rollback writes) and the last succeeded one are kept
 * whatever their age, so the last good revision never goes with them.
 */
export const ROLLOUT_RETENTION = 50;

/**
 * A stored rollout and the token of a later compare-and-set. Shared with other readers: never
 * change it in place (the pure functions of `rollout/` copy).
 */
export interface StoredRollout {
  rollout: RolloutState;
  /** The text as stored (the Redis store: the header, which every save changes); pass it back to {@link RolloutStore.compareAndSet}. */
  raw: string;
}

/** Filters of `GET /v1/rollouts`; all optional, combined with AND. */
export interface RolloutFilter {
  app?: string;
  environment?: string;
  state?: RolloutPhase;
}

/**
 * Where rollouts live. Every change of a stored rollout is a compare-and-set on the text read
 * before, so a command from any API replica and the leader's step can never overwrite each
 * other; the leader's writes also carry its lease, so a deposed leader changes nothing.
 */
export interface RolloutStore {
  /** Stores a new rollout (fenced); false when the id is taken. */
  create(rollout: RolloutState, fence: Lease): Promise<boolean>;
  get(id: string): Promise<StoredRollout | undefined>;
  /**
   * Replaces `expected` by `next`; false when the stored rollout changed meanwhile (read again
   * and retry). A `next` equal to `expected` saves nothing and returns true. With `fence`,
   * throws NotLeaderError when that lease no longer holds (when something is saved).
   */
  compareAndSet(expected: StoredRollout, next: RolloutState, fence?: Lease): Promise<boolean>;
  /** Newest first; at most {@link ROLLOUT_RETENTION} ended ones per (app, environment) are kept. */
  list(filter: RolloutFilter): Promise<RolloutState[]>;
  /** Ids of rollouts the engine still steps (not settled), oldest first. */
  unsettled(): Promise<string[]>;
  /** Unsettled rollouts of (app, environment): the ones that own their clusters now. */
  active(app: string, environment: string): Promise<RolloutState[]>;
  /** The most recently created rollout of (app, environment). */
  latest(app: string, environment: string): Promise<StoredRollout | undefined>;
  /**
   * The newest Succeeded rollout of (app, environment): its toRevision is the last good
   * revision. Read through a pointer that the compare-and-set saving a Succeeded rollout
   * moves in the same script, so it cannot lag behind the rollouts and needs no scan.
   */
  lastSucceeded(app: string, environment: string): Promise<RolloutState | undefined>;
}

/**
 * The NATS account JWT with every revocation so far, shared by all replicas: each revocation
 * builds on the JWT stored before, under a lock, so none undoes another.
 */
export interface AccountJwtStore {
  get(): Promise<string | undefined>;
  put(jwt: string): Promise<void>;
  /**
   * Takes the lock that serialises account JWT changes across replicas, waiting a while for
   * another holder; returns its release, or undefined when the lock stayed taken.
   */
  lock(): Promise<(() => Promise<void>) | undefined>;
}

/** A minted API token as stored: its secret only as a SHA-256 (see `access/token.ts`). */
export interface TokenRecord {
  id: string;
  role: Role;
  team?: string;
  description?: string;
  /** Hex SHA-256 of the token's secret part. */
  secretSha256: string;
  createdAtMs: number;
  /** Id of the token that minted it. */
  createdBy: string;
  expiresAtMs?: number;
}

/** How long the record of an expired token is kept (it still answers "expired"), then dropped. */
export const EXPIRED_TOKEN_RETENTION_MS = 7 * 86_400_000;

/** Minted API tokens. Revoking deletes the record; the audit trail keeps the history. */
export interface TokenStore {
  create(record: TokenRecord): Promise<void>;
  get(id: string): Promise<TokenRecord | undefined>;
  /** Every stored token (expired ones until {@link EXPIRED_TOKEN_RETENTION_MS} after expiry), by id, with its last use. */
  list(): Promise<(TokenRecord & { lastUsedAtMs?: number })[]>;
  /** False when there was no such token. */
  delete(id: string): Promise<boolean>;
  /** Records that the token was used at `atMs`. Callers throttle it. */
  touch(id: string, atMs: number): Promise<void>;
}

/** A registration token as stored: under the cluster and a SHA-256 of the token, never the token. */
export interface RegistrationTokenRecord {
  cluster: string;
  /** The registration it was minted for: a cluster deregistered and registered again refuses it. */
  clusterCreatedAtMs: number;
  createdAtMs: number;
  /** When it stops working unused; Redis drops the record then. */
  expiresAtMs: number;
  /** Id of the API token that minted it. */
  createdBy: string;
}

/** Single-use registration tokens (registry/registration.ts). */
export interface RegistrationTokenStore {
  /** Stores a token's record under its digest; it disappears at `record.expiresAtMs`. */
  put(digest: string, record: RegistrationTokenRecord): Promise<void>;
  /**
   * Takes the record of the cluster's token with this digest and deletes it in one step: of two
   * concurrent takers only one gets it. Undefined when there is none (unknown, expired, used).
   */
  take(cluster: string, digest: string): Promise<RegistrationTokenRecord | undefined>;
  /** Deletes every outstanding token of the cluster; how many there were. */
  dropAll(cluster: string): Promise<number>;
}

/** What the audit trail is asked for: all optional, combined with AND. */
export interface AuditFilter {
  /** Entries whose object's team or actor's team is this. */
  team?: string;
  kind?: string;
  object?: string;
  sinceMs?: number;
  /** At most this many, newest first. */
  limit: number;
}

/** The audit trail: append-only, capped at about `maxEntries` (oldest dropped first). */
export interface AuditStore {
  /** Stores one entry and returns its id (time-ordered). */
  append(entry: Omit<AuditEntry, "id">): Promise<string>;
  /** Matching entries, newest first. */
  list(filter: AuditFilter): Promise<AuditEntry[]>;
}

/** Freezes in force: at most one for the fleet and one per environment. */
export interface FreezeStore {
  /** Every freeze in force, oldest first. */
  list(): Promise<Freeze[]>;
  /** Sets (or replaces) the fleet's freeze, or an environment's when `freeze.environment` is set. */
  put(freeze: Freeze): Promise<void>;
  /** Lifts the environment's freeze (the fleet's when undefined); false when there was none. */
  delete(environment: string | undefined): Promise<boolean>;
}

/** A notification receiver as stored: its URL and secret only sealed. */
export interface ReceiverRecord extends Receiver {
  /** SecretBox ciphertext of {@link ReceiverSecrets}, bound to the receiver's name. */
  sealed: string;
}

/** What a receiver record keeps sealed. */
export interface ReceiverSecrets {
  url: string;
  secret?: string;
}

/** Notification receivers and the log of deliveries to them (capped, oldest dropped first). */
export interface ReceiverStore {
  /** Writes a receiver; true when it is new. */
  putReceiver(record: ReceiverRecord): Promise<boolean>;
  getReceiver(name: string): Promise<ReceiverRecord | undefined>;
  listReceivers(): Promise<ReceiverRecord[]>;
  /** False when there was none of that name. */
  deleteReceiver(name: string): Promise<boolean>;
  appendDelivery(delivery: Omit<Delivery, "id">): Promise<string>;
  /** The deliveries to `receiver`, newest first, at most `limit`. */
  listDeliveries(receiver: string, limit: number): Promise<Delivery[]>;
}

/** Every store, one per concern, as `redisStores` builds them over one connection. */
export interface Stores {
  objects: ObjectStore;
  statuses: ClusterStatusStore;
  cleanup: ClusterCleanup;
  generations: GenerationStore;
  desired: DesiredBatchStore & AssignmentReader;
  reports: ReportStore;
  heads: HeadStore;
  settings: SettingsStore;
  signingKey: SigningKeyStore;
  leases: LeaseStore;
  rollouts: RolloutStore;
  accountJwt: AccountJwtStore;
  tokens: TokenStore;
  registrationTokens: RegistrationTokenStore;
  audit: AuditStore;
  freezes: FreezeStore;
  receivers: ReceiverStore;
}
