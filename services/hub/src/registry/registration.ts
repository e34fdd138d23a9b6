/**
 * Registration tokens and the registration they allow. A cluster whose agent was offline past
 * its NATS JWT's expiry cannot renew over NATS any more; an operator mints a single-use token
 * with a lifetime for that cluster, and the agent exchanges it, once, for a new JWT for a NATS
 * user key it generated (its seed never leaves the agent). The hub keeps only a SHA-256 of the
 * token, in a Redis key that expires with it and is taken with one atomic GETDEL, so a token
 * registers at most once however many present it at the same time.
 *
 * Every refusal (unknown, expired, used or another cluster's token; a cluster not registered,
 * or registered again since the token was minted) is one `RegistrationRefusedError` with one
 * message, so the answer tells an attacker nothing about which tokens or clusters exist; the
 * reason goes to the log and the metric, the token never does.
 */
import { createHash, randomBytes } from "node:crypto";
import {
  DEFAULT_REGISTRATION_TOKEN_TTL_SECONDS,
  REGISTRATION_TOKEN_PREFIX,
  type Registration,
  type RegistrationRequest,
  type RegistrationToken,
} from "@flotilla/api";
import { CREDENTIALS_RESPONSE, publicKeyToPem, type SigningKey, seal } from "@flotilla/proto";
import { nkeys } from "nats";
import type { Logger } from "pino";
import { ConflictError, NotFoundError, RegistrationRefusedError, ValidationError } from "../errors.js";
import type { HubMetrics } from "../metrics.js";
import type { StatusGrants } from "../nats/grants.js";
import type { ClusterRecord, ObjectStore, RegistrationTokenRecord, RegistrationTokenStore } from "../store.js";
import type { ClusterCredentialIssuer } from "./credentials.js";

/** SHA-256 hex of a token: the only form of it the hub keeps. */
export function tokenDigest(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** Why a presented token does not register the cluster; undefined when it does. */
export function refusalOf(
  token: RegistrationTokenRecord | undefined,
  cluster: ClusterRecord | undefined,
  nowMs: number,
): string | undefined {
  if (!token) return "no such token for this cluster (unknown, expired, used, or another cluster's)";
  if (token.expiresAtMs <= nowMs) return "the token expired";
  if (!cluster) return "the cluster is not registered";
  if (cluster.createdAtMs !== token.clusterCreatedAtMs) return "the token was minted for an earlier registration";
  return undefined;
}

export interface RegistrationsOptions {
  tokens: RegistrationTokenStore;
  /** Clusters: read, and written with the new NATS user (never a new agent key). */
  objects: Pick<ObjectStore, "getObject" | "replaceObject">;
  /** Mints the JWTs; without one (NATS without an operator setup) no token can be minted. */
  issuer?: ClusterCredentialIssuer;
  /** Which status keys the new JWT grants: the cluster's assigned apps, as at a renewal. */
  grants: StatusGrants;
  hubKey: SigningKey;
  metrics: HubMetrics;
  log: Logger;
  /** @default Date.now */
  now?: () => number;
}

/** A registration's answer, and the NATS user it replaced, to revoke once the answer is out. */
export interface RegistrationOutcome {
  registration: Registration;
  replacedUser?: string;
}

export class Registrations {
  readonly #now: () => number;

  constructor(private readonly o: RegistrationsOptions) {
    this.#now = o.now ?? Date.now;
  }

  /** Mints a token for `cluster`, valid once for `ttlSeconds`; the token is returned only here. */
  async mint(cluster: string, ttlSeconds: number | undefined, createdBy: string): Promise<RegistrationToken> {
    const record = await this.o.objects.getObject("Cluster", cluster);
    if (!record) throw new NotFoundError("cluster", cluster);
    if (!this.o.issuer || !record.natsUserPublicKey) {
      throw new ConflictError(
        "cluster",
        cluster,
        "the hub mints no NATS credentials (NATS runs without an operator setup), so there is nothing to register for",
      );
    }
    // One outstanding token per cluster: a new one voids any earlier, which may sit in a Secret.
    const dropped = await this.o.tokens.dropAll(cluster);
    const token = `${REGISTRATION_TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
    const createdAtMs = this.#now();
    const expiresAtMs = createdAtMs + (ttlSeconds ?? DEFAULT_REGISTRATION_TOKEN_TTL_SECONDS) * 1000;
    await this.o.tokens.put(tokenDigest(token), {
      cluster,
      clusterCreatedAtMs: record.createdAtMs,
      createdAtMs,
      expiresAtMs,
      createdBy,
    });
    this.o.log.info(
      { cluster, expiresAt: new Date(expiresAtMs).toISOString(), createdBy, droppedEarlier: dropped },
      "registration token minted",
    );
    return { cluster, token, expiresAtMs };
  }

  /**
   * Exchanges a token for a JWT for the request's NATS user key, records that key as the
   * cluster's, drops the cluster's other outstanding tokens, and returns the answer with the user
   * it replaced. The cluster's agent key never changes here: a token proves only that its holder
   * may get NATS credentials, and an agent key taken with it would hand over the cluster's
   * identity for good. A bad key is refused before the token is taken, so a typo does not spend it.
   */
  async register(cluster: string, request: RegistrationRequest, from: string): Promise<RegistrationOutcome> {
    const { log, metrics } = this.o;
    try {
      nkeys.fromPublic(request.natsUserPublicKey);
    } catch {
      metrics.registrations.inc({ result: "bad_request" });
      throw new ValidationError("natsUserPublicKey", "is not a valid NATS user public key (its checksum fails)");
    }
    const refuse = (reason: string): never => {
      metrics.registrations.inc({ result: "refused" });
      log.warn({ cluster, from, reason }, "registration refused");
      throw new RegistrationRefusedError(cluster, reason);
    };
    const issuer = this.o.issuer;
    if (!issuer) return refuse("the hub mints no NATS credentials");
    const digest = tokenDigest(request.token);
    const token = await this.o.tokens.take(cluster, digest);
    const record = await this.o.objects.getObject("Cluster", cluster);
    const reason = refusalOf(token, record, this.#now());
    if (reason !== undefined || !token || !record) return refuse(reason ?? "no such token");
    let jwt: string;
    try {
      const { apps } = await this.o.grants.grantFor(cluster);
      jwt = await issuer.renew(cluster, request.natsUserPublicKey, apps);
    } catch (err) {
      // Nothing was granted: the token goes back, so the agent can try again.
      await this.o.tokens.put(digest, token).catch(() => {});
      metrics.registrations.inc({ result: "error" });
      throw err;
    }
    const { natsRotateRequested: _, ...rest } = record;
    // Only over the record read above: a cluster deleted (or deleted and registered again with a
    // new agent key) or rotated meanwhile must not be written back. Then the new user is revoked
    // and the token goes back, so the agent's next try meets the cluster as it is now.
    const next = { ...rest, natsUserPublicKey: request.natsUserPublicKey };
    if (!(await this.o.objects.replaceObject("Cluster", record, next))) {
      await issuer.revoke(cluster, request.natsUserPublicKey).catch(() => {});
      await this.o.tokens.put(digest, token).catch(() => {});
      metrics.registrations.inc({ result: "error" });
      throw new ConflictError("cluster", cluster, "changed while it registered; try again");
    }
    // A token parked elsewhere (a Secret, a second mint) must not outlive this use.
    const dropped = await this.o.tokens
      .dropAll(cluster)
      .catch(
        (err: unknown) => (log.error({ err, cluster }, "could not drop the cluster's other registration tokens"), 0),
      );
    metrics.registrations.inc({ result: "registered" });
    log.info(
      { cluster, from, natsUser: request.natsUserPublicKey, droppedTokens: dropped },
      "cluster registered again with a registration token",
    );
    const signed = seal(CREDENTIALS_RESPONSE, { cluster, jwt }, this.o.hubKey);
    const replaced = record.natsUserPublicKey;
    return {
      registration: {
        cluster,
        jwt,
        credentialsResponse: Buffer.from(signed).toString("base64"),
        hubKeyId: this.o.hubKey.keyId,
        hubPublicKey: publicKeyToPem(this.o.hubKey.publicKey),
      },
      ...(replaced && replaced !== request.natsUserPublicKey ? { replacedUser: replaced } : {}),
    };
  }

  /** Drops every outstanding token of `cluster` (`flotilla cluster token <name> --revoke`); how many. */
  async revokeTokens(cluster: string, by: string): Promise<number> {
    const record = await this.o.objects.getObject("Cluster", cluster);
    if (!record) throw new NotFoundError("cluster", cluster);
    const dropped = await this.o.tokens.dropAll(cluster);
    this.o.log.info({ cluster, by, dropped }, "registration tokens revoked");
    return dropped;
  }

  /** Revokes the NATS user a registration replaced; a failure is logged, not raised. */
  async revokeReplaced(cluster: string, user: string): Promise<void> {
    await this.o.issuer
      ?.revoke(cluster, user)
      .catch((err) => this.o.log.error({ err, cluster }, "could not revoke the NATS user a registration replaced"));
  }
}
