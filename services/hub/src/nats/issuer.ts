import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { NatsConnection } from "nats";
import type { Logger } from "pino";
import { HubError } from "../errors.js";
import { KEY_PREFIX } from "../redis/store.js";
import type { ClusterCredentialIssuer, MintedCredentials } from "../registry/credentials.js";
import {
  mintClusterUser,
  type OperatorSetup,
  pushAccountJwt,
  revokedAccountJwt,
  StaleAccountJwtError,
  withAccountJwt,
} from "./auth/index.js";

/** Latest FLOTILLA account JWT (it gains a revocation per deregistered cluster). */
const ACCOUNT_JWT_KEY = `${KEY_PREFIX}nats-account-jwt`;
/** Serialises revocations across replicas: each builds on the JWT the previous one stored. */
const ACCOUNT_LOCK_KEY = `${KEY_PREFIX}nats-account-lock`;
const LOCK_TTL_MS = 30_000;
const LOCK_WAIT_MS = 20_000;
/** Revocation attempts when the server holds a newer account JWT than the one built on. */
const STALE_RETRIES = 2;

function issuedAt(jwt: string): number {
  const payload = jwt.split(".")[1] ?? "";
  return (JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { iat: number }).iat;
}

/**
 * Mints per-cluster NATS users from the operator setup and revokes them. The account JWT with
 * its revocations lives in Redis (written before it is pushed), so every replica and every
 * restart builds the next revocation on top of all earlier ones.
 */
export class NatsCredentialIssuer implements ClusterCredentialIssuer {
  private constructor(
    private readonly setup: OperatorSetup,
    private readonly redis: Redis,
    private readonly system: NatsConnection,
    private readonly log: Logger,
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
    redis: Redis,
    system: NatsConnection,
    log: Logger,
  ): Promise<NatsCredentialIssuer> {
    const issuer = new NatsCredentialIssuer(setup, redis, system, log);
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
    return issuer;
  }

  /** Stores the server's account JWT (checked against the operator) unless Redis has a newer one. */
  async #adopt(serverJwt: string): Promise<string> {
    withAccountJwt(this.setup, serverJwt);
    const stored = await this.#accountJwt();
    if (issuedAt(stored) > issuedAt(serverJwt)) return stored;
    await this.redis.set(ACCOUNT_JWT_KEY, serverJwt);
    this.log.warn(
      { storedIssuedAt: issuedAt(stored), serverIssuedAt: issuedAt(serverJwt) },
      "NATS holds a newer account JWT than Redis; adopted and stored it, so later revocations build on it",
    );
    return serverJwt;
  }

  /** Runs `fn` holding the account lock, which serialises account JWT changes across replicas. */
  async #locked<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const token = randomUUID();
    const deadline = Date.now() + LOCK_WAIT_MS;
    while ((await this.redis.set(ACCOUNT_LOCK_KEY, token, "PX", LOCK_TTL_MS, "NX")) !== "OK") {
      if (Date.now() > deadline) {
        throw new HubError(`cannot ${what}: another account JWT change holds the lock; try again`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    try {
      return await fn();
    } finally {
      const holder = await this.redis.get(ACCOUNT_LOCK_KEY);
      if (holder === token) await this.redis.del(ACCOUNT_LOCK_KEY);
    }
  }

  async #accountJwt(): Promise<string> {
    const stored = await this.redis.get(ACCOUNT_JWT_KEY);
    if (stored && issuedAt(stored) >= issuedAt(this.setup.account.jwt)) return stored;
    return this.setup.account.jwt;
  }

  async mint(cluster: string): Promise<MintedCredentials> {
    return mintClusterUser(this.setup, cluster);
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
        await this.redis.set(ACCOUNT_JWT_KEY, next);
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
