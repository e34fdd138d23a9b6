import { MAX_LISTED_STATUS_KEYS } from "@flotilla/proto";
import type { NatsConnection } from "nats";
import type { Logger } from "pino";
import { HubError } from "../errors.js";
import type { HubMetrics } from "../metrics.js";
import type { ClusterCredentialIssuer, MintedCredentials } from "../registry/credentials.js";
import type { AccountJwtStore } from "../store.js";
import {
  type AccountLimits,
  accountJwtWithLimits,
  clusterUserJwt,
  mintClusterUser,
  type OperatorSetup,
  pushAccountJwt,
  revokedAccountJwt,
  StaleAccountJwtError,
  withAccountJwt,
} from "./auth/index.js";

/** Revocation attempts when the server holds a newer account JWT than the one built on. */
const STALE_RETRIES = 2;

function issuedAt(jwt: string): number {
  const payload = jwt.split(".")[1] ?? "";
  return (JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { iat: number }).iat;
}

/** Options of {@link NatsCredentialIssuer.start}. */
export interface IssuerOptions {
  /** Limits the account JWT must carry; re-signed and pushed at start when it carries others. */
  limits?: AccountLimits;
  /** Lifetime of agent user JWTs, in seconds; unset: they never expire. */
  credsTtlSeconds?: number;
  /** Counts JWTs whose status grant widened to the whole cluster; none without. */
  metrics?: Pick<HubMetrics, "wideStatusGrants">;
}

/**
 * Past {@link MAX_LISTED_STATUS_KEYS} assigned apps a cluster's JWT grants every status key under
 * its name instead of one per app (the JWT must fit a CONNECT line), so its share of the status
 * bucket is no longer bounded by its apps. Said once per JWT: a warning and
 * `flotilla_hub_wide_status_grants_total`. True when it widened.
 */
export function noteWideGrant(
  cluster: string,
  apps: readonly string[],
  log: Logger,
  metrics: Pick<HubMetrics, "wideStatusGrants"> | undefined,
): boolean {
  const count = new Set(apps).size;
  if (count <= MAX_LISTED_STATUS_KEYS) return false;
  metrics?.wideStatusGrants.inc();
  log.warn(
    { cluster, apps: count, limit: MAX_LISTED_STATUS_KEYS },
    "cluster has more assigned apps than a JWT lists: its JWT grants every status key under its name",
  );
  return true;
}

/**
 * Mints per-cluster NATS users from the operator setup and revokes them. The account JWT with
 * its revocations lives in the store (written before it is pushed), so every replica and every
 * restart builds the next revocation on top of all earlier ones; the store's lock serialises
 * revocations across replicas.
 */
export class NatsCredentialIssuer implements ClusterCredentialIssuer {
  private constructor(
    private readonly setup: OperatorSetup,
    private readonly stored: AccountJwtStore,
    private readonly system: NatsConnection,
    private readonly log: Logger,
    private readonly ttlSeconds: number | undefined,
    private readonly metrics: IssuerOptions["metrics"],
  ) {}

  /**
   * Loads the newest account JWT (file or Redis) and pushes it to the server, which repairs a
   * server that lost its resolver directory. When the server holds a newer one (Redis lost the
   * latest, or was restored from an old backup), that one is adopted and stored: otherwise the
   * next revocation would build on the older JWT and, pushed, silently undo the revocations
   * only the server still knows. `system` is a connection as `setup.systemUser`.
   */
  static async start(
    setup: OperatorSetup,
    stored: AccountJwtStore,
    system: NatsConnection,
    log: Logger,
    options: IssuerOptions = {},
  ): Promise<NatsCredentialIssuer> {
    const issuer = new NatsCredentialIssuer(setup, stored, system, log, options.credsTtlSeconds, options.metrics);
    const limits = options.limits;
    const jwt = await issuer.#accountJwt();
    try {
      await pushAccountJwt(system, jwt);
    } catch (err) {
      if (err instanceof StaleAccountJwtError) {
        await issuer.#locked("adopt the server's account JWT", () => issuer.#adopt(err.serverJwt));
      } else {
        log.warn({ err }, "could not push the stored account JWT at start; revocations may be missing on the server");
      }
    }
    if (limits) await issuer.#applyLimits(limits);
    return issuer;
  }

  /**
   * Re-signs the account JWT with `limits` when it carries others (revocations kept), stores it
   * and pushes it: the server then enforces them on every connection of the account at once.
   */
  async #applyLimits(limits: AccountLimits): Promise<void> {
    await this.#locked("set the account's limits", async () => {
      const base = await this.#accountJwt();
      const next = await accountJwtWithLimits(withAccountJwt(this.setup, base), limits);
      if (!next) return;
      await this.stored.put(next);
      await pushAccountJwt(this.system, next);
      this.log.info(
        { diskStorage: limits.diskStorage, memoryStorage: limits.memoryStorage, streams: limits.streams },
        "NATS account limits set",
      );
    });
  }

  /** Stores the server's account JWT (checked against the operator) unless Redis has a newer one. */
  async #adopt(serverJwt: string): Promise<string> {
    withAccountJwt(this.setup, serverJwt);
    const stored = await this.#accountJwt();
    if (issuedAt(stored) > issuedAt(serverJwt)) return stored;
    await this.stored.put(serverJwt);
    this.log.warn(
      { storedIssuedAt: issuedAt(stored), serverIssuedAt: issuedAt(serverJwt) },
      "NATS holds a newer account JWT than Redis; adopted and stored it, so later revocations build on it",
    );
    return serverJwt;
  }

  /** Runs `fn` holding the account lock, which serialises account JWT changes across replicas. */
  async #locked<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const release = await this.stored.lock();
    if (!release) throw new HubError(`cannot ${what}: another account JWT change holds the lock; try again`);
    try {
      return await fn();
    } finally {
      await release();
    }
  }

  async #accountJwt(): Promise<string> {
    const stored = await this.stored.get();
    if (stored && issuedAt(stored) >= issuedAt(this.setup.account.jwt)) return stored;
    return this.setup.account.jwt;
  }

  async mint(cluster: string, apps: readonly string[]): Promise<MintedCredentials> {
    noteWideGrant(cluster, apps, this.log, this.metrics);
    return mintClusterUser(this.setup, cluster, { ...this.#ttl(), apps });
  }

  async renew(cluster: string, userPublicKey: string, apps: readonly string[]): Promise<string> {
    noteWideGrant(cluster, apps, this.log, this.metrics);
    return clusterUserJwt(this.setup, cluster, userPublicKey, { ...this.#ttl(), apps });
  }

  #ttl(): { ttlSeconds?: number } {
    return this.ttlSeconds === undefined ? {} : { ttlSeconds: this.ttlSeconds };
  }

  /**
   * Revokes a cluster's NATS user: the stored JWT plus this revocation is stored, then pushed.
   * If the server turns out to hold a newer JWT, it is adopted and the revocation made again
   * on top of it, so no revocation the server knows is lost.
   */
  async revoke(cluster: string, userPublicKey: string): Promise<void> {
    await this.#locked(`revoke cluster ${cluster}`, async () => {
      let base = await this.#accountJwt();
      for (let attempt = 1; ; attempt++) {
        const next = await revokedAccountJwt(withAccountJwt(this.setup, base), userPublicKey);
        await this.stored.put(next);
        try {
          await pushAccountJwt(this.system, next);
          break;
        } catch (err) {
          if (!(err instanceof StaleAccountJwtError) || attempt >= STALE_RETRIES) throw err;
          base = await this.#adopt(err.serverJwt);
        }
      }
      this.log.info({ cluster, natsUser: userPublicKey }, "cluster NATS user revoked");
    });
  }
}
