/**
 * The agent's configuration: one zod schema over environment variables and command-line flags,
 * parsed once at start. A bootstrap bundle (`--bootstrap` / `FLOTILLA_BOOTSTRAP`, the JSON the hub
 * returns from `POST /v1/clusters`) supplies cluster, NATS and key settings in one file; individual
 * settings override it.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { allowListProblem } from "@flotilla/netguard";
import { isDnsLabel } from "@flotilla/proto";
import {
  checkNatsTls,
  durationSchema,
  flagSchema,
  listSchema,
  NATS_TLS_SETTINGS,
  natsTlsShape,
  parseSettings,
  type Reading,
  readSettings,
  type Setting,
  SettingsError,
} from "@flotilla/settings";
import { z } from "zod";
import { ConfigError } from "./errors.js";
import {
  ADDRESS_RULES,
  DEFAULT_CRASH_LOOP_RESTARTS,
  DEFAULT_INGRESS_HEALTH,
  DEFAULT_LOADBALANCER_HEALTH,
  DEFAULT_UNSCHEDULABLE_GRACE_MS,
} from "./health/index.js";

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

/** Non-public Git hosts, addresses or CIDR ranges; a bad entry is named. */
const allowedHosts = listSchema.superRefine((entries, ctx) => {
  const problem = allowListProblem(entries);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/** The settings the agent runs with, after defaults. */
export const configSchema = z
  .object({
    /** This cluster's name (a DNS label); only its own desired states are acted on. Required. */
    cluster: z.string().refine(isDnsLabel, "cluster must be a DNS label (lowercase letters, digits, '-')"),
    /** NATS server URL(s), comma-separated. Required. */
    natsUrl: z.string().min(1, "natsUrl is required"),
    /** Text of the NATS credentials file (user JWT + seed); empty when NATS has no auth. @default "" */
    natsCreds: z.string().default(""),
    /**
     * The NATS TLS settings, the hub's too (`FLOTILLA_NATS_CA_FILE`, `FLOTILLA_NATS_CERT_FILE`,
     * `FLOTILLA_NATS_KEY_FILE`, `FLOTILLA_NATS_SERVER_NAME`, `FLOTILLA_NATS_INSECURE`): TLS is
     * required unless `FLOTILLA_NATS_INSECURE=true`. The bootstrap bundle may carry the CA.
     */
    ...natsTlsShape,
    /** SPKI PEM of the hub's Ed25519 public key; desired states must be signed by it. Required. */
    hubPublicKey: z.string().min(1, "hubPublicKey is required"),
    /** PKCS#8 PEM of this agent's Ed25519 key, which signs reports and heartbeats. Required. */
    agentSigningKey: z.string().min(1, "agentSigningKey is required"),
    /**
     * The hub's API URL (`https://hub.example.com`): where the agent registers with
     * {@link registrationToken} when NATS refuses its credentials (expired while it was offline, or
     * revoked). It must be https (the registration token goes to it) unless {@link hubInsecure}.
     * @default "" (no registration)
     */
    hubUrl: z
      .string()
      .trim()
      .refine((v) => v === "" || /^https?:\/\/[^\s/]+/.test(v), "hubUrl must be an http:// or https:// URL")
      .default(""),
    /**
     * Text of a file holding a registration token (`flotilla cluster token <name>`), used once to
     * get new NATS credentials when the current ones no longer work; needs {@link hubUrl}. @default ""
     */
    registrationToken: z.string().trim().default(""),
    /**
     * Allow an `http://` {@link hubUrl}, so the registration token crosses the network in the
     * clear: only for a local test fleet, as `FLOTILLA_NATS_INSECURE` is for NATS. @default false
     */
    hubInsecure: flagSchema.default(false),
    /**
     * Path of a kubeconfig, or a list of them separated as in `KUBECONFIG` (merged as kubectl
     * merges them); empty means in-cluster config (or the default kubeconfig). @default ""
     */
    kubeconfig: z.string().default(""),
    /** Context of the kubeconfig to use; empty means its `current-context`. @default "" */
    kubeContext: z.string().default(""),
    /** Namespace of the inventories. @default {@link DEFAULT_NAMESPACE} */
    namespace: z.string().refine(isDnsLabel, "namespace must be a DNS label").default(DEFAULT_NAMESPACE),
    /**
     * Ask the hub for a freeze of this cluster, with this reason (see freeze.ts); a ConfigMap in
     * `namespace` labelled `flotilla.io/freeze` does the same without restarting the agent. @default ""
     */
    freeze: z.string().max(500).default(""),
    /** Repository cache directory. @default {@link DEFAULT_CACHE_DIR} */
    cacheDir: z.string().min(1).default(DEFAULT_CACHE_DIR),
    /** Path of a JSON file `[{ urlPrefix, username, password }]` with Git credentials. @default "" */
    gitCredentialsFile: z.string().default(""),
    /**
     * Allow plain-HTTP Git URLs as well as HTTPS. Keep it off outside a local test fleet: plain HTTP
     * lets anyone on the path change what the agent applies. @default false
     */
    gitAllowHttp: flagSchema.default(false),
    /**
     * Git hosts the agent may fetch from although they are not public: host names, IP addresses or
     * CIDR ranges, comma-separated (`git.internal,10.20.0.0/16`). Everything else on loopback,
     * private, link-local, metadata and other special addresses is refused. @default none
     */
    gitAllowedHosts: allowedHosts.default([]),
    /** Milliseconds between drift checks. @default {@link DEFAULT_DRIFT_INTERVAL_MS} */
    driftIntervalMs: durationSchema.default(DEFAULT_DRIFT_INTERVAL_MS),
    /** Milliseconds between heartbeats. @default {@link DEFAULT_HEARTBEAT_INTERVAL_MS} */
    heartbeatIntervalMs: durationSchema.default(DEFAULT_HEARTBEAT_INTERVAL_MS),
    /** Milliseconds between health checks of a progressing app. @default {@link DEFAULT_HEALTH_POLL_MS} */
    healthPollMs: durationSchema.default(DEFAULT_HEALTH_POLL_MS),
    /** Milliseconds between health checks of a settled app. @default {@link DEFAULT_HEALTH_IDLE_POLL_MS} */
    healthIdlePollMs: durationSchema.default(DEFAULT_HEALTH_IDLE_POLL_MS),
    /** Milliseconds an object may stay Progressing before it is Degraded. @default {@link DEFAULT_PROGRESS_DEADLINE_MS} */
    progressDeadlineMs: durationSchema.default(DEFAULT_PROGRESS_DEADLINE_MS),
    /**
     * Restarts at which a container in CrashLoopBackOff fails its Pod, and the workload rolling
     * it out, at once instead of at the progress deadline. @default {@link DEFAULT_CRASH_LOOP_RESTARTS}
     */
    crashLoopRestarts: z.coerce.number().int().min(1).max(1000).default(DEFAULT_CRASH_LOOP_RESTARTS),
    /**
     * How long a Pod may stay unschedulable before it fails (a cluster autoscaler needs a minute
     * or two to add a node). @default {@link DEFAULT_UNSCHEDULABLE_GRACE_MS}
     */
    unschedulableGraceMs: durationSchema.default(DEFAULT_UNSCHEDULABLE_GRACE_MS),
    /**
     * A LoadBalancer Service without an address: `wait` (Progressing until it has one) or
     * `ignore-address` (Healthy without one, for clusters with no load-balancer controller).
     * @default {@link DEFAULT_LOADBALANCER_HEALTH}
     */
    loadBalancerHealth: z.enum(ADDRESS_RULES).default(DEFAULT_LOADBALANCER_HEALTH),
    /**
     * An Ingress without an address: `wait` or `ignore-address` (clusters with no ingress
     * controller that writes addresses). @default {@link DEFAULT_INGRESS_HEALTH}
     */
    ingressHealth: z.enum(ADDRESS_RULES).default(DEFAULT_INGRESS_HEALTH),
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
  })
  .superRefine(checkNatsTls);

/** Validated agent settings. */
export type AgentConfig = z.output<typeof configSchema>;
/** Settings as given (strings from env, or typed values from a test). */
export type AgentConfigInput = z.input<typeof configSchema>;

/** The hub's bootstrap bundle. */
const bootstrapSchema = z.object({
  cluster: z.string(),
  natsUrl: z.string(),
  natsCreds: z.string().default(""),
  natsCa: z.string().optional(),
  hubPublicKey: z.string(),
  agentSigningKey: z.string(),
});

/** One agent setting: a field of {@link configSchema}, or `bootstrap` for the bundle that fills several. */
export type AgentSetting = Setting<keyof AgentConfigInput | "bootstrap">;

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
  ...NATS_TLS_SETTINGS,
  { field: "hubPublicKey", fileEnv: "FLOTILLA_HUB_PUBLIC_KEY_FILE", fileFlag: "hub-public-key" },
  { field: "agentSigningKey", fileEnv: "FLOTILLA_AGENT_KEY_FILE", fileFlag: "agent-key" },
  { field: "hubUrl", env: "FLOTILLA_HUB_URL", flag: "hub-url" },
  { field: "hubInsecure", env: "FLOTILLA_HUB_INSECURE", flag: "hub-insecure" },
  { field: "registrationToken", fileEnv: "FLOTILLA_REGISTRATION_TOKEN_FILE", fileFlag: "registration-token" },
  { field: "kubeconfig", env: "FLOTILLA_KUBECONFIG", flag: "kubeconfig" },
  { field: "kubeContext", env: "FLOTILLA_KUBE_CONTEXT", flag: "kube-context" },
  { field: "namespace", env: "FLOTILLA_NAMESPACE", flag: "namespace" },
  { field: "freeze", env: "FLOTILLA_FREEZE", flag: "freeze" },
  { field: "cacheDir", env: "FLOTILLA_CACHE_DIR", flag: "cache-dir" },
  { field: "gitCredentialsFile", env: "FLOTILLA_GIT_CREDENTIALS", flag: "git-credentials" },
  { field: "gitAllowHttp", env: "FLOTILLA_GIT_ALLOW_HTTP", flag: "git-allow-http" },
  { field: "gitAllowedHosts", env: "FLOTILLA_GIT_ALLOWED_HOSTS", flag: "git-allowed-hosts" },
  { field: "driftIntervalMs", env: "FLOTILLA_DRIFT_INTERVAL", flag: "drift-interval" },
  { field: "heartbeatIntervalMs", env: "FLOTILLA_HEARTBEAT_INTERVAL", flag: "heartbeat-interval" },
  { field: "healthPollMs", env: "FLOTILLA_HEALTH_POLL", flag: "health-poll" },
  { field: "healthIdlePollMs", env: "FLOTILLA_HEALTH_IDLE_POLL", flag: "health-idle-poll" },
  { field: "progressDeadlineMs", env: "FLOTILLA_PROGRESS_DEADLINE", flag: "progress-deadline" },
  { field: "crashLoopRestarts", env: "FLOTILLA_CRASH_LOOP_RESTARTS", flag: "crash-loop-restarts" },
  { field: "unschedulableGraceMs", env: "FLOTILLA_UNSCHEDULABLE_GRACE", flag: "unschedulable-grace" },
  { field: "loadBalancerHealth", env: "FLOTILLA_LOADBALANCER_HEALTH", flag: "loadbalancer-health" },
  { field: "ingressHealth", env: "FLOTILLA_INGRESS_HEALTH", flag: "ingress-health" },
  { field: "applyConcurrency", env: "FLOTILLA_APPLY_CONCURRENCY", flag: "apply-concurrency" },
  { field: "metricsPort", env: "FLOTILLA_METRICS_PORT", flag: "metrics-port" },
  { field: "metricsHost", env: "FLOTILLA_METRICS_HOST", flag: "metrics-host" },
  { field: "logLevel", env: "FLOTILLA_LOG_LEVEL", flag: "log-level" },
  { field: "helmBin", env: "FLOTILLA_HELM_BIN", flag: "helm-bin" },
  { field: "kustomizeBin", env: "FLOTILLA_KUSTOMIZE_BIN", flag: "kustomize-bin" },
];

/** Runs the settings loader, its errors turned into the agent's ConfigError (same message). */
function asConfigError<T>(load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (err instanceof SettingsError) throw new ConfigError(err.message, { cause: err });
    throw err;
  }
}

function validate(input: Readonly<Record<string, unknown>>): AgentConfig {
  const config = asConfigError(() => parseSettings(configSchema, AGENT_SETTINGS, input));
  if (config.registrationToken !== "" && config.hubUrl === "") {
    throw new ConfigError(
      "FLOTILLA_REGISTRATION_TOKEN_FILE is set without FLOTILLA_HUB_URL: the agent registers with the token at the hub's URL; set both",
    );
  }
  if (config.hubUrl.startsWith("http://") && !config.hubInsecure) {
    throw new ConfigError(
      "FLOTILLA_HUB_URL is http://: the registration token would cross the network in the clear; use https://, or set FLOTILLA_HUB_INSECURE=true for a local test fleet",
    );
  }
  return config;
}

/**
 * Validates settings given as an object (tests, embedding). Throws ConfigError with one line
 * naming the first bad setting by its variable.
 */
export function makeConfig(input: AgentConfigInput): AgentConfig {
  return validate(input);
}

function parseBootstrap(bootstrap: Reading): Record<string, unknown> {
  const path = bootstrap.path ?? bootstrap.from;
  let bundle: unknown;
  try {
    bundle = JSON.parse(bootstrap.value);
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
  const readings = asConfigError(() => readSettings(AGENT_SETTINGS, env, argv));
  const input: Record<string, unknown> = {};
  const bootstrap = readings.get("bootstrap");
  if (bootstrap) Object.assign(input, parseBootstrap(bootstrap));
  if (env.KUBECONFIG) input.kubeconfig = env.KUBECONFIG;
  for (const [field, reading] of readings) if (field !== "bootstrap") input[field] = reading.value;
  // Plaintext chosen on this cluster wins over the CA the bundle carries, rather than contradict it.
  if (readings.has("natsInsecure") && !readings.has("natsCa")) delete input.natsCa;
  return validate(input);
}
