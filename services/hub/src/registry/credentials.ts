/** Per-cluster NATS credentials, minted at registration. */
export interface MintedCredentials {
  /** Text of a NATS creds file (user JWT and seed). */
  creds: string;
  /** Public nkey of the user, kept to revoke it later. */
  userPublicKey: string;
}

/**
 * Mints, renews and revokes per-cluster NATS users. Backed by the NATS operator setup
 * (nats/auth) when one is configured; without one, the hub runs against a NATS without auth and
 * mints nothing.
 */
export interface ClusterCredentialIssuer {
  /** A new user allowed to write the status keys of `apps` only (nats/grants.ts says which). */
  mint(cluster: string, apps: readonly string[]): Promise<MintedCredentials>;
  /**
   * A new JWT (with a new expiry) for the cluster's user `userPublicKey`, whose seed the agent
   * holds, allowed to write the status keys of `apps` only: a renewal drops unassigned apps.
   */
  renew(cluster: string, userPublicKey: string, apps: readonly string[]): Promise<string>;
  revoke(cluster: string, userPublicKey: string): Promise<void>;
}
