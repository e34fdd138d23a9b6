/**
 * The hub as a process: its built command on a free loopback port, its secrets in 0600 files,
 * its output in a log, ready once `/readyz` answers.
 */
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type OperatorSetup, serializeOperatorSetup } from "@flotilla/hub";
import { ProgramStartError } from "./errors.js";
import { HubApi } from "./hub-api.js";
import { type NatsClientTls, natsTlsEnv } from "./nats.js";
import { freePort, LOOPBACK, releasePorts } from "./ports.js";
import { type ManagedProcess, startProcess } from "./process.js";
import { entryPoint, programEnv } from "./program.js";
import { writeSecretFile } from "./secrets.js";
import { until } from "./wait.js";

/** How long a hub may take to answer `/readyz` (and to lead, when asked to wait for that). */
export const DEFAULT_HUB_READY_TIMEOUT_MS = 60_000;
/** How often the start probes `/readyz`. */
const READY_POLL_MS = 200;

/** A fresh admin token: 32 URL-safe characters. */
export function newAdminToken(): string {
  return randomBytes(24).toString("base64url");
}

/** A fresh encryption key for repo credentials: base64 of 32 random bytes. */
export function newEncryptionKey(): string {
  return randomBytes(32).toString("base64");
}

/** The script and arguments of a command other than the hub's own that starts a hub. */
export interface HubCommand {
  readonly script: string;
  readonly args: readonly string[];
}

/** Options of {@link startHubProcess}. */
export interface HubProcessOptions {
  /** The replica's own directory, created if missing: its log (`hub.log`) and secret files. */
  readonly dir: string;
  /** Sets `FLOTILLA_REDIS_URL`. */
  readonly redisUrl?: string;
  /** Sets `FLOTILLA_NATS_URL`. */
  readonly natsUrl?: string;
  /**
   * TLS to that NATS (a harness server's `tls`): sets `FLOTILLA_NATS_CA_FILE` (and the client
   * certificate's files when the server verifies clients); null, a plaintext NATS, sets
   * `FLOTILLA_NATS_INSECURE=true`. Unset: neither, so the hub requires TLS verified with the
   * system's CAs.
   */
  readonly natsTls?: NatsClientTls | null;
  /**
   * NATS in operator mode: the setup goes to the hub as `FLOTILLA_HUB_OPERATOR_SETUP_FILE` and
   * its own user's credentials as `FLOTILLA_NATS_CREDS`, both 0600 files in `dir`.
   */
  readonly operatorSetup?: OperatorSetup;
  /** The admin token, handed over in a 0600 file. @default a fresh {@link newAdminToken} */
  readonly token?: string;
  /** The encryption key, handed over in a 0600 file. @default a fresh {@link newEncryptionKey} */
  readonly encryptionKey?: string;
  /** Flags for `node` itself, before the script: `--cpu-prof`, `--max-old-space-size=...` (not all may go in NODE_OPTIONS). */
  readonly nodeArgs?: readonly string[];
  /** Sets `FLOTILLA_HUB_REPLICA_ID`. @default the hub's own default */
  readonly replica?: string;
  /** More settings (`FLOTILLA_*`), applied last. `FLOTILLA_LOG_LEVEL` is `info` unless set here. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Starts the hub through another command, such as the CLI's `flotilla hub`: given the
   * address to listen on, returns the script (run with `node`) and its arguments. The listen,
   * Redis and NATS addresses then travel only in those arguments.
   */
  readonly command?: (listen: string) => HubCommand;
  /**
   * What the start waits for: `/readyz` answering 200, or that and the hub holding the
   * leader lease.
   * @default "ready"
   */
  readonly waitFor?: "ready" | "leader";
  /** @default DEFAULT_HUB_READY_TIMEOUT_MS */
  readonly readyTimeoutMs?: number;
  /** Aborts the wait for the hub: it is stopped and the start rejects. */
  readonly signal?: AbortSignal;
}

/** A hub the harness started. */
export interface HubProcess {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly replica: string | undefined;
  /** The admin token it accepts. */
  readonly token: string;
  /** Its API, as an admin. */
  readonly api: HubApi;
  readonly process: ManagedProcess<"hub">;
  /** SIGTERM, SIGKILL after a grace period; resolves once it has exited. */
  stop(): Promise<void>;
  /** SIGKILL, for crash tests; resolves once it has exited. */
  kill(): Promise<void>;
}

/**
 * Starts a hub on a free loopback port and resolves once it is ready (see `waitFor`). If it
 * exits or does not answer in time, it is stopped and a {@link ProgramStartError} carries the
 * end of its log.
 */
export async function startHubProcess(options: HubProcessOptions): Promise<HubProcess> {
  const { dir } = options;
  await mkdir(dir, { recursive: true });
  const token = options.token ?? newAdminToken();
  const port = await freePort();
  const listen = `${LOOPBACK}:${port}`;
  const settings: Record<string, string> = {
    FLOTILLA_HUB_ADMIN_TOKEN_FILE: await writeSecretFile(join(dir, "admin-token"), token),
    FLOTILLA_HUB_ENCRYPTION_KEY_FILE: await writeSecretFile(
      join(dir, "encryption.key"),
      options.encryptionKey ?? newEncryptionKey(),
    ),
    FLOTILLA_LOG_LEVEL: "info",
  };
  if (options.command === undefined) {
    settings.FLOTILLA_HUB_LISTEN = listen;
    if (options.redisUrl !== undefined) settings.FLOTILLA_REDIS_URL = options.redisUrl;
    if (options.natsUrl !== undefined) settings.FLOTILLA_NATS_URL = options.natsUrl;
  }
  if (options.natsTls !== undefined) Object.assign(settings, natsTlsEnv(options.natsTls));
  if (options.replica !== undefined) settings.FLOTILLA_HUB_REPLICA_ID = options.replica;
  if (options.operatorSetup !== undefined) {
    const setup = options.operatorSetup;
    settings.FLOTILLA_HUB_OPERATOR_SETUP_FILE = await writeSecretFile(
      join(dir, "operator-setup.json"),
      serializeOperatorSetup(setup),
    );
    settings.FLOTILLA_NATS_CREDS = await writeSecretFile(join(dir, "hub.creds"), setup.hubUser.creds);
  }
  const command = options.command?.(listen) ?? { script: entryPoint("hub"), args: [] };
  const proc = await startProcess({
    name: "hub",
    command: process.execPath,
    args: [...(options.nodeArgs ?? []), command.script, ...command.args],
    logPath: join(dir, "hub.log"),
    env: programEnv({ ...settings, ...options.env }),
  });
  const url = `http://${listen}`;
  const stop = async (how: () => Promise<void>) => {
    await how();
    releasePorts([port]);
  };
  const hub: HubProcess = {
    url,
    replica: options.replica,
    token,
    api: new HubApi(url, token),
    process: proc,
    stop: () => stop(() => proc.stop()),
    kill: () => stop(() => proc.kill()),
  };
  const waitFor = options.waitFor ?? "ready";
  try {
    await until(
      waitFor === "leader" ? "the hub to lead" : "the hub to answer /readyz",
      async () => {
        options.signal?.throwIfAborted();
        if (!proc.alive()) throw new Error(`it exited (${JSON.stringify(proc.exitStatus)})`);
        const res = await fetch(`${url}/readyz`).catch(() => undefined);
        if (res?.status !== 200) return false;
        const body = (await res.json()) as { leader?: boolean };
        return waitFor === "ready" || body.leader === true;
      },
      options.readyTimeoutMs ?? DEFAULT_HUB_READY_TIMEOUT_MS,
      READY_POLL_MS,
    );
  } catch (err) {
    await hub.kill();
    if (options.signal?.aborted) throw err;
    throw new ProgramStartError(`hub ${options.replica ?? url}`, await proc.tail(), { cause: err });
  }
  return hub;
}
