import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { NatsConnection } from "nats";
import type { Logger } from "pino";
import type { ClusterCredentialIssuer, MintedCredentials } from "./credentials.js";
import { HubError } from "./errors.js";
import {
  mintClusterUser,
  type OperatorSetup,
  pushAccountJwt,
  revokedAccountJwt,
  withAccountJwt,
} from "./natsauth/index.js";
import { KEY_PREFIX } from "./redis-store.js";

/** Latest FLOTILLA account JWT (it gains a revocation per deregistered cluster). */
const ACCOUNT_JWT_KEY = `${KEY_PREFIX}nats-account-jwt`;
/** Serialises revocations across replicas: each builds on the JWT the previous one stored. */
const ACCOUNT_LOCK_KEY = `${KEY_PREFIX}nats-account-lock`;
const LOCK_TTL_MS = 30_000;
const LOCK_WAIT_MS = 20_000;

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
   * server that lost its resolver directory. `system` is a connection as `setup.systemUser`.
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
      log.warn({ err }, "could not push the stored account JWT at start; revocations may be missing on the server");
    }
    return issuer;
  }

  async #accountJwt(): Promise<string> {
    const stored = await this.redis.get(ACCOUNT_JWT_KEY);
    if (stored && issuedAt(stored) >= issuedAt(this.setup.account.jwt)) return stored;
    return this.setup.account.jwt;
  }

  async mint(cluster: string): Promise<MintedCredentials> {
    return mintClusterUser(this.setup, cluster);
  }

  async revoke(cluster: string, userPublicKey: string): Promise<void> {
    const token = randomUUID();
    const deadline = Date.now() + LOCK_WAIT_MS;
    while ((await this.redis.set(ACCOUNT_LOCK_KEY, token, "PX", LOCK_TTL_MS, "NX")) !== "OK") {
      if (Date.now() > deadline) {
        throw new HubError(`cannot revoke cluster ${cluster}: another revocation holds the lock; try again`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    try {
      const current = withAccountJwt(this.setup, await this.#accountJwt());
      const next = await revokedAccountJwt(current, userPublicKey);
      await this.redis.set(ACCOUNT_JWT_KEY, next);
      await pushAccountJwt(this.system, next);
      this.log.info({ cluster, natsUser: userPublicKey }, "cluster NATS user revoked");
    } finally {
      const holder = await this.redis.get(ACCOUNT_LOCK_KEY);
      if (holder === token) await this.redis.del(ACCOUNT_LOCK_KEY);
    }
  }
}
