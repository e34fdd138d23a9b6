/**
 * The agent's configuration: one zod schema over environment variables and command-line flags,
 * parsed once at start. A bootstrap bundle (`--bootstrap` / `FLOTILLA_BOOTSTRAP`, the JSON the hub
 * returns from `POST /v1/clusters`) supplies cluster, NATS and key settings in one file; individual
 * settings override it.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { isDnsLabel } from "@flotilla/proto";
import { z } from "zod";
import { parseDuration } from "./duration.js";
import { ConfigError } from "./errors.js";

/** Namespace holding the agent's inventories. */
export const DEFAULT_NAMESPACE = "flotilla-system";
/** Between drift checks of every app. */
export const DEFAULT_DRIFT_INTERVAL_MS = 60_000;
/** Between heartbeats; keep it equal to the hub's `FLOTILLA_HEARTBEAT_INTERVAL`. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 10_000;
/** Between health checks while an app is still progressing. */
export const DEFAULT_HEALTH_POLL_MS = 2_000;
/** Between health checks once an app has settled. */
export const DEFAULT_HEALTH_IDLE_POLL_MS = 30_000;
/** How long an object may stay Progressing after an apply before it counts as Degraded. */
export const DEFAULT_PROGRESS_DEADLINE_MS = 600_000;
/** Objects applied at once; the API server handles this many in flight without throttling. */
export const DEFAULT_APPLY_CONCURRENCY = 12;
/** Port of the Prometheus, `/healthz` and `/readyz` endpoints; 0 turns them off. */
export const DEFAULT_METRICS_PORT = 9464;
/** Address the Prometheus, `/healthz` and `/readyz` endpoints listen on. */
export const DEFAULT_METRICS_HOST = "0.0.0.0";
/** Where fetched repositories are cached, one directory per repository URL. */
export const DEFAULT_CACHE_DIR = join(homedir(), ".cache", "flotilla-agent");
export const DEFAULT_LOG_LEVEL = "info";
/** `helm` binary, looked up on PATH unless a path is given. */
export const DEFAULT_HELM_BIN = "helm";
/** `kustomize` binary, looked up on PATH unless a path is given. */
export const DEFAULT_KUSTOMIZE_BIN = "kustomize";
/** Milliseconds between retries of a failed fetch or apply, doubled up to {@link MAX_RETRY_BACKOFF_MS}. */
export const DEFAULT_RETRY_BACKOFF_MS = 2_000;
export const MAX_RETRY_BACKOFF_MS = 60_000;

/**
 * A duration: a string as in env and flags (`"10s"`, `"500ms"`, `"2m"`, or a bare number of
 * seconds, so older plain-seconds values keep working) or milliseconds (from code).
 */
const duration = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const ms = typeof value === "number" ? value : parseDuration(value);
  if (ms === undefined || !(ms > 0)) {
    ctx.addIssue({ code: "custom", message: `${JSON.stringify(value)} is not a duration like 10s, 500ms, 2m or 30` });
    return z.NEVER;
  }
  return ms;
});

/** The settings the agent runs with, after defaults. */
export const configSchema = z.object({
  /** This cluster's name (a DNS label); only its own desired states are acted on. Required. */
  cluster: z.string().refine(isDnsLabel, "cluster must be a DNS label (lowercase letters, digits, '-')"),
  /** NATS server URL(s), comma-separated. Required. */
  natsUrl: z.string().min(1, "natsUrl is required"),
  /** Text of the NATS credentials file (user JWT + seed); empty when NATS has no auth. @default "" */
  natsCreds: z.string().default(""),
  /** SPKI PEM of the hub's Ed25519 public key; desired states must be signed by it. Required. */
  hubPublicKey: z.string().min(1, "hubPublicKey is required"),
  /** PKCS#8 PEM of this agent's Ed25519 key, which signs reports and heartbeats. Required. */
  agentSigningKey: z.string().min(1, "agentSigningKey is required"),
  /** Path of a kubeconfig; empty means in-cluster config (or the default kubeconfig). @default "" */
  kubeconfig: z.string().default(""),
  /** Namespace of the inventories. @default {@link DEFAULT_NAMESPACE} */
  namespace: z.string().refine(isDnsLabel, "namespace must be a DNS label").default(DEFAULT_NAMESPACE),
  /** Repository cache directory. @default {@link DEFAULT_CACHE_DIR} */
  cacheDir: z.string().min(1).default(DEFAULT_CACHE_DIR),
  /** Path of a JSON file `[{ urlPrefix, username, password }]` with Git credentials. @default "" */
  gitCredentialsFile: z.string().default(""),
  /** Milliseconds between drift checks. @default {@link DEFAULT_DRIFT_INTERVAL_MS} */
  driftIntervalMs: duration.default(DEFAULT_DRIFT_INTERVAL_MS),
  /** Milliseconds between heartbeats. @default {@link DEFAULT_HEARTBEAT_INTERVAL_MS} */
  heartbeatIntervalMs: duration.default(DEFAULT_HEARTBEAT_INTERVAL_MS),
  /** Milliseconds between health checks of a progressing app. @default {@link DEFAULT_HEALTH_POLL_MS} */
  healthPollMs: duration.default(DEFAULT_HEALTH_POLL_MS),
  /** Milliseconds between health checks of a settled app. @default {@link DEFAULT_HEALTH_IDLE_POLL_MS} */
  healthIdlePollMs: duration.default(DEFAULT_HEALTH_IDLE_POLL_MS),
  /** Milliseconds an object may stay Progressing before it is Degraded. @default {@link DEFAULT_PROGRESS_DEADLINE_MS} */
  progressDeadlineMs: duration.default(DEFAULT_PROGRESS_DEADLINE_MS),
  /** @default {@link DEFAULT_APPLY_CONCURRENCY} */
  applyConcurrency: z.coerce.number().int().min(1).max(64).default(DEFAULT_APPLY_CONCURRENCY),
  /** @default {@link DEFAULT_METRICS_PORT}; 0 turns the endpoint off. */
  metricsPort: z.coerce.number().int().min(0).max(65535).default(DEFAULT_METRICS_PORT),
  /** @default {@link DEFAULT_METRICS_HOST} */
  metricsHost: z.string().default(DEFAULT_METRICS_HOST),
  /** pino level. @default {@link DEFAULT_LOG_LEVEL} */
  logLevel: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default(DEFAULT_LOG_LEVEL),
  /** @default {@link DEFAULT_HELM_BIN} */
  helmBin: z.string().min(1).default(DEFAULT_HELM_BIN),
  /** @default {@link DEFAULT_KUSTOMIZE_BIN} */
  kustomizeBin: z.string().min(1).default(DEFAULT_KUSTOMIZE_BIN),
  /** First retry delay after a retryable failure. @default {@link DEFAULT_RETRY_BACKOFF_MS} */
  retryBackoffMs: z.coerce.number().int().positive().default(DEFAULT_RETRY_BACKOFF_MS),
});

/** Validated agent settings. */
export type AgentConfig = z.output<typeof configSchema>;
/** Settings as given (strings from env, or typed values from a test). */
export type AgentConfigInput = z.input<typeof configSchema>;

/** The hub's bootstrap bundle. */
const bootstrapSchema = z.object({
  cluster: z.string(),
  natsUrl: z.string(),
  natsCreds: z.string().default(""),
  hubPublicKey: z.string(),
  agentSigningKey: z.string(),
});

/** One setting: where its value comes from. */
export interface AgentSetting {
  /** Field of {@link configSchema}, or `bootstrap` for the bundle that fills several fields. */
  field: keyof AgentConfigInput | "bootstrap";
  /** Environment variable holding the value itself. */
  env?: string;
  /** Environment variable naming a file that holds the value. */
  fileEnv?: string;
  /** Flag holding the value itself. */
  flag?: string;
  /** Flag naming a file that holds the value. */
  fileFlag?: string;
}

/**
 * Every setting the agent reads, with its environment variables and flags (flags win over
 * environment variables, which win over the bootstrap bundle). `KUBECONFIG` is honoured too,
 * below `FLOTILLA_KUBECONFIG`. The Helm chart uses these names; its test checks them here.
 * Interval and deadline settings take durations (`10s`, `500ms`, `2m`; a bare number is seconds).
 */
export const AGENT_SETTINGS: readonly AgentSetting[] = [
  { field: "bootstrap", fileEnv: "FLOTILLA_BOOTSTRAP", fileFlag: "bootstrap" },
  { field: "cluster", env: "FLOTILLA_CLUSTER", flag: "cluster" },
  { field: "natsUrl", env: "FLOTILLA_NATS_URL", flag: "nats-url" },
  { field: "natsCreds", fileEnv: "FLOTILLA_NATS_CREDS_FILE", fileFlag: "nats-creds" },
  { field: "hubPublicKey", fileEnv: "FLOTILLA_HUB_PUBLIC_KEY_FILE", fileFlag: "hub-public-key" },
  { field: "agentSigningKey", fileEnv: "FLOTILLA_AGENT_KEY_FILE", fileFlag: "agent-key" },
  { field: "kubeconfig", env: "FLOTILLA_KUBECONFIG", flag: "kubeconfig" },
  { field: "namespace", env: "FLOTILLA_NAMESPACE", flag: "namespace" },
  { field: "cacheDir", env: "FLOTILLA_CACHE_DIR", flag: "cache-dir" },
  { field: "gitCredentialsFile", env: "FLOTILLA_GIT_CREDENTIALS", flag: "git-credentials" },
  { field: "driftIntervalMs", env: "FLOTILLA_DRIFT_INTERVAL", flag: "drift-interval" },
  { field: "heartbeatIntervalMs", env: "FLOTILLA_HEARTBEAT_INTERVAL", flag: "heartbeat-interval" },
  { field: "healthPollMs", env: "FLOTILLA_HEALTH_POLL", flag: "health-poll" },
  { field: "healthIdlePollMs", env: "FLOTILLA_HEALTH_IDLE_POLL", flag: "health-idle-poll" },
  { field: "progressDeadlineMs", env: "FLOTILLA_PROGRESS_DEADLINE", flag: "progress-deadline" },
  { field: "applyConcurrency", env: "FLOTILLA_APPLY_CONCURRENCY", flag: "apply-concurrency" },
  { field: "metricsPort", env: "FLOTILLA_METRICS_PORT", flag: "metrics-port" },
  { field: "metricsHost", env: "FLOTILLA_METRICS_HOST", flag: "metrics-host" },
  { field: "logLevel", env: "FLOTILLA_LOG_LEVEL", flag: "log-level" },
  { field: "helmBin", env: "FLOTILLA_HELM_BIN", flag: "helm-bin" },
  { field: "kustomizeBin", env: "FLOTILLA_KUSTOMIZE_BIN", flag: "kustomize-bin" },
];

/** How a bad field is named in errors: its field and the variable that sets it. */
function settingName(field: string): string {
  const s = AGENT_SETTINGS.find((x) => x.field === field);
  const env = s?.env ?? s?.fileEnv;
  return env ? `${field} (${env})` : field;
}

function readSettingFile(what: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read ${what} file ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Validates settings given as an object (tests, embedding). Throws ConfigError with one line
 * naming every bad setting.
 */
export function makeConfig(input: AgentConfigInput): AgentConfig {
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${settingName(String(i.path[0] ?? "config"))}: ${i.message}`);
    throw new ConfigError(`invalid agent configuration: ${problems.join("; ")}`);
  }
  return parsed.data;
}

function readBootstrap(path: string): Record<string, unknown> {
  const text = readSettingFile("bootstrap", path);
  let bundle: unknown;
  try {
    bundle = JSON.parse(text);
  } catch {
    // JSON.parse quotes the text around the error, which here may be the agent key or NATS seed:
    // name the file only, keep no cause.
    throw new ConfigError(`bootstrap file ${path} is not JSON`);
  }
  const parsed = bootstrapSchema.safeParse(bundle);
  if (!parsed.success) {
    throw new ConfigError(
      `bootstrap file ${path} lacks ${parsed.error.issues.map((i) => i.path.join(".")).join(", ")}`,
    );
  }
  return parsed.data;
}

/**
 * Reads the configuration from flags and environment: bootstrap bundle first, then
 * `KUBECONFIG`, then the `FLOTILLA_*` variables of {@link AGENT_SETTINGS}, then flags.
 */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): AgentConfig {
  const options: Record<string, { type: "string" }> = {};
  for (const s of AGENT_SETTINGS) {
    if (s.flag) options[s.flag] = { type: "string" };
    if (s.fileFlag) options[s.fileFlag] = { type: "string" };
  }
  let flags: Record<string, string | undefined>;
  try {
    flags = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Record<
      string,
      string | undefined
    >;
  } catch (err) {
    throw new ConfigError(`bad command line: ${(err as Error).message}`, { cause: err });
  }

  const input: Record<string, unknown> = {};
  const bootstrapPath = flags.bootstrap ?? env.FLOTILLA_BOOTSTRAP;
  if (bootstrapPath) Object.assign(input, readBootstrap(bootstrapPath));
  if (env.KUBECONFIG) input.kubeconfig = env.KUBECONFIG;
  for (const s of AGENT_SETTINGS) {
    if (s.field === "bootstrap") continue;
    const value = (s.flag && flags[s.flag]) || (s.env && env[s.env]) || undefined;
    if (value !== undefined) input[s.field] = value;
    const path = (s.fileFlag && flags[s.fileFlag]) || (s.fileEnv && env[s.fileEnv]) || undefined;
    if (path) input[s.field] = readSettingFile(s.fileFlag ?? s.field, path);
  }
  return makeConfig(input as AgentConfigInput);
}
