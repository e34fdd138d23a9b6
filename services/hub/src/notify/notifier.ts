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
import { type Resolver, UrlRefusedError, type UrlRules } from "@flotilla/netguard";
import pRetry, { AbortError } from "p-retry";
import type { Logger } from "pino";
import type { Duty } from "../leader/duties.js";
import type { HubMetrics } from "../metrics.js";
import type { EventBus } from "../status/events.js";
import type { ObjectReader, ReceiverRecord, ReceiverStore } from "../store.js";
import { DriftEpisodes, notificationOf, routes, signature, slackBody } from "./notifications.js";
import { checkReceiverUrl, type ReceiverSecretsOpener } from "./receivers.js";

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
  fetch?: typeof fetch;
  /** What receiver URLs may reach, checked again before each delivery (DNS may have changed). */
  rules?: UrlRules;
  resolver?: Resolver;
}

export class Notifier implements Duty {
  #unsubscribe: (() => void) | undefined;
  #stopping = new AbortController();
  readonly #inFlight = new Set<Promise<void>>();
  /** Drift episodes seen while this replica leads; a new leader starts afresh (one repeat at most). */
  #drift = new DriftEpisodes();

  constructor(private readonly o: NotifierOptions) {}

  start(): void {
    this.#stopping = new AbortController();
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
  }

  async #handle(event: HubEvent, id: string): Promise<void> {
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
    const receivers = (await this.o.receivers.listReceivers()).filter((r) => routes(r, n));
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
    const doFetch = this.o.fetch ?? fetch;
    let attempts = 0;
    let status: number | undefined;
    const log = this.o.log.child({ receiver: receiver.name, notification: n.id, event: n.event });
    try {
      await pRetry(
        async () => {
          attempts++;
          // Refused addresses are not retried: the rules will not change between attempts.
          if (this.o.rules) {
            await checkReceiverUrl(url, this.o.rules, this.o.resolver).catch((err: unknown) => {
              // The reason only: the URL's path may be the secret (a Slack webhook's is). A name
              // that does not resolve now may later, so that is tried again.
              if (err instanceof UrlRefusedError) throw new AbortError(`the URL is refused: ${err.reason}`);
              throw err;
            });
          }
          const res = await doFetch(url, {
            method: "POST",
            headers,
            body,
            redirect: "manual",
            signal: AbortSignal.any([this.#stopping.signal, AbortSignal.timeout(ATTEMPT_TIMEOUT_MS)]),
          });
          status = res.status;
          await res.body?.cancel();
          if (res.status < 200 || res.status > 299) throw new DeliveryError(receiver.name, res.status);
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
