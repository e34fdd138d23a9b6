/**
 * The notifier, a leader duty: turns hub events into notifications (`notifications.ts`), routes
 * each to the receivers whose route takes it, and POSTs it: a webhook gets the JSON body signed
 * with the receiver's secret, a Slack receiver a message. A delivery that gets no answer or a
 * status other than 2xx is tried again with exponential backoff (p-retry); its outcome goes to
 * the delivery log and `flotilla_hub_notifications_total`. Only the leader sends, so each event
 * is sent once by one replica; a delivery in flight when the lease moves is abandoned.
 */
import type { HubEvent, Notification } from "@flotilla/api";
import { NOTIFICATION_SIGNATURE_HEADER } from "@flotilla/api";
import { guardedLookup, type Resolver, UrlRefusedError, type UrlRules } from "@flotilla/netguard";
import pRetry, { AbortError } from "p-retry";
import type { Logger } from "pino";
import { Agent, fetch } from "undici";
import type { Duty } from "../leader/duties.js";
import type { HubMetrics } from "../metrics.js";
import type { EventBus } from "../status/events.js";
import type { ObjectReader, ReceiverRecord, ReceiverStore } from "../store.js";
import { DriftEpisodes, notificationOf, routes, signature, slackBody } from "./notifications.js";
import { checkReceiverUrl, RECEIVER_RULE_SETTINGS, type ReceiverSecretsOpener } from "./receivers.js";

/** Retries after the first attempt, by default: 5 (so 6 attempts over about a minute). */
export const DEFAULT_NOTIFY_RETRIES = 5;
/** Wait before the first retry; each next one waits twice as long. */
export const DEFAULT_NOTIFY_RETRY_MIN_MS = 1_000;
/** Longest wait between attempts. */
const RETRY_MAX_MS = 60_000;
/** How long one attempt may take. */
const ATTEMPT_TIMEOUT_MS = 10_000;

/** A receiver answered with a status other than 2xx. */
export class DeliveryError extends Error {
  override name = "DeliveryError";
  constructor(
    readonly receiver: string,
    readonly status: number,
  ) {
    super(`receiver ${receiver} answered HTTP ${status}`);
  }
}

export interface NotifierOptions {
  events: EventBus;
  receivers: ReceiverStore;
  secrets: ReceiverSecretsOpener;
  objects: ObjectReader;
  metrics: HubMetrics;
  log: Logger;
  /** @default DEFAULT_NOTIFY_RETRIES */
  retries?: number;
  /** @default DEFAULT_NOTIFY_RETRY_MIN_MS */
  retryMinMs?: number;
  /**
   * What receiver URLs may reach, checked before each delivery (DNS may have changed) and again
   * by the connection itself (see {@link receiverDispatcher}).
   */
  rules: UrlRules;
  resolver?: Resolver;
}

/**
 * The HTTP client of deliveries: an undici Agent whose sockets resolve the receiver's host at
 * connect time through the address rules (`guardedLookup` of @flotilla/netguard) and connect
 * only to the addresses that passed, keeping the URL's host as TLS server name and Host header.
 * The check before a delivery alone would not do: `fetch` resolves the name again, and a
 * second DNS answer (rebinding) could point it at loopback or a metadata address.
 */
export function receiverDispatcher(rules: UrlRules, resolver?: Resolver): Agent {
  return new Agent({ connect: { lookup: guardedLookup({ ...rules, settings: RECEIVER_RULE_SETTINGS }, resolver) } });
}

/** One delivery attempt: what {@link postNotification} needs besides the request. */
export interface PostOptions {
  rules: UrlRules;
  resolver?: Resolver | undefined;
  dispatcher: Agent;
  signal: AbortSignal;
}

/**
 * POSTs `body` to a receiver once and resolves the 2xx status. A URL or address the rules
 * refuse, and a redirect (not followed: its target was never checked), reject with p-retry's
 * AbortError (not tried again); another status with DeliveryError; a network failure or a name
 * that does not resolve with what fetch threw (tried again).
 */
export async function postNotification(
  receiver: string,
  url: string,
  body: string,
  headers: Record<string, string>,
  o: PostOptions,
): Promise<number> {
  const refused = (err: unknown): never => {
    // The reason only: the URL's path may be the secret (a Slack webhook's is).
    if (err instanceof UrlRefusedError) throw new AbortError(`the URL is refused: ${err.reason}`);
    throw err;
  };
  await checkReceiverUrl(url, o.rules, o.resolver).catch(refused);
  const res = await fetch(url, {
    method: "POST",
    headers,
    body,
    redirect: "manual",
    dispatcher: o.dispatcher,
    signal: o.signal,
  }).catch((err: unknown) => {
    // undici fails a connection the guarded lookup refused with TypeError("fetch failed", { cause }).
    const cause = (err as { cause?: unknown }).cause;
    return refused(cause instanceof UrlRefusedError ? cause : err);
  });
  await res.body?.cancel();
  if (res.status >= 300 && res.status < 400) {
    throw new AbortError(
      `receiver ${receiver} answered with a redirect (HTTP ${res.status}); redirects are not followed, so configure the receiver's final URL`,
    );
  }
  if (res.status < 200 || res.status > 299) throw new DeliveryError(receiver, res.status);
  return res.status;
}

export class Notifier implements Duty {
  #unsubscribe: (() => void) | undefined;
  #stopping = new AbortController();
  readonly #inFlight = new Set<Promise<void>>();
  /** Drift episodes seen while this replica leads; a new leader starts afresh (one repeat at most). */
  #drift = new DriftEpisodes();
  #dispatcher: Agent | undefined;

  constructor(private readonly o: NotifierOptions) {}

  start(): void {
    this.#stopping = new AbortController();
    this.#dispatcher = receiverDispatcher(this.o.rules, this.o.resolver);
    this.#drift = new DriftEpisodes();
    this.#unsubscribe = this.o.events.subscribe((event, id) => {
      if (event.type === "report") {
        if (!this.#drift.observe(event.cluster, event.app, event.phase)) return;
      } else if (event.type !== "rollout" && event.type !== "cluster-state") return;
      const p = this.#handle(event, id).catch((err: unknown) =>
        this.o.log.warn({ err, event: id }, "cannot notify about an event"),
      );
      this.#inFlight.add(p);
      void p.finally(() => this.#inFlight.delete(p));
    });
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    this.#stopping.abort();
    await Promise.allSettled([...this.#inFlight]);
    await this.#dispatcher?.destroy();
    this.#dispatcher = undefined;
  }

  async #handle(event: HubEvent, id: string): Promise<void> {
    // Receivers first: with none configured (or none for this kind of event), an event costs
    // one read, not the three reads of its team and environment (a report burst is thousands).
    const all = await this.o.receivers.listReceivers();
    if (all.length === 0) return;
    const team = event.type === "rollout" || event.type === "report" ? await this.#teamOf(event.app) : undefined;
    const environment =
      event.type === "report" ? (await this.o.objects.getObject("Cluster", event.cluster))?.labels.env : undefined;
    const n = notificationOf(
      event,
      id,
      () => team,
      event.type === "report" ? { starts: true, ...(environment ? { environment } : {}) } : undefined,
    );
    if (!n) return;
    const receivers = all.filter((r) => routes(r, n));
    await Promise.all(receivers.map((r) => this.#deliver(r, n)));
  }

  async #teamOf(app: string): Promise<string | undefined> {
    const a = await this.o.objects.getObject("App", app);
    return a ? (await this.o.objects.getObject("Repo", a.repo))?.team : undefined;
  }

  async #deliver(receiver: ReceiverRecord, n: Notification): Promise<void> {
    const { url, secret } = this.o.secrets.open(receiver);
    const body = JSON.stringify(receiver.type === "slack" ? slackBody(n) : n);
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "user-agent": "flotilla-hub",
      "x-flotilla-event": n.event,
      "x-flotilla-delivery": n.id,
    };
    if (receiver.type === "webhook" && secret) headers[NOTIFICATION_SIGNATURE_HEADER] = signature(secret, body);
    let attempts = 0;
    let status: number | undefined;
    const log = this.o.log.child({ receiver: receiver.name, notification: n.id, event: n.event });
    try {
      await pRetry(
        async () => {
          attempts++;
          const dispatcher = this.#dispatcher;
          if (!dispatcher) throw new AbortError("the hub stopped leading");
          try {
            status = await postNotification(receiver.name, url, body, headers, {
              rules: this.o.rules,
              resolver: this.o.resolver,
              dispatcher,
              signal: AbortSignal.any([this.#stopping.signal, AbortSignal.timeout(ATTEMPT_TIMEOUT_MS)]),
            });
          } catch (err) {
            if (err instanceof DeliveryError) status = err.status;
            throw err;
          }
        },
        {
          retries: this.o.retries ?? DEFAULT_NOTIFY_RETRIES,
          factor: 2,
          minTimeout: this.o.retryMinMs ?? DEFAULT_NOTIFY_RETRY_MIN_MS,
          maxTimeout: RETRY_MAX_MS,
          signal: this.#stopping.signal,
          onFailedAttempt: ({ error, retriesLeft }) => {
            if (this.#stopping.signal.aborted) throw new AbortError("the hub stopped leading");
            log.info({ err: error.message, retriesLeft }, "notification not delivered; trying again");
          },
        },
      );
      this.o.metrics.notifications.inc({ receiver: receiver.name, outcome: "delivered" });
      await this.o.receivers.appendDelivery({
        receiver: receiver.name,
        notification: n.id,
        event: n.event,
        outcome: "delivered",
        attempts,
        ...(status !== undefined ? { status } : {}),
        atMs: Date.now(),
      });
    } catch (err) {
      if (this.#stopping.signal.aborted) return;
      const message = err instanceof Error ? err.message : String(err);
      log.warn({ err: message, attempts }, "notification not delivered after every retry");
      this.o.metrics.notifications.inc({ receiver: receiver.name, outcome: "failed" });
      await this.o.receivers.appendDelivery({
        receiver: receiver.name,
        notification: n.id,
        event: n.event,
        outcome: "failed",
        attempts,
        ...(status !== undefined ? { status } : {}),
        error: message,
        atMs: Date.now(),
      });
    }
  }
}
