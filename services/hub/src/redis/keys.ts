/**
 * Every Redis key and channel the hub uses, all under `flotilla:`:
 * - `obj:<kind>:<name>` JSON record; `idx:<kind>` set of names (kind lowercase: cluster, team, repo, app, environment)
 * - `cluster-status:<cluster>` JSON ClusterStatus
 * - `gen:<cluster>.<app>` generation counter (INCR behind a lease check; never reset, not even on deregistration)
 * - `desired:<cluster>.<app>` JSON DesiredRecord; `desired-by-cluster:<cluster>`, `desired-by-app:<app>` index sets
 * - `report:<cluster>.<app>` JSON ReportRecord; `report-by-cluster:<cluster>`, `report-by-app:<app>` index sets
 * - `head:<repo>:<environment>` JSON HeadRecord
 * - `settings:<digest>` JSON AppSettings snapshot, immutable (content-addressed by its SHA-256)
 * - `rollout:<id>` the rollout's header: its RolloutState JSON without clusters, with a revision
 *   raised by every save (the compare-and-set token); `rollout-clusters:<id>` hash cluster → JSON
 *   `[wave, position, progress]` (see `rollout-parts.ts`; a header without a revision is a whole
 *   document stored by an earlier hub, read as is and split on its next save); `rollouts` and
 *   `rollouts-by:<app>:<env>` sorted sets of ids scored by detection time; `rollouts-active` set of
 *   unsettled ids; `rollout-last-good:<app>:<env>` id of the newest Succeeded rollout
 * - `hub-signing-key` sealed PKCS#8 PEM of a generated hub key (the first key of the key set)
 * - `hub-key-set` hash: `version` (the set's version) and `sealed` (the sealed JSON HubKeyState:
 *   the set agents are told of and the private keys in it), changed only by compare-and-set on `version`
 * - `nats-account-jwt` account JWT with every revocation; `nats-account-lock` lock serialising revocations
 * - `leader` lease value `<holder>|<token>` with a TTL; `leader-fence` fencing token counter
 * - `token:<id>` JSON TokenRecord (the secret only as its SHA-256; expires a week after the
 *   token does); `tokens` set of ids; `tokens-last-used` hash id → ms of the last use (written at
 *   most once a minute per token and replica)
 * - `registration-token:<cluster>:<sha256>` JSON RegistrationTokenRecord of a single-use
 *   registration token (never the token), expiring with it; taken with GETDEL
 * - `freezes` hash: field `fleet` or `env:<environment>` → JSON Freeze (an operator's freeze in force)
 * - `audit` stream of audit entries (field `e`: the entry as JSON), capped with `MAXLEN ~`
 * - `receivers` hash name → JSON ReceiverRecord (URL and secret sealed); `deliveries` stream of
 *   notification deliveries (field `e`: the delivery as JSON), capped with `MAXLEN ~`
 * - `auth-failures:<address>` failed authentications from one client address in the current
 *   window (@fastify/rate-limit's Redis store; expires with the window)
 * - `events` stream of hub events, one entry per batch (field `e`: a JSON array of HubEvents),
 *   capped with `MAXLEN ~`; every replica reads it in order for its SSE clients, and a client's
 *   `Last-Event-ID` (`<entry id>:<index>`) resumes from it
 * - pub/sub channel `nudge` (wake the tracker for one repo)
 *
 * The Lua scripts that change several of these at once are in `scripts.ts`.
 */
import type { Lease, StoredKind } from "../store.js";

/** Prefix of every key and channel. */
export const KEY_PREFIX = "flotilla:";

/** Key names; the functions take the parts of the name. */
export const keys = {
  object: (kind: StoredKind, name: string) => `${KEY_PREFIX}obj:${kind.toLowerCase()}:${name}`,
  objectIndex: (kind: StoredKind) => `${KEY_PREFIX}idx:${kind.toLowerCase()}`,
  /** Raised by every change of the kind's index, so a replica may keep the sorted names it read. */
  objectIndexVersion: (kind: StoredKind) => `${KEY_PREFIX}idx-version:${kind.toLowerCase()}`,
  clusterStatus: (cluster: string) => `${KEY_PREFIX}cluster-status:${cluster}`,
  generation: (cluster: string, app: string) => `${KEY_PREFIX}gen:${cluster}.${app}`,
  desired: (cluster: string, app: string) => `${KEY_PREFIX}desired:${cluster}.${app}`,
  desiredByCluster: (cluster: string) => `${KEY_PREFIX}desired-by-cluster:${cluster}`,
  desiredByApp: (app: string) => `${KEY_PREFIX}desired-by-app:${app}`,
  report: (cluster: string, app: string) => `${KEY_PREFIX}report:${cluster}.${app}`,
  reportByCluster: (cluster: string) => `${KEY_PREFIX}report-by-cluster:${cluster}`,
  reportByApp: (app: string) => `${KEY_PREFIX}report-by-app:${app}`,
  head: (repo: string, environment: string) => `${KEY_PREFIX}head:${repo}:${environment}`,
  settings: (digest: string) => `${KEY_PREFIX}settings:${digest}`,
  rollout: (id: string) => `${KEY_PREFIX}rollout:${id}`,
  rolloutClusters: (id: string) => `${KEY_PREFIX}rollout-clusters:${id}`,
  rollouts: `${KEY_PREFIX}rollouts`,
  rolloutsBy: (app: string, environment: string) => `${KEY_PREFIX}rollouts-by:${app}:${environment}`,
  rolloutsActive: `${KEY_PREFIX}rollouts-active`,
  rolloutLastGood: (app: string, environment: string) => `${KEY_PREFIX}rollout-last-good:${app}:${environment}`,
  signingKey: `${KEY_PREFIX}hub-signing-key`,
  hubKeySet: `${KEY_PREFIX}hub-key-set`,
  accountJwt: `${KEY_PREFIX}nats-account-jwt`,
  accountLock: `${KEY_PREFIX}nats-account-lock`,
  leader: `${KEY_PREFIX}leader`,
  leaderFence: `${KEY_PREFIX}leader-fence`,
  token: (id: string) => `${KEY_PREFIX}token:${id}`,
  tokens: `${KEY_PREFIX}tokens`,
  tokensLastUsed: `${KEY_PREFIX}tokens-last-used`,
  registrationToken: (cluster: string, digest: string) => `${KEY_PREFIX}registration-token:${cluster}:${digest}`,
  audit: `${KEY_PREFIX}audit`,
  freezes: `${KEY_PREFIX}freezes`,
  events: `${KEY_PREFIX}events`,
  receivers: `${KEY_PREFIX}receivers`,
  deliveries: `${KEY_PREFIX}deliveries`,
  /** Prefix of the rate limiter's counters; it appends the client address. */
  authFailuresPrefix: `${KEY_PREFIX}auth-failures:`,
} as const;

/** Pub/sub channel asking the leader's tracker to poll one repo now (webhooks, registry changes). */
export const NUDGE_CHANNEL = `${KEY_PREFIX}nudge`;

/** The value of the `leader` key while `lease` holds it; fenced scripts compare against it. */
export function leaseValue(lease: Lease): string {
  return `${lease.holder}|${lease.token}`;
}

/** The lease a `leader` key value names. */
export function parseLeaseValue(value: string): Lease {
  const at = value.lastIndexOf("|");
  return { holder: value.slice(0, at), token: Number(value.slice(at + 1)) };
}
