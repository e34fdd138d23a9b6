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
import { ConfigError } from "./errors.js";

/** Namespace holding the agent's inventories. */
export const DEFAULT_NAMESPACE = "flotilla-system";
/** Seconds between drift checks of every app. */
export const DEFAULT_DRIFT_INTERVAL_SECONDS = 60;
/** Seconds between heartbeats. */
export const DEFAULT_HEARTBEAT_INTERVAL_SECONDS = 10;
/** Seconds between health checks while an app is still progressing. */
export const DEFAULT_HEALTH_POLL_SECONDS = 2;
/** Seconds between health checks once an app has settled. */
export const DEFAULT_HEALTH_IDLE_POLL_SECONDS = 30;
/** Seconds an object may stay Progressing after an apply before it counts as Degraded. */
export const DEFAULT_PROGRESS_DEADLINE_SECONDS = 600;
/** Objects applied at once; the API server handles this many in flight without throttling. */
export const DEFAULT_APPLY_CONCURRENCY = 12;
/** Port of the Prometheus endpoint; 0 turns it off. */
export const DEFAULT_METRICS_PORT = 9464;
/** Address the Prometheus endpoint listens on. */
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

const seconds = z.coerce.number().positive();

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
  /** @default {@link DEFAULT_DRIFT_INTERVAL_SECONDS} */
  driftIntervalSeconds: seconds.default(DEFAULT_DRIFT_INTERVAL_SECONDS),
  /** @default {@link DEFAULT_HEARTBEAT_INTERVAL_SECONDS} */
  heartbeatIntervalSeconds: seconds.default(DEFAULT_HEARTBEAT_INTERVAL_SECONDS),
  /** @default {@link DEFAULT_HEALTH_POLL_SECONDS} */
  healthPollSeconds: seconds.default(DEFAULT_HEALTH_POLL_SECONDS),
  /** @default {@link DEFAULT_HEALTH_IDLE_POLL_SECONDS} */
  healthIdlePollSeconds: seconds.default(DEFAULT_HEALTH_IDLE_POLL_SECONDS),
  /** @default {@link DEFAULT_PROGRESS_DEADLINE_SECONDS} */
  progressDeadlineSeconds: seconds.default(DEFAULT_PROGRESS_DEADLINE_SECONDS),
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

/** Flag name → config key; each also reads `FLOTILLA_<SNAKE_CASE>` from the environment. */
const SETTINGS: Record<string, keyof AgentConfig> = {
  cluster: "cluster",
  "nats-url": "natsUrl",
  kubeconfig: "kubeconfig",
  namespace: "namespace",
  "cache-dir": "cacheDir",
  "git-credentials": "gitCredentialsFile",
  "drift-interval": "driftIntervalSeconds",
  "heartbeat-interval": "heartbeatIntervalSeconds",
  "health-poll": "healthPollSeconds",
  "health-idle-poll": "healthIdlePollSeconds",
  "progress-deadline": "progressDeadlineSeconds",
  "apply-concurrency": "applyConcurrency",
  "metrics-port": "metricsPort",
  "metrics-host": "metricsHost",
  "log-level": "logLevel",
  "helm-bin": "helmBin",
  "kustomize-bin": "kustomizeBin",
};

/** Settings whose value is a file to read (flag name → config key). */
const FILE_SETTINGS: Record<string, keyof AgentConfig> = {
  "nats-creds": "natsCreds",
  "hub-public-key": "hubPublicKey",
  "agent-key": "agentSigningKey",
};

function envName(flag: string): string {
  return `FLOTILLA_${flag.toUpperCase().replaceAll("-", "_")}`;
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
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "config"}: ${i.message}`);
    throw new ConfigError(`invalid agent configuration: ${problems.join("; ")}`);
  }
  return parsed.data;
}

/**
 * Reads the configuration from flags and environment: bootstrap bundle first, then
 * `FLOTILLA_*` variables, then flags. `KUBECONFIG` is honoured for the kubeconfig path.
 */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): AgentConfig {
  const options: Record<string, { type: "string" }> = { bootstrap: { type: "string" } };
  for (const flag of [...Object.keys(SETTINGS), ...Object.keys(FILE_SETTINGS)]) options[flag] = { type: "string" };
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
  if (bootstrapPath) {
    let bundle: unknown;
    try {
      bundle = JSON.parse(readSettingFile("bootstrap", bootstrapPath));
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(`bootstrap file ${bootstrapPath} is not JSON: ${(err as Error).message}`, { cause: err });
    }
    const parsed = bootstrapSchema.safeParse(bundle);
    if (!parsed.success) {
      throw new ConfigError(
        `bootstrap file ${bootstrapPath} lacks ${parsed.error.issues.map((i) => i.path.join(".")).join(", ")}`,
      );
    }
    Object.assign(input, parsed.data);
  }
  if (env.KUBECONFIG) input.kubeconfig = env.KUBECONFIG;
  for (const [flag, key] of Object.entries(SETTINGS)) {
    const value = flags[flag] ?? env[envName(flag)];
    if (value !== undefined && value !== "") input[key] = value;
  }
  for (const [flag, key] of Object.entries(FILE_SETTINGS)) {
    const path = flags[flag] ?? env[`${envName(flag)}_FILE`];
    if (path) input[key] = readSettingFile(flag, path);
  }
  return makeConfig(input as AgentConfigInput);
}
