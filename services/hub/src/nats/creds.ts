/**
 * Renewal of agents' NATS credentials over NATS. An agent asks on `flotilla.creds.<cluster>`
 * with a `CredentialsRequest` signed by its agent key, naming its NATS user's public key; the
 * hub answers with a `CredentialsResponse` signed by the hub key, holding a new user JWT with a
 * new expiry. Only a registered cluster's own key and its own NATS user are answered, so a
 * deregistered (revoked) cluster cannot renew, and a stolen user key without the agent key
 * cannot either. After `cluster rotate`, the hub answers the current user with `rotate`; the
 * agent then asks with a new user key (its seed never leaves the agent), which the hub records
 * and mints for, and the old user is revoked.
 *
 * Every JWT grants the status keys of the cluster's assigned apps and no others (grants.ts), as
 * they are at that moment: an app unassigned since the last renewal loses its key. A request
 * naming apps (`apps`) comes from an agent that holds a desired state its JWT does not cover,
 * i.e. a new assignment; it is counted in `flotilla_hub_creds_assignment_renewals_total`.
 *
 * Bounded work: at most {@link MAX_CONCURRENT_ANSWERS} requests are worked on at once per
 * replica; one that waited longer than {@link MAX_QUEUED_MS} is dropped unanswered (the agent
 * has given up on it and asks again after a backoff), so a burst of requests (an app assigned
 * to every cluster) never builds a backlog of answers nobody waits for. At most one request per
 * cluster waits (a newer one replaces it) and at most {@link MAX_WAITING_REQUESTS} in all, so
 * one stolen credential flooding its own subject cannot crowd out other clusters' renewals.
 */
import {
  CREDENTIALS_REQUEST,
  CREDENTIALS_RESPONSE,
  CREDS_PREFIX,
  type CredentialsResponseInit,
  type HubKeySetInit,
  isDnsLabel,
  KeyRing,
  open,
  publicKeyFromPem,
  type SigningKey,
  seal,
} from "@flotilla/proto";
import type { Msg, NatsConnection, Subscription } from "nats";
import type { Logger } from "pino";
import type { HubMetrics } from "../metrics.js";
import type { ClusterCredentialIssuer } from "../registry/credentials.js";
import type { ObjectStore } from "../store.js";
import { MAX_ASKED_APPS, type StatusGrant, type StatusGrants } from "./grants.js";

/** Queue group of the replicas' subscriptions: each request is answered by one replica. */
export const CREDS_QUEUE = "flotilla-hub-creds";

/** Requests one replica works on at once (each is a few Redis round trips and one signature). */
export const MAX_CONCURRENT_ANSWERS = 32;

/**
 * How long a request may wait for its turn before it is dropped unanswered: half the agent's
 * wait for an answer (10 s), so an answer that goes out still finds the agent waiting.
 */
export const MAX_QUEUED_MS = 5_000;

/**
 * Requests one replica keeps waiting at most, one per cluster at that: room for a large fleet
 * asking at once, and a bound on memory whatever arrives.
 */
export const MAX_WAITING_REQUESTS = 20_000;

export interface CredsResponderOptions {
  objects: ObjectStore;
  issuer: ClusterCredentialIssuer;
  /** Which status keys each cluster's JWT grants. */
  grants: StatusGrants;
  hubKey: SigningKey;
  /** The hub key set every answer carries (agents take it when newer than theirs). */
  hubKeySet?: () => HubKeySetInit;
  metrics: HubMetrics;
  log: Logger;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

/** What one request gets, and what is left to do after the answer went out. */
export interface CredsDecision {
  response: CredentialsResponseInit;
  /** Result label of `flotilla_hub_creds_renewals_total`. */
  result: string;
  /** A rotated-away user to revoke once the agent has its new JWT. */
  revoke?: string;
  /** What the new JWT grants, and the apps the agent asked for; absent when refused. */
  grant?: StatusGrant & { asked: string[] };
}

/** Why {@link AnswerQueue} dropped an item unanswered. */
export type ShedReason = "stale" | "superseded" | "queue_full";

/**
 * Works on at most `limit` items at once, in arrival order. At most one item per key waits: a
 * newer one replaces it (the older is passed to `shed` as superseded) and goes to the back, so
 * one sender flooding its subject holds one place and no more. Past `maxWaiting` waiting items a
 * new key is shed (queue_full); an item that waited longer than `maxWaitMs` is shed (stale).
 */
export class AnswerQueue<T> {
  readonly #waiting = new Map<string, { item: T; atMs: number }>();
  #working = 0;

  constructor(
    private readonly o: {
      limit: number;
      maxWaitMs: number;
      maxWaiting: number;
      key: (item: T) => string;
      now: () => number;
      work: (item: T) => Promise<void>;
      shed: (item: T, reason: ShedReason) => void;
    },
  ) {}

  push(item: T): void {
    const key = this.o.key(item);
    const earlier = this.#waiting.get(key);
    if (earlier) {
      this.#waiting.delete(key);
      this.o.shed(earlier.item, "superseded");
    } else if (this.#waiting.size >= this.o.maxWaiting) {
      this.o.shed(item, "queue_full");
      return;
    }
    this.#waiting.set(key, { item, atMs: this.o.now() });
    this.#next();
  }

  /** Items waiting for a turn. */
  get waiting(): number {
    return this.#waiting.size;
  }

  #next(): void {
    while (this.#working < this.o.limit) {
      const first = this.#waiting.entries().next();
      if (first.done) return;
      const [key, next] = first.value;
      this.#waiting.delete(key);
      if (this.o.now() - next.atMs > this.o.maxWaitMs) {
        this.o.shed(next.item, "stale");
        continue;
      }
      this.#working++;
      void this.o
        .work(next.item)
        .catch(() => {})
        .finally(() => {
          this.#working--;
          this.#next();
        });
    }
  }
}

export class CredsResponder {
  #sub: Subscription | undefined;
  readonly #queue: AnswerQueue<Msg>;

  constructor(private readonly o: CredsResponderOptions) {
    this.#queue = new AnswerQueue<Msg>({
      limit: MAX_CONCURRENT_ANSWERS,
      maxWaitMs: MAX_QUEUED_MS,
      maxWaiting: MAX_WAITING_REQUESTS,
      // One waiting request per cluster: the subject names it.
      key: (msg) => msg.subject,
      now: o.now ?? Date.now,
      work: (msg) => this.#handle(msg),
      shed: (_msg, reason) => this.o.metrics.credsRenewals.inc({ result: reason === "stale" ? "shed" : reason }),
    });
  }

  /** Answers requests on `flotilla.creds.*` until {@link stop}. */
  start(nc: NatsConnection): void {
    this.#sub = nc.subscribe(`${CREDS_PREFIX}.*`, {
      queue: CREDS_QUEUE,
      callback: (err, msg) => {
        if (err) {
          this.o.log.warn({ err }, "credentials subscription failed");
          return;
        }
        this.#queue.push(msg);
      },
    });
  }

  stop(): void {
    this.#sub?.unsubscribe();
    this.#sub = undefined;
  }

  async #handle(msg: Msg): Promise<void> {
    const cluster = msg.subject.slice(CREDS_PREFIX.length + 1);
    let decision: CredsDecision;
    try {
      decision = await this.decide(cluster, msg.data);
    } catch (err) {
      this.o.log.error({ err, cluster }, "could not answer a credentials request");
      decision = { response: { cluster, error: "the hub could not answer; try again" }, result: "error" };
    }
    this.o.metrics.credsRenewals.inc({ result: decision.result });
    const grant = decision.grant;
    if (decision.response.error) this.o.log.warn({ cluster, reason: decision.response.error }, "credentials refused");
    else if (grant && grant.asked.length > 0) {
      this.o.metrics.credsAssignmentRenewals.inc({ result: grant.notAssigned.length > 0 ? "not_assigned" : "granted" });
      this.o.log.info(
        {
          cluster,
          result: decision.result,
          asked: grant.asked,
          notAssigned: grant.notAssigned,
          apps: grant.apps.length,
        },
        grant.notAssigned.length > 0
          ? "credentials renewed; some apps the agent asked for are not assigned to it"
          : "credentials renewed for newly assigned apps",
      );
    } else this.o.log.info({ cluster, result: decision.result, apps: grant?.apps.length }, "credentials answered");
    const hubKeys = this.o.hubKeySet?.();
    msg.respond(seal(CREDENTIALS_RESPONSE, { ...decision.response, ...(hubKeys ? { hubKeys } : {}) }, this.o.hubKey));
    if (decision.revoke) {
      await this.o.issuer
        .revoke(cluster, decision.revoke)
        .catch((err) => this.o.log.error({ err, cluster }, "could not revoke the rotated-away NATS user"));
    }
  }

  /** The answer to one request for `cluster` (the subject's last token). */
  async decide(cluster: string, data: Uint8Array): Promise<CredsDecision> {
    const refuse = (result: string, error: string): CredsDecision => ({ response: { cluster, error }, result });
    const record = await this.o.objects.getObject("Cluster", cluster).catch(() => undefined);
    if (!record) return refuse("unknown_cluster", `cluster ${cluster} is not registered; register it again`);
    let request: { cluster: string; userPublicKey: string; apps?: string[] | null };
    try {
      request = open(CREDENTIALS_REQUEST, data, new KeyRing([publicKeyFromPem(record.agentPublicKey)])).message;
    } catch (err) {
      return refuse("signature_invalid", `the request does not verify with ${cluster}'s agent key (${String(err)})`);
    }
    if (request.cluster !== cluster) return refuse("cluster_mismatch", "the request names another cluster");
    const current = record.natsUserPublicKey;
    if (!current) return refuse("no_nats_user", `cluster ${cluster} has no NATS user; register it again`);
    // What the agent names is only a hint, logged and looked up: valid names, a bounded number.
    const asked = [...new Set(request.apps ?? [])].filter(isDnsLabel).sort().slice(0, MAX_ASKED_APPS);
    if (record.natsRotateRequested) {
      if (request.userPublicKey === current) return { response: { cluster, rotate: true }, result: "rotate_asked" };
      const grant = await this.o.grants.grantFor(cluster, asked);
      let jwt: string;
      try {
        jwt = await this.o.issuer.renew(cluster, request.userPublicKey, grant.apps);
      } catch (err) {
        return refuse("bad_user_key", (err as Error).message);
      }
      const { natsRotateRequested: _, ...rest } = record;
      await this.o.objects.putObject("Cluster", { ...rest, natsUserPublicKey: request.userPublicKey });
      return { response: { cluster, jwt }, result: "rotated", revoke: current, grant: { ...grant, asked } };
    }
    if (request.userPublicKey !== current) {
      return refuse("unknown_user", `${request.userPublicKey} is not cluster ${cluster}'s NATS user`);
    }
    const grant = await this.o.grants.grantFor(cluster, asked);
    const jwt = await this.o.issuer.renew(cluster, current, grant.apps);
    return { response: { cluster, jwt }, result: "renewed", grant: { ...grant, asked } };
  }
}
