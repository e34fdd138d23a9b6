/**
 * nats-server configuration for operator mode: the server trusts the operator, resolves
 * accounts from a `full` resolver directory (so the hub can push new account JWTs — with
 * revocations — at runtime through the system account), and starts with both account JWTs
 * preloaded so no external account server is needed.
 */
import { NATS_MAX_CONTROL_LINE } from "@flotilla/proto";
import type { OperatorSetup } from "./setup.js";

/** Address the server listens on when only a port is given: loopback, never all interfaces. */
export const DEFAULT_LISTEN_HOST = "127.0.0.1";

/** Options of {@link natsServerConfig}. */
export interface NatsServerConfigOptions {
  /** Directory of the `full` account resolver: where pushed account JWTs are kept across restarts. */
  resolverDir: string;
  /**
   * Client port. When set, a `listen` line is written; leave it out when the surrounding config
   * already has one (the test harness writes its own listener and JetStream block).
   */
  port?: number;
  /** Listen host, used with `port`. @default {@link DEFAULT_LISTEN_HOST} */
  host?: string;
  /** JetStream store directory. When set, a `jetstream` block is written; leave it out as for `port`. */
  storeDir?: string;
  /**
   * `sync_interval: always` in the JetStream block (only written with `storeDir`): fsync every
   * write. NATS's 2025 Jepsen analysis showed acknowledged writes lost on power failure with
   * the default periodic sync, and desired states and reports must survive a crash.
   * @default true
   */
  syncAlways?: boolean;
  /** `server_name`; JetStream needs a stable one across restarts. Omitted when unset. */
  serverName?: string;
}

function quoted(value: string): string {
  return JSON.stringify(value);
}

/**
 * The nats-server.conf text for operator mode with `setup`. Preloads the account JWT stored
 * in the setup; a newer one already in the resolver directory (pushed at runtime) wins, since
 * the server keeps the JWT with the later issue time.
 */
export function natsServerConfig(setup: OperatorSetup, options: NatsServerConfigOptions): string {
  const lines: string[] = [];
  if (options.serverName !== undefined) lines.push(`server_name: ${quoted(options.serverName)}`);
  if (options.port !== undefined) {
    lines.push(`listen: ${quoted(`${options.host ?? DEFAULT_LISTEN_HOST}:${options.port}`)}`);
  }
  if (options.storeDir !== undefined) {
    lines.push("jetstream {", `  store_dir: ${quoted(options.storeDir)}`);
    if (options.syncAlways ?? true) {
      lines.push("  # fsync every write: NATS's 2025 Jepsen findings lost acknowledged writes with periodic sync");
      lines.push("  sync_interval: always");
    }
    lines.push("}");
  }
  lines.push(
    "# A cluster's user JWT lists the status key of each app assigned to it and travels in CONNECT.",
    `max_control_line: ${NATS_MAX_CONTROL_LINE}`,
    "# Operator mode: clients authenticate with user JWTs signed by an account key the operator trusts.",
    `operator: ${quoted(setup.operator.jwt)}`,
    `system_account: ${setup.systemAccount.publicKey}`,
    "# full resolver: account JWTs pushed at runtime ($SYS.REQ.CLAIMS.UPDATE) are stored here and survive restarts.",
    "resolver {",
    "  type: full",
    `  dir: ${quoted(options.resolverDir)}`,
    "  allow_delete: false",
    "}",
    "resolver_preload {",
    `  ${setup.systemAccount.publicKey}: ${quoted(setup.systemAccount.jwt)}`,
    `  ${setup.account.publicKey}: ${quoted(setup.account.jwt)}`,
    "}",
    "",
  );
  return lines.join("\n");
}

/** NATS's default TLS handshake timeout (0.5 s) is short for a busy server or a slow link. */
export const DEFAULT_NATS_TLS_TIMEOUT_S = 5;

/** The files of a nats-server's `tls` block. */
export interface NatsServerTls {
  /** PEM of the server's certificate; its names must include the host clients connect to. */
  certFile: string;
  /** PEM of its private key. */
  keyFile: string;
  /** PEM of the CA that signs client certificates, for `verify`. */
  caFile?: string;
  /** Demand a client certificate signed by `caFile` (mutual TLS). @default false */
  verify?: boolean;
  /** Seconds a client has to finish the handshake. @default {@link DEFAULT_NATS_TLS_TIMEOUT_S} */
  timeoutSeconds?: number;
}

/**
 * The `tls` block of a nats-server.conf: TLS on the client port, required of every client (a
 * plaintext client is refused after the server's INFO). Routes between servers are not covered.
 */
export function natsTlsConfig(tls: NatsServerTls): string {
  return [
    "# TLS required on the client port: plaintext clients are refused.",
    "tls {",
    `  cert_file: ${quoted(tls.certFile)}`,
    `  key_file: ${quoted(tls.keyFile)}`,
    ...(tls.caFile ? [`  ca_file: ${quoted(tls.caFile)}`] : []),
    `  verify: ${tls.verify ?? false}`,
    `  timeout: ${tls.timeoutSeconds ?? DEFAULT_NATS_TLS_TIMEOUT_S}`,
    "}",
    "",
  ].join("\n");
}
