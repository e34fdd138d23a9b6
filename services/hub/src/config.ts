/**
 * The hub's configuration: one zod schema, and the table of environment variables, flags and
 * files that feed it ({@link SETTINGS}), read by the loader hub and agent share. Parsed once at
 * start; a bad value stops the hub with one line naming the variable.
 */
import { hostname } from "node:os";
import { allowListProblem } from "@flotilla/netguard";
import {
  checkNatsTls,
  durationSchema,
  flagSchema,
  listSchema,
  loadSettings,
  NATS_TLS_SETTINGS,
  natsTlsShape,
  parseSettings,
  type Setting,
  SettingsError,
} from "@flotilla/settings";
import { z } from "zod";
import { ConfigError } from "./errors.js";
import { DEFAULT_ACCOUNT_DISK_BYTES } from "./nats/auth/setup.js";
import {
  DEFAULT_DESIRED_MAX_BYTES,
  DEFAULT_DESIRED_MAX_VALUE_SIZE,
  DEFAULT_STATUS_MAX_BYTES,
  DEFAULT_STATUS_MAX_VALUE_SIZE,
} from "./nats/buckets.js";

/** Default HTTP listen address: loopback only, so nothing is exposed by accident. */
export const DEFAULT_LISTEN = "127.0.0.1:8080";
/** Default Redis URL. */
export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";
/** Default NATS URL. */
export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";
/** Default replicas of the two KV buckets: 1, a single nats-server. Set 3 on a JetStream cluster. */
export const DEFAULT_NATS_REPLICAS = 1;
/**
 * Default lifetime of agents' NATS user JWTs: 24 h. Agents renew at half of it, so an agent
 * offline for more than about 12 h at the wrong moment, or 24 h at most, needs a new bundle.
 */
export const DEFAULT_AGENT_CREDS_TTL_MS = 24 * 60 * 60 * 1000;
/** Default name Sentinel monitors the hub's Redis primary under (`FLOTILLA_REDIS_SENTINEL_MASTER`). */
export const DEFAULT_REDIS_SENTINEL_MASTER = "flotilla";
/** Default Git poll interval for repos that do not set their own: 15 s. */
export const DEFAULT_POLL_INTERVAL_MS = 15_000;
/** Default interval at which agents send heartbeats: 10 s (the agent uses the same variable). */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 10_000;
/** Default number of missed heartbeats after which a Ready cluster turns Offline: 3. */
export const DEFAULT_OFFLINE_AFTER_MISSED = 3;
/** Default leader lease time-to-live: 5 s; a dead leader is replaced within about this long. */
export const DEFAULT_LEASE_TTL_MS = 5_000;
/** Default size cap of the Git cache (`FLOTILLA_HUB_GIT_CACHE_SIZE`): 512 MiB. */
export const DEFAULT_GIT_CACHE_MAX_BYTES = 512 * 1024 * 1024;
/** Default threads that verify agents' signatures: two, enough to keep ingestion off one busy core. */
export const DEFAULT_VERIFY_THREADS = 2;
/** Default log level. */
export const DEFAULT_LOG_LEVEL = "info";
/** Shortest admin token accepted, so a guessable token cannot be configured by mistake. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;
/** Default time one Prometheus query of a metric analysis may take before it counts as inconclusive: 5 s. */
export const DEFAULT_PROMETHEUS_TIMEOUT_MS = 5_000;
/** Default time to receive a whole request, headers and body: 30 s. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Longest time to receive a request's headers, whatever the request timeout: 10 s. */
export const MAX_HEADERS_TIMEOUT_MS = 10_000;
/** Default idle keep-alive time: 72 s, longer than the 60 s idle timeout of common load balancers. */
export const DEFAULT_KEEPALIVE_TIMEOUT_MS = 72_000;
/** Default most event streams one token may hold open on one replica. */
export const DEFAULT_MAX_STREAMS_PER_TOKEN = 8;
/** Default failed authentications one client address may make per minute before it is refused. */
export const DEFAULT_AUTH_FAILURE_LIMIT = 20;
/** Default size of the audit trail (approximate: Redis trims whole stream nodes). */
export const DEFAULT_AUDIT_MAX_ENTRIES = 50_000;
/**
 * Default size of the event log, in batches of events (approximate, as for the audit trail): a
 * reconnecting event stream gets what it missed while its `Last-Event-ID` is still in it.
 */
export const DEFAULT_EVENTS_MAX_ENTRIES = 20_000;

const SIZE_UNITS: Record<string, number> = { "": 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };

/** A size in bytes of at least `min`: a bare number, or with `Ki`, `Mi` or `Gi` (`256Mi`). */
function sizeAtLeast(min: number, minText: string, examples: string) {
  return z.union([z.number(), z.string()]).transform((value, ctx) => {
    const match = /^\s*(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi)?\s*$/.exec(String(value));
    const bytes = match ? Math.floor(Number(match[1]) * (SIZE_UNITS[match[2] ?? ""] ?? 1)) : Number.NaN;
    if (!Number.isSafeInteger(bytes) || bytes < min) {
      ctx.addIssue({
        code: "custom",
        message: `${JSON.stringify(value)} is not a size of at least ${minText} (e.g. ${examples})`,
      });
      return z.NEVER;
    }
    return bytes;
  });
}

/** A size in bytes: a bare number, or with `Ki`, `Mi` or `Gi` (`256Mi`), at least 1 MiB. */
const sizeSchema = sizeAtLeast(1024 * 1024, "1Mi", "512Mi, 2Gi");

/** The largest value of a KV bucket: at least 4 KiB (NATS refuses any message over its own 1 MiB default payload). */
const valueSizeSchema = sizeAtLeast(4 * 1024, "4Ki", "64Ki, 256Ki");

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const listen = z.string().transform((text, ctx) => {
  const match = /^(.*):(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (!match?.[1] || port > 65535) {
    ctx.addIssue({ code: "custom", message: `${JSON.stringify(text)} is not host:port` });
    return z.NEVER;
  }
  return { host: match[1].replace(/^\[(.*)\]$/, "$1"), port };
});

/** Sentinel addresses, `host:port` each; a bad entry is named. */
const sentinels = listSchema.transform((entries, ctx) =>
  entries.map((entry) => {
    const match = /^(.+):(\d{1,5})$/.exec(entry);
    const port = Number(match?.[2]);
    if (!match?.[1] || port < 1 || port > 65535) {
      ctx.addIssue({ code: "custom", message: `${JSON.stringify(entry)} is not host:port` });
      return { host: "", port: 0 };
    }
    return { host: match[1].replace(/^\[(.*)\]$/, "$1"), port };
  }),
);

/** Non-public Git hosts, addresses or CIDR ranges; a bad entry is named. */
const allowedHosts = listSchema.superRefine((entries, ctx) => {
  const problem = allowListProblem(entries);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/**
 * The hub's settings after reading files. Every field maps to one environment variable
 * (and a flag); see {@link SETTINGS}.
 */
export const hubConfigSchema = z
  .object({
    /** `FLOTILLA_HUB_LISTEN` / `--listen`: HTTP address, host:port. @default {@link DEFAULT_LISTEN} (port 0 picks a free port). */
    listen: listen.prefault(DEFAULT_LISTEN),
    /** `FLOTILLA_REDIS_URL` / `--redis-url`: where everything the hub knows is kept. @default {@link DEFAULT_REDIS_URL} */
    redisUrl: z.string().url().default(DEFAULT_REDIS_URL),
    /** `FLOTILLA_NATS_URL` / `--nats-url`: NATS server(s) the hub connects to, comma-separated. @default {@link DEFAULT_NATS_URL} */
    natsUrl: z.string().min(1).default(DEFAULT_NATS_URL),
    /**
     * The NATS TLS settings (`FLOTILLA_NATS_CA_FILE`, `FLOTILLA_NATS_CERT_FILE`,
     * `FLOTILLA_NATS_KEY_FILE`, `FLOTILLA_NATS_SERVER_NAME`, `FLOTILLA_NATS_INSECURE`), shared with
     * the agent: TLS is required unless `FLOTILLA_NATS_INSECURE=true`.
     */
    ...natsTlsShape,
    /**
     * `FLOTILLA_NATS_REPLICAS` / `--nats-replicas`: replicas of the `flotilla_desired` and
     * `flotilla_status` buckets when the hub creates them (1 on a single server, 3 on a
     * three-node JetStream cluster; never more than the cluster has nodes). A bucket that exists
     * is scaled to this count at start. @default {@link DEFAULT_NATS_REPLICAS}
     */
    natsReplicas: z.coerce.number().int().min(1).max(5).default(DEFAULT_NATS_REPLICAS),
    /**
     * `FLOTILLA_NATS_STATUS_MAX_BYTES` / `--nats-status-max-bytes`: bytes the `flotilla_status`
     * bucket may hold; agents' writes past it are refused by the server. Set at start on an
     * existing bucket too. Size it as clusters × apps per cluster × largest report.
     * @default {@link DEFAULT_STATUS_MAX_BYTES}
     */
    natsStatusMaxBytes: sizeSchema.default(DEFAULT_STATUS_MAX_BYTES),
    /**
     * `FLOTILLA_NATS_STATUS_MAX_VALUE` / `--nats-status-max-value`: largest report an agent may
     * write. @default {@link DEFAULT_STATUS_MAX_VALUE_SIZE}
     */
    natsStatusMaxValueSize: valueSizeSchema.default(DEFAULT_STATUS_MAX_VALUE_SIZE),
    /**
     * `FLOTILLA_NATS_DESIRED_MAX_BYTES` / `--nats-desired-max-bytes`: bytes the `flotilla_desired`
     * bucket may hold, its history included. @default {@link DEFAULT_DESIRED_MAX_BYTES}
     */
    natsDesiredMaxBytes: sizeSchema.default(DEFAULT_DESIRED_MAX_BYTES),
    /**
     * `FLOTILLA_NATS_DESIRED_MAX_VALUE` / `--nats-desired-max-value`: largest desired state the hub
     * writes; a bigger one fails to publish with the server's error. @default {@link DEFAULT_DESIRED_MAX_VALUE_SIZE}
     */
    natsDesiredMaxValueSize: valueSizeSchema.default(DEFAULT_DESIRED_MAX_VALUE_SIZE),
    /**
     * `FLOTILLA_NATS_ACCOUNT_MAX_BYTES` / `--nats-account-max-bytes`: JetStream file storage of
     * the FLOTILLA account (hub and agents), set in the account JWT at start when the hub holds
     * the operator setup. At least both buckets' bytes times their replicas.
     * @default {@link DEFAULT_ACCOUNT_DISK_BYTES}
     */
    natsAccountMaxBytes: sizeSchema.default(DEFAULT_ACCOUNT_DISK_BYTES),
    /**
     * `FLOTILLA_AGENT_CREDS_TTL` / `--agent-creds-ttl`: lifetime of the NATS user JWTs the hub
     * mints for agents (at registration, and at each renewal agents ask for over NATS at half
     * their lifetime). At least 2 s; there is no never.
     * @default {@link DEFAULT_AGENT_CREDS_TTL_MS}
     */
    agentCredsTtlMs: durationSchema
      .refine((ms) => ms >= 2_000, "must be at least 2s")
      .default(DEFAULT_AGENT_CREDS_TTL_MS),
    /**
     * `FLOTILLA_REDIS_SENTINELS` / `--redis-sentinels`: Redis Sentinel addresses, comma-separated
     * `host:port`. When set, the hub asks them for the primary of
     * {@link DEFAULT_REDIS_SENTINEL_MASTER | the master name} and follows failovers; the host of
     * `FLOTILLA_REDIS_URL` is then ignored, its username, password and database still apply to
     * the primary. @default unset: connect to `FLOTILLA_REDIS_URL` directly
     */
    redisSentinels: sentinels.optional(),
    /** `FLOTILLA_REDIS_SENTINEL_MASTER` / `--redis-sentinel-master`: the master name the sentinels monitor. @default {@link DEFAULT_REDIS_SENTINEL_MASTER} */
    redisSentinelMaster: z.string().min(1).default(DEFAULT_REDIS_SENTINEL_MASTER),
    /** `FLOTILLA_REDIS_SENTINEL_PASSWORD_FILE` / `--redis-sentinel-password-file`: password of the sentinels themselves (`requirepass` in sentinel.conf); unset means none. */
    redisSentinelPassword: z.string().trim().min(1).optional(),
    /** `FLOTILLA_NATS_CREDS` / `--nats-creds`: text of the hub's NATS creds file; unset means no auth (dev only). */
    natsCreds: z.string().optional(),
    /** `FLOTILLA_AGENT_NATS_URL` / `--agent-nats-url`: NATS URL put in bootstrap bundles. @default the NATS URL */
    agentNatsUrl: z.string().min(1).optional(),
    /**
     * `FLOTILLA_AGENT_NATS_CA_FILE` / `--agent-nats-ca-file`: PEM of the CA put in bootstrap
     * bundles, which agents verify NATS's certificate with, so a cluster needs no file of its own.
     * @default the hub's own `FLOTILLA_NATS_CA_FILE`; neither: agents use their system CAs
     */
    agentNatsCa: z
      .string()
      .refine((text) => text.includes("-----BEGIN CERTIFICATE-----"), "must be a PEM file of CERTIFICATE blocks")
      .optional(),
    /**
     * `FLOTILLA_HUB_SIGNING_KEY_FILE` / `--signing-key-file`: PKCS#8 PEM of the hub's Ed25519 key.
     * When unset, the hub generates one on first start and keeps it in Redis, encrypted with the
     * encryption key, so every replica and every restart signs with the same key.
     */
    signingKeyPem: z.string().optional(),
    /**
     * `FLOTILLA_HUB_OPERATOR_SETUP_FILE` / `--operator-setup-file`: JSON of the NATS operator setup
     * (see nats/auth). When set, cluster registration mints per-cluster NATS credentials and
     * deregistration revokes them; when unset, bundles carry empty credentials.
     */
    operatorSetup: z.string().optional(),
    /** `FLOTILLA_HUB_ADMIN_TOKEN` or `FLOTILLA_HUB_ADMIN_TOKEN_FILE` / `--admin-token-file`: the bearer token of every API call. Required. */
    adminToken: z.string().trim().min(MIN_ADMIN_TOKEN_LENGTH, `must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters`),
    /**
     * `FLOTILLA_HUB_ENCRYPTION_KEY` or `FLOTILLA_HUB_ENCRYPTION_KEY_FILE` / `--encryption-key-file`:
     * base64 of 32 random bytes (`openssl rand -base64 32`); AES-256-GCM key for repo credentials,
     * webhook secrets and a generated signing key in Redis. Required.
     */
    encryptionKey: z.string().transform((text, ctx) => {
      const key = Buffer.from(text.trim(), "base64");
      if (key.length !== 32) {
        ctx.addIssue({ code: "custom", message: "must be base64 of exactly 32 bytes (openssl rand -base64 32)" });
        return z.NEVER;
      }
      return key;
    }),
    /**
     * `FLOTILLA_GIT_ALLOW_HTTP` / `--git-allow-http`: accept plain-HTTP repository URLs as well as
     * HTTPS. Keep it off outside a local test fleet: plain HTTP lets anyone on the path change what
     * the hub sees (agents read the same variable). @default false
     */
    gitAllowHttp: flagSchema.default(false),
    /**
     * `FLOTILLA_GIT_ALLOWED_HOSTS` / `--git-allowed-hosts`: Git hosts repository URLs may reach
     * although they are not public: host names, IP addresses or CIDR ranges, comma-separated.
     * Loopback, private, link-local, metadata and other special addresses are refused otherwise,
     * when a repo is saved and before every ref listing. @default none
     */
    gitAllowedHosts: allowedHosts.default([]),
    /** `FLOTILLA_HUB_POLL_INTERVAL` / `--poll-interval`: Git poll interval for repos without their own. @default {@link DEFAULT_POLL_INTERVAL_MS} */
    pollIntervalMs: durationSchema.default(DEFAULT_POLL_INTERVAL_MS),
    /** `FLOTILLA_HEARTBEAT_INTERVAL` / `--heartbeat-interval`: how often agents beat. @default {@link DEFAULT_HEARTBEAT_INTERVAL_MS} */
    heartbeatIntervalMs: durationSchema.default(DEFAULT_HEARTBEAT_INTERVAL_MS),
    /** `FLOTILLA_HUB_OFFLINE_AFTER_MISSED` / `--offline-after-missed`: missed beats before Offline. @default {@link DEFAULT_OFFLINE_AFTER_MISSED} */
    offlineAfterMissed: z.coerce.number().int().min(1).default(DEFAULT_OFFLINE_AFTER_MISSED),
    /**
     * `FLOTILLA_HUB_VERIFY_THREADS` / `--verify-threads`: worker threads that verify agents'
     * report and heartbeat signatures on the leader; 0 verifies on the main thread. Size it to
     * the CPUs the hub may use. @default {@link DEFAULT_VERIFY_THREADS}
     */
    verifyThreads: z.coerce.number().int().min(0).max(64).default(DEFAULT_VERIFY_THREADS),
    /** `FLOTILLA_HUB_LEASE_TTL` / `--lease-ttl`: leader lease time-to-live. @default {@link DEFAULT_LEASE_TTL_MS} */
    leaseTtlMs: durationSchema.default(DEFAULT_LEASE_TTL_MS),
    /** `FLOTILLA_HUB_REPLICA_ID` / `--replica-id`: this replica's name in the lease and logs. @default hostname-pid */
    replicaId: z.string().min(1).default(`${hostname()}-${process.pid}`),
    /**
     * `FLOTILLA_HUB_GIT_CACHE_DIR` / `--git-cache-dir`: where the leader keeps its shallow Git
     * cache (new heads' commit times and trees). Unset: a temporary directory, removed at stop.
     */
    gitCacheDir: z.string().min(1).optional(),
    /**
     * `FLOTILLA_HUB_GIT_CACHE_SIZE` / `--git-cache-size`: size cap of the Git cache (`512Mi`,
     * `2Gi`, or bytes); over it, least recently used repositories are deleted and fetched again
     * when needed. @default {@link DEFAULT_GIT_CACHE_MAX_BYTES}
     */
    gitCacheMaxBytes: sizeSchema.default(DEFAULT_GIT_CACHE_MAX_BYTES),
    /**
     * `FLOTILLA_HUB_REQUEST_TIMEOUT` / `--request-timeout`: time to receive a whole request,
     * headers and body; a client that sends slower is cut off (408). Headers must arrive within
     * {@link MAX_HEADERS_TIMEOUT_MS} or this, whichever is shorter. Event streams are not bound by
     * it once open. @default {@link DEFAULT_REQUEST_TIMEOUT_MS}
     */
    requestTimeoutMs: durationSchema
      .pipe(z.number().min(1000, "must be at least 1s"))
      .default(DEFAULT_REQUEST_TIMEOUT_MS),
    /** `FLOTILLA_HUB_KEEPALIVE_TIMEOUT` / `--keepalive-timeout`: how long an idle keep-alive connection stays open. @default {@link DEFAULT_KEEPALIVE_TIMEOUT_MS} */
    keepAliveTimeoutMs: durationSchema
      .pipe(z.number().min(1000, "must be at least 1s"))
      .default(DEFAULT_KEEPALIVE_TIMEOUT_MS),
    /** `FLOTILLA_HUB_MAX_STREAMS_PER_TOKEN` / `--max-streams-per-token`: event streams one token may hold open on one replica. @default {@link DEFAULT_MAX_STREAMS_PER_TOKEN} */
    maxStreamsPerToken: z.coerce.number().int().min(1).default(DEFAULT_MAX_STREAMS_PER_TOKEN),
    /**
     * `FLOTILLA_HUB_AUTH_FAILURE_LIMIT` / `--auth-failure-limit`: failed authentications one
     * client address may make per minute, counted across replicas in Redis; beyond it every request
     * from that address that needs a token is refused (429) until the minute is over.
     * @default {@link DEFAULT_AUTH_FAILURE_LIMIT}
     */
    authFailureLimit: z.coerce.number().int().min(1).default(DEFAULT_AUTH_FAILURE_LIMIT),
    /**
     * `FLOTILLA_HUB_TRUSTED_PROXIES` / `--trusted-proxies`: how many proxies (load balancers) stand
     * between clients and the hub. With 1 or more, a client's address is read from
     * `X-Forwarded-For` that many hops back, so failed authentications are counted per client, not
     * per proxy. Leave 0 when clients reach the hub directly: the header could then be forged.
     * @default 0
     */
    trustedProxies: z.coerce.number().int().min(0).max(10).default(0),
    /** `FLOTILLA_HUB_AUDIT_MAX_ENTRIES` / `--audit-max-entries`: about how many entries the audit trail keeps, oldest dropped first. @default {@link DEFAULT_AUDIT_MAX_ENTRIES} */
    auditMaxEntries: z.coerce.number().int().min(100).default(DEFAULT_AUDIT_MAX_ENTRIES),
    /** `FLOTILLA_HUB_EVENTS_MAX_ENTRIES` / `--events-max-entries`: about how many batches of events the event log keeps for reconnecting streams, oldest dropped first. @default {@link DEFAULT_EVENTS_MAX_ENTRIES} */
    eventsMaxEntries: z.coerce.number().int().min(100).default(DEFAULT_EVENTS_MAX_ENTRIES),
    /** `FLOTILLA_HUB_NOTIFY_RETRY_MIN` / `--notify-retry-min`: the wait before a failed notification is sent again; each next wait doubles (up to a minute, 5 retries). @default 1s */
    notifyRetryMinMs: durationSchema.default(1_000),
    /**
     * `FLOTILLA_NOTIFY_ALLOW_HTTP` / `--notify-allow-http`: accept plain-HTTP receiver URLs as well
     * as HTTPS. @default false
     */
    notifyAllowHttp: flagSchema.default(false),
    /**
     * `FLOTILLA_NOTIFY_ALLOWED_HOSTS` / `--notify-allowed-hosts`: hosts receiver URLs may reach
     * although they are not public (host names, IP addresses or CIDR ranges, comma-separated), as
     * FLOTILLA_GIT_ALLOWED_HOSTS for Git. Otherwise loopback, private, link-local and metadata
     * addresses are refused when a receiver is saved and before every delivery, so an admin's
     * receiver cannot reach the hub's own network. @default none
     */
    notifyAllowedHosts: allowedHosts.default([]),
    /**
     * `FLOTILLA_HUB_METRICS_TOKEN` or `FLOTILLA_HUB_METRICS_TOKEN_FILE` / `--metrics-token-file`:
     * when set, `/metrics` needs it as a bearer token (and no API token works there); unset, it is
     * public like the probes.
     */
    metricsToken: z
      .string()
      .trim()
      .min(MIN_ADMIN_TOKEN_LENGTH, `must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters`)
      .optional(),
    /**
     * `FLOTILLA_HUB_PROMETHEUS_URL` / `--prometheus-url`: base URL of the Prometheus-compatible
     * API (`/api/v1/query`) the leader queries for waves' metric analyses. Unset: a wave with an
     * analysis cannot measure it, and every round is inconclusive, naming this setting.
     */
    prometheusUrl: z
      .url({ protocol: /^https?$/, error: "must be an http(s) URL, like http://prometheus:9090" })
      .optional(),
    /**
     * `FLOTILLA_HUB_PROMETHEUS_TOKEN` or `FLOTILLA_HUB_PROMETHEUS_TOKEN_FILE` /
     * `--prometheus-token-file`: bearer token sent with every query; never logged. @default none
     */
    prometheusToken: z.string().trim().min(1).optional(),
    /** `FLOTILLA_HUB_PROMETHEUS_TIMEOUT` / `--prometheus-timeout`: one query's time limit. @default {@link DEFAULT_PROMETHEUS_TIMEOUT_MS} */
    prometheusTimeoutMs: durationSchema.default(DEFAULT_PROMETHEUS_TIMEOUT_MS),
    /** `FLOTILLA_LOG_LEVEL` / `--log-level`. @default {@link DEFAULT_LOG_LEVEL} */
    logLevel: z.enum(LOG_LEVELS).default(DEFAULT_LOG_LEVEL),
  })
  .superRefine(checkNatsTls);

/** Parsed hub configuration. */
export type HubConfig = z.output<typeof hubConfigSchema>;
/** What `startHub` accepts: the schema's input (defaults filled in when parsed). */
export type HubConfigInput = z.input<typeof hubConfigSchema>;

/** One hub setting: the schema field and where its value may come from. */
export type HubSetting = Setting<keyof HubConfigInput>;

/** Every setting, its environment variables and flags. The CLI and Helm chart use these names. */
export const SETTINGS: readonly HubSetting[] = [
  { field: "listen", env: "FLOTILLA_HUB_LISTEN", flag: "listen" },
  { field: "redisUrl", env: "FLOTILLA_REDIS_URL", flag: "redis-url" },
  { field: "natsUrl", env: "FLOTILLA_NATS_URL", flag: "nats-url" },
  ...NATS_TLS_SETTINGS,
  { field: "natsReplicas", env: "FLOTILLA_NATS_REPLICAS", flag: "nats-replicas" },
  { field: "natsStatusMaxBytes", env: "FLOTILLA_NATS_STATUS_MAX_BYTES", flag: "nats-status-max-bytes" },
  { field: "natsStatusMaxValueSize", env: "FLOTILLA_NATS_STATUS_MAX_VALUE", flag: "nats-status-max-value" },
  { field: "natsDesiredMaxBytes", env: "FLOTILLA_NATS_DESIRED_MAX_BYTES", flag: "nats-desired-max-bytes" },
  { field: "natsDesiredMaxValueSize", env: "FLOTILLA_NATS_DESIRED_MAX_VALUE", flag: "nats-desired-max-value" },
  { field: "agentCredsTtlMs", env: "FLOTILLA_AGENT_CREDS_TTL", flag: "agent-creds-ttl" },
  { field: "natsAccountMaxBytes", env: "FLOTILLA_NATS_ACCOUNT_MAX_BYTES", flag: "nats-account-max-bytes" },
  { field: "redisSentinels", env: "FLOTILLA_REDIS_SENTINELS", flag: "redis-sentinels" },
  { field: "redisSentinelMaster", env: "FLOTILLA_REDIS_SENTINEL_MASTER", flag: "redis-sentinel-master" },
  {
    field: "redisSentinelPassword",
    fileEnv: "FLOTILLA_REDIS_SENTINEL_PASSWORD_FILE",
    fileFlag: "redis-sentinel-password-file",
  },
  { field: "natsCreds", fileEnv: "FLOTILLA_NATS_CREDS", fileFlag: "nats-creds" },
  { field: "agentNatsUrl", env: "FLOTILLA_AGENT_NATS_URL", flag: "agent-nats-url" },
  { field: "agentNatsCa", fileEnv: "FLOTILLA_AGENT_NATS_CA_FILE", fileFlag: "agent-nats-ca-file" },
  { field: "signingKeyPem", fileEnv: "FLOTILLA_HUB_SIGNING_KEY_FILE", fileFlag: "signing-key-file" },
  { field: "operatorSetup", fileEnv: "FLOTILLA_HUB_OPERATOR_SETUP_FILE", fileFlag: "operator-setup-file" },
  {
    field: "adminToken",
    env: "FLOTILLA_HUB_ADMIN_TOKEN",
    fileEnv: "FLOTILLA_HUB_ADMIN_TOKEN_FILE",
    fileFlag: "admin-token-file",
  },
  {
    field: "encryptionKey",
    env: "FLOTILLA_HUB_ENCRYPTION_KEY",
    fileEnv: "FLOTILLA_HUB_ENCRYPTION_KEY_FILE",
    fileFlag: "encryption-key-file",
  },
  { field: "gitAllowHttp", env: "FLOTILLA_GIT_ALLOW_HTTP", flag: "git-allow-http" },
  { field: "gitAllowedHosts", env: "FLOTILLA_GIT_ALLOWED_HOSTS", flag: "git-allowed-hosts" },
  { field: "pollIntervalMs", env: "FLOTILLA_HUB_POLL_INTERVAL", flag: "poll-interval" },
  { field: "heartbeatIntervalMs", env: "FLOTILLA_HEARTBEAT_INTERVAL", flag: "heartbeat-interval" },
  { field: "offlineAfterMissed", env: "FLOTILLA_HUB_OFFLINE_AFTER_MISSED", flag: "offline-after-missed" },
  { field: "verifyThreads", env: "FLOTILLA_HUB_VERIFY_THREADS", flag: "verify-threads" },
  { field: "leaseTtlMs", env: "FLOTILLA_HUB_LEASE_TTL", flag: "lease-ttl" },
  { field: "replicaId", env: "FLOTILLA_HUB_REPLICA_ID", flag: "replica-id" },
  { field: "gitCacheDir", env: "FLOTILLA_HUB_GIT_CACHE_DIR", flag: "git-cache-dir" },
  { field: "gitCacheMaxBytes", env: "FLOTILLA_HUB_GIT_CACHE_SIZE", flag: "git-cache-size" },
  { field: "requestTimeoutMs", env: "FLOTILLA_HUB_REQUEST_TIMEOUT", flag: "request-timeout" },
  { field: "keepAliveTimeoutMs", env: "FLOTILLA_HUB_KEEPALIVE_TIMEOUT", flag: "keepalive-timeout" },
  { field: "maxStreamsPerToken", env: "FLOTILLA_HUB_MAX_STREAMS_PER_TOKEN", flag: "max-streams-per-token" },
  { field: "authFailureLimit", env: "FLOTILLA_HUB_AUTH_FAILURE_LIMIT", flag: "auth-failure-limit" },
  { field: "trustedProxies", env: "FLOTILLA_HUB_TRUSTED_PROXIES", flag: "trusted-proxies" },
  { field: "auditMaxEntries", env: "FLOTILLA_HUB_AUDIT_MAX_ENTRIES", flag: "audit-max-entries" },
  { field: "eventsMaxEntries", env: "FLOTILLA_HUB_EVENTS_MAX_ENTRIES", flag: "events-max-entries" },
  { field: "notifyRetryMinMs", env: "FLOTILLA_HUB_NOTIFY_RETRY_MIN", flag: "notify-retry-min" },
  { field: "notifyAllowHttp", env: "FLOTILLA_NOTIFY_ALLOW_HTTP", flag: "notify-allow-http" },
  { field: "notifyAllowedHosts", env: "FLOTILLA_NOTIFY_ALLOWED_HOSTS", flag: "notify-allowed-hosts" },
  {
    field: "metricsToken",
    env: "FLOTILLA_HUB_METRICS_TOKEN",
    fileEnv: "FLOTILLA_HUB_METRICS_TOKEN_FILE",
    fileFlag: "metrics-token-file",
  },
  { field: "prometheusUrl", env: "FLOTILLA_HUB_PROMETHEUS_URL", flag: "prometheus-url" },
  {
    field: "prometheusToken",
    env: "FLOTILLA_HUB_PROMETHEUS_TOKEN",
    fileEnv: "FLOTILLA_HUB_PROMETHEUS_TOKEN_FILE",
    fileFlag: "prometheus-token-file",
  },
  { field: "prometheusTimeoutMs", env: "FLOTILLA_HUB_PROMETHEUS_TIMEOUT", flag: "prometheus-timeout" },
  { field: "logLevel", env: "FLOTILLA_LOG_LEVEL", flag: "log-level" },
];

/** Runs the settings loader, its errors turned into the hub's ConfigError (same message). */
function asConfigError<T>(load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (err instanceof SettingsError) throw new ConfigError(err.setting, err.reason, { cause: err });
    throw err;
  }
}

/** Validates already-gathered values (as `startHub` receives them); throws one ConfigError. */
export function parseConfig(input: HubConfigInput): HubConfig {
  return asConfigError(() => parseSettings(hubConfigSchema, SETTINGS, input));
}

/**
 * Reads the configuration from environment variables and command-line flags (flags win),
 * reading the files that file settings name, then validates it. Throws one ConfigError.
 */
export function loadConfig(env: NodeJS.ProcessEnv, argv: readonly string[]): HubConfig {
  return asConfigError(() => loadSettings(hubConfigSchema, SETTINGS, env, argv));
}
