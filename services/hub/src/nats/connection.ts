import { connect, credsAuthenticator, type NatsConnection } from "nats";

/**
 * Connects to NATS as one of the hub's users, reconnecting forever. `servers` is comma-separated;
 * `creds` is the text of a creds file, or undefined on a NATS without auth.
 */
export function connectNats(servers: string, creds: string | undefined, name: string): Promise<NatsConnection> {
  return connect({
    servers: servers.split(",").map((s) => s.trim()),
    name,
    maxReconnectAttempts: -1,
    ...(creds ? { authenticator: credsAuthenticator(new TextEncoder().encode(creds)) } : {}),
  });
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
