/**
 * The agent's NATS side: watch this cluster's keys in the desired bucket, write reports to the
 * status bucket, publish heartbeats and answer RPCs. NATS may come and go; the watch is
 * re-established and the last report of every app is re-sent after a reconnect. A report whose
 * status key the JWT does not grant (a newly assigned app) waits while the agent asks the hub
 * for a JWT that grants it (grants.ts), and goes out after the reconnect with the new one.
 */
import {
  clusterKeyFilter,
  credsReplyPrefix,
  DESIRED_BUCKET,
  grantsStatusKey,
  HEARTBEAT,
  type HeartbeatInit,
  heartbeatSubject,
  inboxPrefix,
  type KeyRing,
  parseStateKey,
  REPORT,
  type ReportInit,
  rpcSubject,
  type SigningKey,
  STATUS_BUCKET,
  SyncPhase,
  seal,
  stateKey,
} from "@flotilla/proto";
import { explainNatsTlsError, type NatsTlsSettings, natsTlsOption } from "@flotilla/settings";
import {
  type Authenticator,
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  Events,
  type KV,
  type KvEntry,
  KvWatchInclude,
  type Msg,
  type NatsConnection,
  nuid,
  type QueuedIterator,
} from "nats";
import { jwtClaims, parseCreds, renewAtMs, renewCreds } from "./creds.js";
import { GrantWants } from "./grants.js";
import type { WireKeySet } from "./hub-trust.js";
import type { Logger } from "./logger.js";
import type { AgentMetrics } from "./metrics.js";
import { CredsRecovery, register } from "./registration.js";

/** Why the agent asks for new NATS credentials: its JWT is half way to expiry, or lacks a newly assigned app. */
export type RenewalReason = "expiry" | "assignment";

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
  /** TLS to NATS: required unless the settings say plaintext. */
  tls: NatsTlsSettings;
  agentKey: SigningKey;
  /** The hub's keys: a credentials renewal's answer must verify with one. */
  hubKeys: KeyRing;
  /** Called with the new creds text after each renewal (to keep it across restarts). */
  onCredsRenewed?: (creds: string) => void;
  /** Called with a hub key set a credentials answer carries, and the key that signed it. */
  onHubKeys?: (set: WireKeySet, signerKeyId: string) => void;
  /**
   * Where to register with a registration token when NATS refuses the creds (registration.ts);
   * empty strings: not configured, the agent then says what to do.
   */
  registration?: { hubUrl: string; token: string };
  log: Logger;
  /** Counts renewals by reason and result. */
  metrics?: Pick<AgentMetrics, "credsRenewals">;
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
/** How long a credentials request waits for the hub's answer. */
const RENEW_TIMEOUT_MS = 10_000;
/** First wait before asking again after a failed renewal; it doubles up to {@link RENEW_RETRY_MAX_MS}. */
const RENEW_RETRY_FIRST_MS = 500;
const RENEW_RETRY_MAX_MS = 30_000;
/** How long reading a key's history may take before the agent goes on without it. */
const HISTORY_TIMEOUT_MS = 10_000;
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
  /** The creds the next (re)connection authenticates with: the bundle's, then each renewal's. */
  #creds: string;
  #renewTimer: NodeJS.Timeout | undefined;
  #renewFailures = 0;
  /** The renewal in flight: at most one at a time. */
  #renewing: Promise<boolean> | undefined;
  /** Apps whose status keys the JWT lacks, and when to ask for them. */
  readonly #wants = new GrantWants();
  #grantTimer: NodeJS.Timeout | undefined;
  /** The publish allow list of {@link #creds}' JWT, read once per creds. */
  #allow: { creds: string; allow: string[] | undefined } | undefined;
  /** Registers when the creds stop working; none without creds (NATS without auth). */
  readonly #recovery: CredsRecovery | undefined;

  constructor(private readonly opts: TransportOptions) {
    this.#creds = opts.natsCreds;
    const { cluster, hubKeys, onHubKeys, log } = opts;
    const hubUrl = opts.registration?.hubUrl ?? "";
    const token = opts.registration?.token ?? "";
    this.#recovery = opts.natsCreds
      ? new CredsRecovery({
          cluster,
          hubUrl,
          token,
          creds: () => this.#creds,
          onRegistered: (creds) => this.#takeCreds(creds),
          register: () => register({ cluster, hubUrl, token, hubKeys, ...(onHubKeys ? { onHubKeys } : {}) }),
          log,
        })
      : undefined;
  }

  /** Takes creds from a registration: the next connection attempt presents them; they are kept and renewed. */
  #takeCreds(creds: string): void {
    this.#creds = creds;
    this.opts.onCredsRenewed?.(creds);
    this.#scheduleRenewal(0);
  }

  /**
   * Presents the current creds at each connection attempt, first telling the recovery of the
   * attempt (the creds function itself is read twice per attempt, so it cannot count them).
   */
  #authenticator(): Authenticator {
    const present = credsAuthenticator(() => new TextEncoder().encode(this.#creds));
    return (nonce?: string) => {
      this.#recovery?.onAttempt();
      return present(nonce);
    };
  }

  /** The creds the connection uses now (renewed ones after a renewal). */
  get creds(): string {
    return this.#creds;
  }

  /**
   * Connects, retrying until NATS answers or `stop()` is called. A TLS problem is logged once,
   * as an error naming the setting to change; the connection keeps trying meanwhile (a server's
   * certificate may be fixed).
   */
  async connect(): Promise<NatsConnection> {
    const { cluster, natsUrl, natsCreds, tls, log } = this.opts;
    const options: ConnectionOptions = {
      servers: natsUrl.split(",").map((s) => s.trim()),
      name: `flotilla-agent-${cluster}`,
      inboxPrefix: inboxPrefix(cluster),
      authenticator: natsCreds ? this.#authenticator() : undefined,
      // Refused creds are not the end: a registration may bring new ones (registration.ts).
      ignoreAuthErrorAbort: true,
      tls: natsTlsOption(tls),
      maxReconnectAttempts: -1,
      reconnectTimeWait: RECONNECT_WAIT_MS,
      pingInterval: 10_000,
    };
    // The connection below retries silently until NATS answers; a TLS problem does not end by
    // retrying, so one connection without credentials (TLS comes before authentication, and
    // it cannot count as a refused attempt of the agent's own creds) says why, once.
    void connect({
      servers: options.servers,
      name: `${options.name}-tls-check`,
      tls: options.tls,
      reconnect: false,
    }).then(
      (probe) => probe.close(),
      (err: unknown) => {
        const why = explainNatsTlsError(err, natsUrl, tls);
        if (why) log.error({ err: why }, "cannot connect to NATS over TLS; retrying");
      },
    );
    const nc = await connect({ ...options, waitOnFirstConnect: true });
    if (this.#stopped) {
      await nc.close();
      return nc;
    }
    this.#nc = nc;
    this.#connected = true;
    this.#recovery?.onConnected();
    log.info({ server: nc.getServer() }, "connected to NATS");
    this.#flush();
    this.#scheduleRenewal(0);
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === Events.Disconnect) {
          this.#connected = false;
          log.warn("NATS disconnected; enforcing the last desired state meanwhile");
        }
        if (s.type === Events.Reconnect) {
          this.#connected = true;
          this.#recovery?.onConnected();
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
          if (e.operation === "PUT") this.#reopen(e.key);
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

  /**
   * Every value the desired bucket still holds for `key`, oldest first (the bucket keeps a few
   * per key), so an agent back from a long absence can walk the hub key sets it missed in order.
   * Empty when the read fails or takes longer than {@link HISTORY_TIMEOUT_MS}: the watch then
   * delivers the latest value anyway.
   */
  async history(key: string): Promise<Uint8Array[]> {
    const nc = this.#nc;
    if (!nc || nc.isClosed()) return [];
    const values: Uint8Array[] = [];
    let timer: NodeJS.Timeout | undefined;
    // A watch from the first value, stopped once it has delivered what the bucket holds: unlike
    // `kv.history`, it names its consumer, so it goes through the filtered consumer-create subject
    // a cluster's credentials allow.
    const read = (async () => {
      const kv = await openBucket(nc, DESIRED_BUCKET);
      let initialized = false;
      let entries: QueuedIterator<KvEntry> | undefined;
      entries = await kv.watch({
        key,
        include: KvWatchInclude.AllHistory,
        initializedFn: () => {
          initialized = true;
          entries?.stop();
        },
      });
      if (initialized) entries.stop();
      const watch = entries;
      timer = setTimeout(() => watch.stop(), HISTORY_TIMEOUT_MS);
      for await (const e of watch) if (e.operation === "PUT" && e.value.length > 0) values.push(e.value);
    })();
    try {
      await read;
    } catch (err) {
      this.opts.log.debug({ key, err: (err as Error).message }, "could not read a key's history");
    } finally {
      clearTimeout(timer);
    }
    return values;
  }

  /** Signs and writes a report; if NATS is away, keeps it to send on reconnect. */
  report(app: string, report: ReportInit): void {
    this.#pending.set(app, report);
    void this.#send(app, report);
  }

  async #send(app: string, report: ReportInit): Promise<void> {
    const nc = this.#nc;
    if (!nc || nc.isClosed()) return;
    if (!this.#grants(this.#creds, app)) {
      this.#lacking(app, report);
      return;
    }
    try {
      this.#status ??= await openBucket(nc, STATUS_BUCKET);
      await this.#status.put(stateKey(this.opts.cluster, app), seal(REPORT, report, this.opts.agentKey));
      if (this.#pending.get(app) === report) this.#pending.delete(app);
    } catch (err) {
      this.opts.log.debug({ app, err: (err as Error).message }, "report not sent; will re-send after reconnect");
    }
  }

  /** Whether `creds` let this cluster write `app`'s status key (when they say: else the server decides). */
  #grants(creds: string, app: string): boolean {
    if (!creds) return true;
    if (this.#allow?.creds !== creds) {
      let allow: string[] | undefined;
      try {
        allow = jwtClaims(parseCreds(creds).jwt).publishAllow;
      } catch {
        allow = undefined;
      }
      this.#allow = { creds, allow };
    }
    const allow = this.#allow.allow;
    return allow === undefined || grantsStatusKey(allow, this.opts.cluster, app);
  }

  /** A report whose status key the JWT lacks: kept, and the key asked for (or dropped once given up on). */
  #lacking(app: string, report: ReportInit): void {
    if (this.#wants.gaveUp(app)) {
      if (this.#pending.get(app) === report) this.#pending.delete(app);
      return;
    }
    if (this.#wants.want(app)) {
      this.opts.log.info({ app }, "status key not in the NATS credentials (a new assignment); asking the hub for it");
    }
    this.#scheduleGrantAsk();
  }

  /** A new desired state for the app of `key`: its status key may be asked for again. */
  #reopen(key: string): void {
    try {
      this.#wants.reopen(parseStateKey(key).app);
    } catch {
      // Not a <cluster>.<app> key: the agent ignores it anyway.
    }
  }

  /**
   * Schedules the next ask for wanted status keys (grants.ts), unless one is scheduled or a
   * renewal is out (its answer schedules the next). After failed renewals it waits at least
   * their backoff, so an unreachable hub is not asked more often for this reason.
   */
  #scheduleGrantAsk(): void {
    if (this.#stopped || this.#renewing || this.#grantTimer) return;
    let delay = this.#wants.delayMs(Math.random());
    if (delay === undefined) return;
    if (this.#renewFailures > 0) {
      delay = Math.max(delay, Math.floor(this.#failureBackoffMs() * (0.5 + Math.random() / 2)));
    }
    this.#grantTimer = setTimeout(() => {
      this.#grantTimer = undefined;
      void this.renewCreds("assignment");
    }, delay);
    this.#grantTimer.unref?.();
  }

  #failureBackoffMs(): number {
    return Math.min(RENEW_RETRY_FIRST_MS * 2 ** (this.#renewFailures - 1), RENEW_RETRY_MAX_MS);
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

  /**
   * Schedules the next renewal of the NATS credentials: half way through the JWT's lifetime, or
   * after `retryMs` when the last attempt failed (never past the expiry). Nothing for creds
   * without an expiry.
   */
  #scheduleRenewal(retryMs: number): void {
    clearTimeout(this.#renewTimer);
    if (this.#stopped || !this.#creds) return;
    let at: number | undefined;
    try {
      at = renewAtMs(jwtClaims(parseCreds(this.#creds).jwt));
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, "cannot read the NATS creds' expiry; not renewing them");
      return;
    }
    if (at === undefined) return;
    const wait = retryMs > 0 ? retryMs : Math.max(0, at - Date.now());
    this.#renewTimer = setTimeout(() => void this.renewCreds(), wait);
    this.#renewTimer.unref?.();
  }

  /**
   * Asks the hub for new NATS credentials now, naming the status keys wanted, then reconnects
   * with them, so the new JWT is in force long before the old one expires and reports wait no
   * longer than needed. Refused or unanswered: retried with backoff. At most one at a time: a
   * call while one is out joins it.
   */
  renewCreds(reason: RenewalReason = "expiry"): Promise<boolean> {
    if (!this.#renewing) {
      clearTimeout(this.#grantTimer);
      this.#grantTimer = undefined;
      this.#renewing = this.#renew(reason).finally(() => {
        this.#renewing = undefined;
        this.#scheduleGrantAsk();
      });
    }
    return this.#renewing;
  }

  async #renew(reason: RenewalReason): Promise<boolean> {
    const nc = this.#nc;
    const { cluster, log } = this.opts;
    if (!nc || nc.isClosed() || this.#stopped) return false;
    const apps = this.#wants.toAsk();
    try {
      const { creds, rotated } = await renewCreds({
        cluster,
        current: this.#creds,
        agentKey: this.opts.agentKey,
        hubKeys: this.opts.hubKeys,
        apps,
        ...(this.opts.onHubKeys ? { onHubKeys: this.opts.onHubKeys } : {}),
        // The reply comes on the cluster's own credentials reply subject: the hub's user may
        // publish under flotilla., not to agents' inboxes.
        request: async (subject, data) =>
          (
            await nc.request(subject, data, {
              timeout: RENEW_TIMEOUT_MS,
              noMux: true,
              reply: `${credsReplyPrefix(cluster)}.${nuid.next()}`,
            })
          ).data,
      });
      this.#creds = creds;
      this.#renewFailures = 0;
      const { exp } = jwtClaims(parseCreds(creds).jwt);
      const outcome = this.#wants.answered(
        apps,
        (app) => this.#grants(creds, app),
        (app) => this.#pending.get(app)?.phase === SyncPhase.SYNC_PHASE_REMOVED,
      );
      for (const app of outcome.givenUp) this.#pending.delete(app);
      this.opts.metrics?.credsRenewals.inc({ reason, result: rotated ? "rotated" : "renewed" });
      log.info(
        {
          reason,
          rotated,
          expiresAt: exp ? new Date(exp * 1000).toISOString() : undefined,
          ...(apps.length > 0 ? { asked: apps } : {}),
          ...(outcome.lacking.length > 0 ? { notGranted: outcome.lacking } : {}),
        },
        "NATS credentials renewed",
      );
      if (outcome.givenUp.length > 0) {
        log.warn(
          { apps: outcome.givenUp },
          "the hub does not grant these apps' status keys; their last reports are dropped until a new desired state",
        );
      }
      this.opts.onCredsRenewed?.(creds);
      if (!this.#stopped) await nc.reconnect().catch(() => {});
      this.#scheduleRenewal(0);
      return true;
    } catch (err) {
      this.#renewFailures++;
      this.opts.metrics?.credsRenewals.inc({ reason, result: "failed" });
      const retry = this.#failureBackoffMs();
      log.warn({ err: (err as Error).message, reason, retryInMs: retry }, "NATS credentials not renewed");
      this.#scheduleRenewal(retry);
      return false;
    }
  }

  /** Stops watching and closes the connection after in-flight messages. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#renewTimer);
    clearTimeout(this.#grantTimer);
    await this.#recovery?.settled();
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
