/**
 * Renewal of agents' NATS credentials over NATS. An agent asks on `flotilla.creds.<cluster>`
 * with a `CredentialsRequest` signed by its agent key, naming its NATS user's public key; the
 * hub answers with a `CredentialsResponse` signed by the hub key, holding a new user JWT with a
 * new expiry. Only a registered cluster's own key and its own NATS user are answered, so a
 * deregistered (revoked) cluster cannot renew, and a stolen user key without the agent key
 * cannot either. After `cluster rotate`, the hub answers the current user with `rotate`; the
 * agent then asks with a new user key (its seed never leaves the agent), which the hub records
 * and mints for, and the old user is revoked.
 */
import {
  CREDENTIALS_REQUEST,
  CREDENTIALS_RESPONSE,
  CREDS_PREFIX,
  type CredentialsResponseInit,
  type HubKeySetInit,
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

/** Queue group of the replicas' subscriptions: each request is answered by one replica. */
export const CREDS_QUEUE = "flotilla-hub-creds";

export interface CredsResponderOptions {
  objects: ObjectStore;
  issuer: ClusterCredentialIssuer;
  hubKey: SigningKey;
  /** The hub key set every answer carries (agents take it when newer than theirs). */
  hubKeySet?: () => HubKeySetInit;
  metrics: HubMetrics;
  log: Logger;
}

/** What one request gets, and what is left to do after the answer went out. */
export interface CredsDecision {
  response: CredentialsResponseInit;
  /** Result label of `flotilla_hub_creds_renewals_total`. */
  result: string;
  /** A rotated-away user to revoke once the agent has its new JWT. */
  revoke?: string;
}

export class CredsResponder {
  #sub: Subscription | undefined;

  constructor(private readonly o: CredsResponderOptions) {}

  /** Answers requests on `flotilla.creds.*` until {@link stop}. */
  start(nc: NatsConnection): void {
    this.#sub = nc.subscribe(`${CREDS_PREFIX}.*`, {
      queue: CREDS_QUEUE,
      callback: (err, msg) => {
        if (err) {
          this.o.log.warn({ err }, "credentials subscription failed");
          return;
        }
        void this.#handle(msg);
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
    if (decision.response.error) this.o.log.warn({ cluster, reason: decision.response.error }, "credentials refused");
    else this.o.log.info({ cluster, result: decision.result }, "credentials answered");
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
    let request: { cluster: string; userPublicKey: string };
    try {
      request = open(CREDENTIALS_REQUEST, data, new KeyRing([publicKeyFromPem(record.agentPublicKey)])).message;
    } catch (err) {
      return refuse("signature_invalid", `the request does not verify with ${cluster}'s agent key (${String(err)})`);
    }
    if (request.cluster !== cluster) return refuse("cluster_mismatch", "the request names another cluster");
    const current = record.natsUserPublicKey;
    if (!current) return refuse("no_nats_user", `cluster ${cluster} has no NATS user; register it again`);
    if (record.natsRotateRequested) {
      if (request.userPublicKey === current) return { response: { cluster, rotate: true }, result: "rotate_asked" };
      let jwt: string;
      try {
        jwt = await this.o.issuer.renew(cluster, request.userPublicKey);
      } catch (err) {
        return refuse("bad_user_key", (err as Error).message);
      }
      const { natsRotateRequested: _, ...rest } = record;
      await this.o.objects.putObject("Cluster", { ...rest, natsUserPublicKey: request.userPublicKey });
      return { response: { cluster, jwt }, result: "rotated", revoke: current };
    }
    if (request.userPublicKey !== current) {
      return refuse("unknown_user", `${request.userPublicKey} is not cluster ${cluster}'s NATS user`);
    }
    return { response: { cluster, jwt: await this.o.issuer.renew(cluster, current) }, result: "renewed" };
  }
}
