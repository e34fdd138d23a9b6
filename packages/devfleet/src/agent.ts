/**
 * The cluster agent as a process: its built command, its bootstrap bundle and Git credentials
 * in 0600 files, the fixture helm and kustomize, its output in a log.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { BootstrapBundle } from "@flotilla/api";
import { binPath } from "./fixtures.js";
import type { GitServer } from "./git.js";
import { type NatsClientTls, natsTlsEnv } from "./nats.js";
import { LOOPBACK } from "./ports.js";
import { type ManagedProcess, startProcess } from "./process.js";
import { entryPoint, programEnv } from "./program.js";
import { writeSecretFile } from "./secrets.js";

/** Options of {@link startAgentProcess}. */
export interface AgentProcessOptions {
  /** The agent's own directory, created if missing: bundle, credentials, Git cache, `agent.log`. */
  readonly dir: string;
  /** What the hub handed out at registration, or one a test made to play the hub itself. */
  readonly bootstrap: BootstrapBundle;
  /** The cluster it applies to. */
  readonly kubeconfig: string;
  /**
   * A Git server whose repos it may fetch, with that server's credentials and the settings that
   * let the agent reach it (plain HTTP on loopback).
   */
  readonly git?: Pick<GitServer, "baseUrl" | "username" | "password" | "clientEnv">;
  /**
   * TLS to NATS beyond what the bundle carries (its `natsCa`): a harness server's `tls` sets
   * `FLOTILLA_NATS_CA_FILE` (and the client certificate's files when the server verifies
   * clients); null, a plaintext NATS, sets `FLOTILLA_NATS_INSECURE=true`. @default the bundle alone
   */
  readonly natsTls?: NatsClientTls | null;
  /** Port of its metrics, `/healthz` and `/readyz` on 127.0.0.1. @default 0 (any free port) */
  readonly metricsPort?: number;
  /** More settings (`FLOTILLA_*`), applied last. `FLOTILLA_LOG_LEVEL` is `info` unless set here. */
  readonly env?: Readonly<Record<string, string>>;
}

/** An agent the harness started. */
export interface AgentProcess {
  readonly cluster: string;
  /** `http://127.0.0.1:<port>` of its metrics and probes, when a port was given. */
  readonly endpoints: string | undefined;
  readonly process: ManagedProcess<"agent">;
  /** SIGTERM, SIGKILL after a grace period; resolves once it has exited. */
  stop(): Promise<void>;
  /** SIGKILL, for crash tests; resolves once it has exited. */
  kill(): Promise<void>;
}

/**
 * Starts an agent for one cluster. It does not wait for anything: the agent connects, and
 * reports, in its own time; wait for what the test or fleet needs (a Ready cluster, a report).
 */
export async function startAgentProcess(options: AgentProcessOptions): Promise<AgentProcess> {
  const { dir, bootstrap } = options;
  await mkdir(dir, { recursive: true });
  const settings: Record<string, string> = {
    FLOTILLA_BOOTSTRAP: await writeSecretFile(join(dir, "bootstrap.json"), JSON.stringify(bootstrap)),
    KUBECONFIG: options.kubeconfig,
    FLOTILLA_CACHE_DIR: join(dir, "cache"),
    FLOTILLA_HELM_BIN: binPath("helm"),
    FLOTILLA_KUSTOMIZE_BIN: binPath("kustomize"),
    FLOTILLA_METRICS_HOST: LOOPBACK,
    FLOTILLA_METRICS_PORT: String(options.metricsPort ?? 0),
    FLOTILLA_LOG_LEVEL: "info",
  };
  if (options.natsTls !== undefined) Object.assign(settings, natsTlsEnv(options.natsTls));
  const { git } = options;
  if (git !== undefined) {
    Object.assign(settings, git.clientEnv);
    settings.FLOTILLA_GIT_CREDENTIALS = await writeSecretFile(
      join(dir, "git-credentials.json"),
      JSON.stringify([{ urlPrefix: git.baseUrl, username: git.username, password: git.password }]),
    );
  }
  const proc = await startProcess({
    name: "agent",
    command: process.execPath,
    args: [entryPoint("agent")],
    logPath: join(dir, "agent.log"),
    env: programEnv({ ...settings, ...options.env }),
  });
  return {
    cluster: bootstrap.cluster,
    endpoints: options.metricsPort ? `http://${LOOPBACK}:${options.metricsPort}` : undefined,
    process: proc,
    stop: () => proc.stop(),
    kill: () => proc.kill(),
  };
}
