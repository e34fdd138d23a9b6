/** Per-cluster NATS credentials, minted at registration. */
export interface MintedCredentials {
  /** Text of a NATS creds file (user JWT and seed). */
  creds: string;
  /** Public nkey of the user, kept to revoke it later. */
  userPublicKey: string;
}

/**
 * Mints and revokes per-cluster NATS users. Backed by the NATS operator setup (nats/auth) when
 * one is configured; without one, the hub runs against a NATS without auth and mints nothing.
 */
export interface ClusterCredentialIssuer {
  mint(cluster: string): Promise<MintedCredentials>;
  revoke(cluster: string, userPublicKey: string): Promise<void>;
}

/** The bootstrap bundle an agent starts from (the team's wire note fixes these field names). */
export interface BootstrapBundle {
  cluster: string;
  natsUrl: string;
  /** NATS creds file text, empty when NATS has no auth. */
  natsCreds: string;
  /** SPKI PEM of the hub's signing key. */
  hubPublicKey: string;
  /** PKCS#8 PEM of this agent's Ed25519 key; the hub keeps only the public half. */
  agentSigningKey: string;
}
