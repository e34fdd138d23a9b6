import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { z } from "zod";
import { parseDuration } from "./duration.js";
import { ConfigError } from "./errors.js";

/** Default HTTP listen address: loopback only, so nothing is exposed by accident. */
export const DEFAULT_LISTEN = "127.0.0.1:8080";
/** Default Redis URL. */
export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";
/** Default NATS URL. */
export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";
/** Default Git poll interval for repos that do not set their own: 15 s. */
export const DEFAULT_POLL_INTERVAL_MS = 15_000;
/** Default interval at which agents send heartbeats: 10 s (the agent uses the same variable). */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 10_000;
/** Default number of missed heartbeats after which a Ready cluster turns Offline: 3. */
export const DEFAULT_OFFLINE_AFTER_MISSED = 3;
/** Default leader lease time-to-live: 5 s; a dead leader is replaced within about this long. */
export const DEFAULT_LEASE_TTL_MS = 5_000;
/** Default log level. */
export const DEFAULT_LOG_LEVEL = "info";
/** Shortest admin token accepted, so a guessable token cannot be configured by mistake. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** A duration: a string like "15s" / "500ms" / "2m" (from env or flags) or milliseconds (from code). */
const duration = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const ms = typeof value === "number" ? value : parseDuration(value);
  if (ms === undefined || !(ms > 0)) {
    ctx.addIssue({ code: "custom", message: `${JSON.stringify(value)} is not a duration like 15s, 500ms or 2m` });
    return z.NEVER;
  }
  return ms;
});

const listen = z.string().transform((text, ctx) => {
  const match = /^(.*):(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (!match?.[1] || port > 65535) {
    ctx.addIssue({ code: "custom", message: `${JSON.stringify(text)} is not host:port` });
    return z.NEVER;
  }
  return { host: match[1].replace(/^\[(.*)\]$/, "$1"), port };
});

/**
 * The hub's settings after reading files. Every field maps to one environment variable
 * (and a flag); see {@link SETTINGS}.
 */
export const hubConfigSchema = z.object({
  /** `FLOTILLA_HUB_LISTEN` / `--listen`: HTTP address, host:port. @default {@link DEFAULT_LISTEN} (port 0 picks a free port). */
  listen: listen.prefault(DEFAULT_LISTEN),
  /** `FLOTILLA_REDIS_URL` / `--redis-url`: where everything the hub knows is kept. @default {@link DEFAULT_REDIS_URL} */
  redisUrl: z.string().url().default(DEFAULT_REDIS_URL),
  /** `FLOTILLA_NATS_URL` / `--nats-url`: NATS server(s) the hub connects to, comma-separated. @default {@link DEFAULT_NATS_URL} */
  natsUrl: z.string().min(1).default(DEFAULT_NATS_URL),
  /** `FLOTILLA_NATS_CREDS` / `--nats-creds`: text of the hub's NATS creds file; unset means no auth (dev only). */
  natsCreds: z.string().optional(),
  /** `FLOTILLA_AGENT_NATS_URL` / `--agent-nats-url`: NATS URL put in bootstrap bundles. @default the NATS URL */
  agentNatsUrl: z.string().min(1).optional(),
  /**
   * `FLOTILLA_HUB_SIGNING_KEY_FILE` / `--signing-key-file`: PKCS#8 PEM of the hub's Ed25519 key.
   * When unset, the hub generates one on first start and keeps it in Redis, encrypted with the
   * encryption key, so every replica and every restart signs with the same key.
   */
  signingKeyPem: z.string().optional(),
  /**
   * `FLOTILLA_HUB_OPERATOR_SETUP_FILE` / `--operator-setup-file`: JSON of the NATS operator setup
   * (see natsauth). When set, cluster registration mints per-cluster NATS credentials and
   * deregistration revokes them; when unset, bundles carry empty credentials.
   */
  operatorSetup: z.string().optional(),
  /** `FLOTILLA_HUB_ADMIN_TOKEN` or `FLOTILLA_HUB_ADMIN_TOKEN_FILE` / `--admin-token-file`: the bearer token of every API call. Required. */
  adminToken: z.string().min(MIN_ADMIN_TOKEN_LENGTH, `must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters`),
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
  /** `FLOTILLA_HUB_POLL_INTERVAL` / `--poll-interval`: Git poll interval for repos without their own. @default {@link DEFAULT_POLL_INTERVAL_MS} */
  pollIntervalMs: duration.default(DEFAULT_POLL_INTERVAL_MS),
  /** `FLOTILLA_HEARTBEAT_INTERVAL` / `--heartbeat-interval`: how often agents beat. @default {@link DEFAULT_HEARTBEAT_INTERVAL_MS} */
  heartbeatIntervalMs: duration.default(DEFAULT_HEARTBEAT_INTERVAL_MS),
  /** `FLOTILLA_HUB_OFFLINE_AFTER_MISSED` / `--offline-after-missed`: missed beats before Offline. @default {@link DEFAULT_OFFLINE_AFTER_MISSED} */
  offlineAfterMissed: z.coerce.number().int().min(1).default(DEFAULT_OFFLINE_AFTER_MISSED),
  /** `FLOTILLA_HUB_LEASE_TTL` / `--lease-ttl`: leader lease time-to-live. @default {@link DEFAULT_LEASE_TTL_MS} */
  leaseTtlMs: duration.default(DEFAULT_LEASE_TTL_MS),
  /** `FLOTILLA_HUB_REPLICA_ID` / `--replica-id`: this replica's name in the lease and logs. @default hostname-pid */
  replicaId: z.string().min(1).default(`${hostname()}-${process.pid}`),
  /** `FLOTILLA_LOG_LEVEL` / `--log-level`. @default {@link DEFAULT_LOG_LEVEL} */
  logLevel: z.enum(LOG_LEVELS).default(DEFAULT_LOG_LEVEL),
});

/** Parsed hub configuration. */
export type HubConfig = z.output<typeof hubConfigSchema>;
/** What `startHub` accepts: the schema's input (defaults filled in when parsed). */
export type HubConfigInput = z.input<typeof hubConfigSchema>;

interface Setting {
  /** Field of the schema. */
  field: keyof HubConfigInput;
  /** Environment variable holding the value itself. */
  env?: string;
  /** Environment variable naming a file that holds the value. */
  fileEnv?: string;
  /** Flag holding the value itself. */
  flag?: string;
  /** Flag naming a file that holds the value. */
  fileFlag?: string;
}

/** Every setting, its environment variables and flags. The CLI and Helm chart use these names. */
export const SETTINGS: readonly Setting[] = [
  { field: "listen", env: "FLOTILLA_HUB_LISTEN", flag: "listen" },
  { field: "redisUrl", env: "FLOTILLA_REDIS_URL", flag: "redis-url" },
  { field: "natsUrl", env: "FLOTILLA_NATS_URL", flag: "nats-url" },
  { field: "natsCreds", fileEnv: "FLOTILLA_NATS_CREDS", fileFlag: "nats-creds" },
  { field: "agentNatsUrl", env: "FLOTILLA_AGENT_NATS_URL", flag: "agent-nats-url" },
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
  { field: "pollIntervalMs", env: "FLOTILLA_HUB_POLL_INTERVAL", flag: "poll-interval" },
  { field: "heartbeatIntervalMs", env: "FLOTILLA_HEARTBEAT_INTERVAL", flag: "heartbeat-interval" },
  { field: "offlineAfterMissed", env: "FLOTILLA_HUB_OFFLINE_AFTER_MISSED", flag: "offline-after-missed" },
  { field: "leaseTtlMs", env: "FLOTILLA_HUB_LEASE_TTL", flag: "lease-ttl" },
  { field: "replicaId", env: "FLOTILLA_HUB_REPLICA_ID", flag: "replica-id" },
  { field: "logLevel", env: "FLOTILLA_LOG_LEVEL", flag: "log-level" },
];

function settingName(field: string): string {
  const s = SETTINGS.find((x) => x.field === field);
  return s?.env ?? s?.fileEnv ?? field;
}

/** Validates already-gathered values (as `startHub` receives them); throws one ConfigError. */
export function parseConfig(input: HubConfigInput): HubConfig {
  const result = hubConfigSchema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = String(issue?.path[0] ?? "config");
  throw new ConfigError(settingName(field), issue?.message ?? "invalid");
}

function readSettingFile(name: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(name, `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Reads the configuration from environment variables and command-line flags (flags win),
 * reading the files that file settings name, then validates it. Throws one ConfigError.
 */
export function loadConfig(env: NodeJS.ProcessEnv, argv: readonly string[]): HubConfig {
  const options: Record<string, { type: "string" }> = {};
  for (const s of SETTINGS) {
    if (s.flag) options[s.flag] = { type: "string" };
    if (s.fileFlag) options[s.fileFlag] = { type: "string" };
  }
  let flags: Record<string, string | boolean | undefined>;
  try {
    flags = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new ConfigError("flags", (err as Error).message, { cause: err });
  }
  const input: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    const flagValue = s.flag ? flags[s.flag] : undefined;
    const fileFlagValue = s.fileFlag ? flags[s.fileFlag] : undefined;
    const envValue = s.env ? env[s.env] : undefined;
    const fileEnvValue = s.fileEnv ? env[s.fileEnv] : undefined;
    let value: string | undefined;
    if (typeof flagValue === "string") value = flagValue;
    else if (typeof fileFlagValue === "string") value = readSettingFile(`--${s.fileFlag}`, fileFlagValue);
    else if (envValue) value = envValue;
    else if (fileEnvValue) value = readSettingFile(s.fileEnv ?? "", fileEnvValue);
    if (value === undefined) continue;
    input[s.field] = s.field === "adminToken" ? value.trim() : value;
  }
  for (const required of ["adminToken", "encryptionKey"] as const) {
    if (input[required] === undefined) {
      const s = SETTINGS.find((x) => x.field === required);
      throw new ConfigError(s?.env ?? required, `is required (or set ${s?.fileEnv})`);
    }
  }
  return parseConfig(input as HubConfigInput);
}
