/**
 * Per-cluster NATS credentials in operator mode: the trust chain the hub owns, the
 * nats-server configuration that trusts it, cluster users minted at registration, and
 * revocation at deregistration.
 */
export * from "./errors.js";
export * from "./revocation.js";
export * from "./serverconfig.js";
export * from "./setup.js";
export * from "./users.js";
