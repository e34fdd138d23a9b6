/**
 * Credentials from a kubeconfig user's `exec` plugin (`aws eks get-token`,
 * `gke-gcloud-auth-plugin`, `kubelogin`), as client-go runs them: the command with the
 * kubeconfig's arguments and environment plus `KUBERNETES_EXEC_INFO`, no shell, no terminal;
 * its stdout is an ExecCredential (`client.authentication.k8s.io/v1` or `v1beta1`) whose token
 * is cached until its `expirationTimestamp` and fetched again after a 401.
 *
 * The plugin's output is a secret: the token never reaches a log line, an error message or an
 * error's cause. When a plugin fails, its stderr may hold secrets too (some plugins echo the
 * request they made), so an error shows only its last line, cut to {@link STDERR_LINE_MAX}
 * characters, and says that it is the last line.
 */
import { execFile } from "node:child_process";
import { isAbsolute, join } from "node:path";
import { z } from "zod";
import { ConfigError, ExecPluginError } from "./errors.js";

/** The ExecCredential API versions client-go still speaks (v1alpha1 was removed in 1.24). */
export const EXEC_API_VERSIONS = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"] as const;
export type ExecApiVersion = (typeof EXEC_API_VERSIONS)[number];

/** How long a plugin may run before it is killed; cloud CLIs fetching a token take a second or two. */
export const EXEC_TIMEOUT_MS = 60_000;
/** Most a plugin may print; an ExecCredential is a few kilobytes. */
export const EXEC_MAX_OUTPUT_BYTES = 1024 * 1024;
/** A token is fetched again this long before its stated expiry, so no request carries one that lapses in flight. */
export const EXEC_REFRESH_MARGIN_MS = 10_000;
/** Characters of a failing plugin's last stderr line that an error shows. */
export const STDERR_LINE_MAX = 200;

/** The `exec` stanza of a kubeconfig user, with defaults filled in and the command resolved. */
export interface ExecConfig {
  apiVersion: ExecApiVersion;
  /** The command as the kubeconfig names it (for messages). */
  command: string;
  /** What is run: a relative path with a slash in it is resolved against the kubeconfig's directory. */
  path: string;
  args: string[];
  env: Record<string, string>;
  /** `Never`, `IfAvailable` or `Always`; the agent has no terminal, so `Always` cannot be served. */
  interactiveMode: "Never" | "IfAvailable" | "Always";
  installHint: string | undefined;
  /** The cluster's connection details, for plugins that ask for them (`provideClusterInfo: true`). */
  cluster: ExecClusterInfo | undefined;
}

/** What `KUBERNETES_EXEC_INFO` tells a plugin about the cluster (`spec.cluster`). */
export interface ExecClusterInfo {
  server: string;
  "certificate-authority-data"?: string;
  "tls-server-name"?: string;
  "insecure-skip-tls-verify"?: boolean;
  /** The cluster's `client.authentication.k8s.io/exec` extension, when it has one. */
  config?: unknown;
}

const execStanza = z.object({
  apiVersion: z.string().optional(),
  command: z.string().min(1),
  args: z.array(z.string()).nullish(),
  env: z.array(z.object({ name: z.string().min(1), value: z.string() })).nullish(),
  installHint: z.string().nullish(),
  provideClusterInfo: z.boolean().nullish(),
  interactiveMode: z.enum(["Never", "IfAvailable", "Always"]).nullish(),
});

/**
 * Reads a user's `exec` stanza. `where` names the kubeconfig and user in messages; relative
 * commands resolve against `baseDir`, as client-go resolves them.
 */
export function parseExecConfig(
  raw: unknown,
  where: string,
  baseDir: string,
  cluster: ExecClusterInfo | undefined,
): ExecConfig {
  const parsed = execStanza.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`${where}: exec.${issue?.path.join(".") ?? ""} ${issue?.message ?? "is invalid"}`);
  }
  const e = parsed.data;
  const apiVersion = e.apiVersion ?? "";
  if (!(EXEC_API_VERSIONS as readonly string[]).includes(apiVersion)) {
    throw new ConfigError(
      `${where}: exec.apiVersion ${JSON.stringify(apiVersion)} is not supported; use ${EXEC_API_VERSIONS[0]} (or ${EXEC_API_VERSIONS[1]})`,
    );
  }
  const command = e.command;
  return {
    apiVersion: apiVersion as ExecApiVersion,
    command,
    path: command.includes("/") && !isAbsolute(command) ? join(baseDir, command) : command,
    args: e.args ?? [],
    env: Object.fromEntries((e.env ?? []).map((v) => [v.name, v.value])),
    interactiveMode: e.interactiveMode ?? "IfAvailable",
    installHint: e.installHint ?? undefined,
    cluster: e.provideClusterInfo ? cluster : undefined,
  };
}

/** A token from a plugin and when it stops being good (undefined: until the API server refuses it). */
export interface ExecToken {
  token: string;
  expiresAtMs: number | undefined;
}

const credentialSchema = z.object({
  apiVersion: z.string(),
  kind: z.literal("ExecCredential"),
  status: z
    .object({
      token: z.string().optional(),
      clientCertificateData: z.string().optional(),
      clientKeyData: z.string().optional(),
      expirationTimestamp: z.string().optional(),
    })
    .optional(),
});

/**
 * Reads a plugin's stdout. Throws ExecPluginError with a message that never quotes the output
 * (it holds the token), and keeps no cause (a JSON or zod error would quote it).
 */
export function parseExecCredential(stdout: string, config: Pick<ExecConfig, "apiVersion" | "command">): ExecToken {
  const fail = (why: string) =>
    new ExecPluginError(config.command, `its output ${why}; run it by hand to see what it prints`);
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    throw fail("is not JSON");
  }
  const parsed = credentialSchema.safeParse(json);
  if (!parsed.success) throw fail(`is not an ExecCredential (${parsed.error.issues[0]?.path.join(".") || "kind"})`);
  const { apiVersion, status } = parsed.data;
  if (apiVersion !== config.apiVersion) {
    throw fail(`has apiVersion ${JSON.stringify(apiVersion)}, but the kubeconfig asks for ${config.apiVersion}`);
  }
  if (!status?.token) {
    if (status?.clientCertificateData || status?.clientKeyData) {
      throw new ExecPluginError(
        config.command,
        "it returned a client certificate; the agent takes tokens from exec plugins only (give the certificate as client-certificate/client-key files instead)",
      );
    }
    throw fail("has no status.token");
  }
  let expiresAtMs: number | undefined;
  if (status.expirationTimestamp !== undefined) {
    expiresAtMs = Date.parse(status.expirationTimestamp);
    if (Number.isNaN(expiresAtMs)) throw fail("has a status.expirationTimestamp that is not an RFC 3339 time");
  }
  return { token: status.token, expiresAtMs };
}

/**
 * Until when a token obtained at `obtainedAtMs` is used: its expiry less a margin of
 * {@link EXEC_REFRESH_MARGIN_MS}, or a quarter of its lifetime when that is shorter, so a
 * short-lived token is still used more than once.
 */
export function usableUntil(token: ExecToken, obtainedAtMs: number): number {
  if (token.expiresAtMs === undefined) return Number.POSITIVE_INFINITY;
  const lifetime = Math.max(token.expiresAtMs - obtainedAtMs, 0);
  return token.expiresAtMs - Math.min(EXEC_REFRESH_MARGIN_MS, lifetime / 4);
}

/** The value of `KUBERNETES_EXEC_INFO` for a run of `config`. */
export function execInfo(config: ExecConfig): string {
  const spec: Record<string, unknown> = { interactive: false };
  if (config.cluster) spec.cluster = config.cluster;
  return JSON.stringify({ apiVersion: config.apiVersion, kind: "ExecCredential", spec });
}

/** The last non-empty line of a failing plugin's stderr, without control characters, cut short. */
export function lastStderrLine(stderr: string): string {
  const lines = stderr
    .split(/\r?\n/)
    .map((l) => l.replace(/[\p{Cc}]/gu, " ").trim())
    .filter(Boolean);
  const last = lines.at(-1) ?? "";
  return last.length > STDERR_LINE_MAX ? `${last.slice(0, STDERR_LINE_MAX)}…` : last;
}

/** What a plugin run produced. */
export interface PluginOutput {
  stdout: string;
}

/** Runs a plugin; the seam unit tests replace. Rejects with ExecPluginError. */
export interface PluginRunner {
  run(config: ExecConfig): Promise<PluginOutput>;
}

/** Runs the plugin as a child process: no shell, stdin closed, a timeout, bounded output. */
export const processRunner: PluginRunner = {
  run(config) {
    if (config.interactiveMode === "Always") {
      return Promise.reject(
        new ExecPluginError(
          config.command,
          "its kubeconfig sets interactiveMode: Always, and the agent has no terminal; use a plugin mode that needs no prompt",
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const child = execFile(
        config.path,
        config.args,
        {
          env: { ...process.env, ...config.env, KUBERNETES_EXEC_INFO: execInfo(config) },
          timeout: EXEC_TIMEOUT_MS,
          maxBuffer: EXEC_MAX_OUTPUT_BYTES,
          windowsHide: true,
        },
        (err, stdout, stderr) => {
          if (!err) {
            resolve({ stdout });
            return;
          }
          const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
          let why: string;
          if (e.code === "ENOENT") {
            why = `it was not found${config.installHint ? ` (${lastStderrLine(config.installHint)})` : " on PATH"}`;
          } else if (e.code === "EACCES") {
            why = "it is not executable";
          } else if (e.code === "ERR_CHILD_PROCESS_STDIO_MAXBUFFER") {
            why = `it printed more than ${EXEC_MAX_OUTPUT_BYTES} bytes`;
          } else if (e.killed) {
            why = `it did not finish within ${EXEC_TIMEOUT_MS / 1000} s`;
          } else {
            const line = lastStderrLine(String(stderr));
            why = `it exited with code ${String(e.code)}${line ? ` (last line of its stderr: ${line})` : ""}`;
          }
          // No cause: the child-process error carries the plugin's whole stdout and stderr.
          reject(new ExecPluginError(config.command, why));
        },
      );
      // No terminal to prompt on: a plugin that reads stdin gets end-of-file at once.
      child.stdin?.end();
    });
  },
};

/**
 * One user's exec credentials: runs the plugin when no usable token is cached, shares one run
 * between concurrent callers, and drops the token when the API server refuses it.
 */
export class ExecCredentialSource {
  #cached: { token: string; until: number } | undefined;
  #inflight: Promise<string> | undefined;

  constructor(
    readonly config: ExecConfig,
    private readonly runner: PluginRunner = processRunner,
    private readonly now: () => number = Date.now,
  ) {}

  /** A usable token, running the plugin if needed. Rejects with ExecPluginError. */
  async token(): Promise<string> {
    const cached = this.#cached;
    if (cached && this.now() < cached.until) return cached.token;
    this.#inflight ??= this.#fetch().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  /**
   * The API server answered 401 to a request carrying `token`: forget it, unless a newer one
   * has been fetched since. Resolves true when a retry should get a fresh token.
   */
  rejected(token: string): boolean {
    if (this.#cached?.token === token) this.#cached = undefined;
    return true;
  }

  async #fetch(): Promise<string> {
    const startedAt = this.now();
    const { stdout } = await this.runner.run(this.config);
    const credential = parseExecCredential(stdout, this.config);
    this.#cached = { token: credential.token, until: usableUntil(credential, startedAt) };
    return credential.token;
  }
}
