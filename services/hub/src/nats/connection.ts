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
