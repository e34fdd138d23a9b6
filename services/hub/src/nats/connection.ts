import { explainNatsTlsError, type NatsTlsSettings, natsTlsOption } from "@flotilla/settings";
import { type ConnectionOptions, connect, credsAuthenticator, type NatsConnection } from "nats";
import type { Logger } from "pino";
import { NatsTlsError } from "../errors.js";

/**
 * Connects to NATS as one of the hub's users, reconnecting forever, and logs every change of
 * the connection's state: a cut connection loses the heartbeats published meanwhile, so a
 * liveness question ("why did live clusters turn Offline?") starts in this log. `servers` is
 * comma-separated; `creds` is the text of a creds file, or undefined on a NATS without auth;
 * `tls` requires TLS unless it says plaintext. A first connection that fails for a TLS reason
 * throws a {@link NatsTlsError} naming the setting to change.
 */
export async function connectNats(
  servers: string,
  creds: string | undefined,
  name: string,
  log: Logger,
  tls: NatsTlsSettings,
): Promise<NatsConnection> {
  const options: ConnectionOptions = {
    servers: servers.split(",").map((s) => s.trim()),
    name,
    maxReconnectAttempts: -1,
    tls: natsTlsOption(tls),
    // Every JetStream write is a request; capturing a stack trace for each one cost the hub more
    // than signing the desired state it carries. Errors still name the subject and the cause.
    noAsyncTraces: true,
    ...(creds ? { authenticator: credsAuthenticator(new TextEncoder().encode(creds)) } : {}),
  };
  // A first connection that may reconnect can wait out its whole timeout when the server drops
  // the handshake late (a missing client certificate under TLS 1.3) and then tells only TIMEOUT;
  // one that may not fails at once with the server's reason, which names the setting to fix.
  const probe = await connect({ ...options, reconnect: false }).catch((err: unknown) => {
    const why = explainNatsTlsError(err, servers, tls);
    throw why ? new NatsTlsError(why, { cause: err }) : err;
  });
  await probe.close();
  const nc = await connect(options);
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "pingTimer" || s.type === "update") continue;
      const fields = { connection: name, event: s.type, data: String(s.data) };
      if (s.type === "reconnect") log.info(fields, "NATS connection restored");
      else log.warn(fields, "NATS connection state changed");
    }
  })().catch(() => {});
  return nc;
}

/** How long a closing connection may take to drain before it is closed outright. */
export const NATS_DRAIN_TIMEOUT_MS = 2_000;

/**
 * Drains a connection (in-flight messages delivered) if NATS answers within
 * {@link NATS_DRAIN_TIMEOUT_MS}, then closes it: with NATS gone a drain never ends, and the
 * reconnect timer of an open connection would keep the process alive after a stop.
 */
export async function closeNats(nc: NatsConnection): Promise<void> {
  if (nc.isClosed()) return;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, NATS_DRAIN_TIMEOUT_MS);
  });
  await Promise.race([nc.drain().catch(() => {}), timeout]);
  clearTimeout(timer);
  if (!nc.isClosed()) await nc.close().catch(() => {});
}

/** Calls `onChange` with true now and on every reconnect, false on every disconnect, until the connection closes. */
export function watchConnection(nc: NatsConnection, onChange: (connected: boolean) => void): void {
  onChange(!nc.isClosed());
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") onChange(false);
      else if (s.type === "reconnect") onChange(true);
    }
    onChange(false);
  })().catch(() => onChange(false));
}
