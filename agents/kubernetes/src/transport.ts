/**
 * The agent's NATS side: watch this cluster's keys in the desired bucket, write reports to the
 * status bucket, publish heartbeats and answer RPCs. NATS may come and go; the watch is
 * re-established and the last report of every app is re-sent after a reconnect.
 */
import {
  clusterKeyFilter,
  DESIRED_BUCKET,
  HEARTBEAT,
  type HeartbeatInit,
  heartbeatSubject,
  inboxPrefix,
  REPORT,
  type ReportInit,
  rpcSubject,
  type SigningKey,
  STATUS_BUCKET,
  seal,
  stateKey,
} from "@flotilla/proto";
import { connect, credsAuthenticator, Events, type KV, type Msg, type NatsConnection } from "nats";
import type { Logger } from "./logger.js";

/** A desired-bucket entry for one of this cluster's apps. */
export interface DesiredEntry {
  key: string;
  value: Uint8Array;
  operation: "PUT" | "DEL" | "PURGE";
}

export interface TransportOptions {
  cluster: string;
  natsUrl: string;
  natsCreds: string;
  agentKey: SigningKey;
  log: Logger;
  retryBackoffMs: number;
  maxRetryBackoffMs: number;
}

/**
 * Opens a bucket within a cluster's permissions (`clusterPermissions` in @flotilla/proto): no
 * `$JS.API.INFO` (`checkAPI: false`) and no stream info (`bindOnly`), which clusters may not
 * ask for because stream info lists every cluster's key names; gets go through the direct API.
 */
function openBucket(nc: NatsConnection, bucket: string): Promise<KV> {
  return nc.jetstream({ checkAPI: false }).views.kv(bucket, { bindOnly: true, allow_direct: true });
}

/** Reconnect delay between attempts; nats.js retries forever with `maxReconnectAttempts: -1`. */
const RECONNECT_WAIT_MS = 1_000;
/** How long a stop waits for the connection to drain before closing it outright. */
const DRAIN_TIMEOUT_MS = 2_000;

export class Transport {
  #nc: NatsConnection | undefined;
  #status: KV | undefined;
  #stopped = false;
  #connected = false;
  /** Latest unsent report per app; flushed on reconnect. */
  readonly #pending = new Map<string, ReportInit>();
  #onReconnect: () => void = () => {};

  constructor(private readonly opts: TransportOptions) {}

  /** Connects, retrying until NATS answers or `stop()` is called. */
  async connect(): Promise<NatsConnection> {
    const { cluster, natsUrl, natsCreds, log } = this.opts;
    const nc = await connect({
      servers: natsUrl.split(",").map((s) => s.trim()),
      name: `flotilla-agent-${cluster}`,
      inboxPrefix: inboxPrefix(cluster),
      authenticator: natsCreds ? credsAuthenticator(new TextEncoder().encode(natsCreds)) : undefined,
      maxReconnectAttempts: -1,
      reconnectTimeWait: RECONNECT_WAIT_MS,
      waitOnFirstConnect: true,
      pingInterval: 10_000,
    });
    if (this.#stopped) {
      await nc.close();
      return nc;
    }
    this.#nc = nc;
    this.#connected = true;
    log.info({ server: nc.getServer() }, "connected to NATS");
    this.#flush();
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === Events.Disconnect) {
          this.#connected = false;
          log.warn("NATS disconnected; enforcing the last desired state meanwhile");
        }
        if (s.type === Events.Reconnect) {
          this.#connected = true;
          log.info("NATS reconnected; re-sending reports");
          this.#flush();
          this.#onReconnect();
        }
      }
    })();
    return nc;
  }

  /** Whether the connection to NATS is up right now. */
  get connected(): boolean {
    return this.#connected && !!this.#nc && !this.#nc.isClosed();
  }

  /** Called after each reconnect (to re-send every app's last report). */
  onReconnect(fn: () => void): void {
    this.#onReconnect = fn;
  }

  /**
   * Watches this cluster's desired keys until stopped, re-creating the watch with backoff when
   * it fails (bucket not created yet, NATS restarted).
   */
  async watchDesired(onEntry: (entry: DesiredEntry) => void): Promise<void> {
    const { cluster, log } = this.opts;
    let delay = this.opts.retryBackoffMs;
    while (!this.#stopped) {
      const nc = this.#nc;
      if (!nc) return;
      try {
        const kv = await openBucket(nc, DESIRED_BUCKET);
        const watch = await kv.watch({ key: clusterKeyFilter(cluster) });
        delay = this.opts.retryBackoffMs;
        for await (const e of watch) {
          if (this.#stopped) break;
          onEntry({ key: e.key, value: e.value, operation: e.operation });
        }
      } catch (err) {
        if (this.#stopped) return;
        log.warn({ err: (err as Error).message, retryInMs: delay }, "desired-state watch failed");
      }
      if (this.#stopped) return;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, this.opts.maxRetryBackoffMs);
    }
  }

  /** Signs and writes a report; if NATS is away, keeps it to send on reconnect. */
  report(app: string, report: ReportInit): void {
    this.#pending.set(app, report);
    void this.#send(app, report);
  }

  async #send(app: string, report: ReportInit): Promise<void> {
    const nc = this.#nc;
    if (!nc || nc.isClosed()) return;
    try {
      this.#status ??= await openBucket(nc, STATUS_BUCKET);
      await this.#status.put(stateKey(this.opts.cluster, app), seal(REPORT, report, this.opts.agentKey));
      if (this.#pending.get(app) === report) this.#pending.delete(app);
    } catch (err) {
      this.opts.log.debug({ app, err: (err as Error).message }, "report not sent; will re-send after reconnect");
    }
  }

  #flush(): void {
    for (const [app, report] of this.#pending) void this.#send(app, report);
  }

  /** Re-tries reports that could not be written (e.g. the status bucket did not exist yet). */
  retryPending(): void {
    if (this.#pending.size > 0) this.#flush();
  }

  /** Publishes one heartbeat (dropped silently while disconnected; the next one follows). */
  heartbeat(hb: HeartbeatInit): void {
    const nc = this.#nc;
    if (!nc || nc.isClosed()) return;
    try {
      nc.publish(heartbeatSubject(this.opts.cluster), seal(HEARTBEAT, hb, this.opts.agentKey));
    } catch (err) {
      this.opts.log.debug({ err: (err as Error).message }, "heartbeat not sent");
    }
  }

  /** Answers requests on this cluster's RPC subject with `handler`. */
  serveRpc(handler: (msg: Msg) => Promise<Uint8Array>): void {
    const nc = this.#nc;
    if (!nc) return;
    nc.subscribe(rpcSubject(this.opts.cluster), {
      callback: (err, msg) => {
        if (err) return;
        handler(msg).then(
          (reply) => msg.respond(reply),
          (e: unknown) => this.opts.log.warn({ err: (e as Error).message }, "rpc failed"),
        );
      },
    });
  }

  /** Stops watching and closes the connection after in-flight messages. */
  async stop(): Promise<void> {
    this.#stopped = true;
    const nc = this.#nc;
    if (!nc || nc.isClosed()) return;
    // With NATS gone a drain never ends; close outright after a short wait.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, DRAIN_TIMEOUT_MS);
    });
    await Promise.race([nc.drain().catch(() => {}), timeout]);
    clearTimeout(timer);
    if (!nc.isClosed()) await nc.close().catch(() => {});
  }
}
