/**
 * @flotilla/proto — the wire contract between the hub and its agents: protobuf messages in
 * package flotilla.v1, subject and key names, signed envelopes, size limits and generation order.
 */
export * from "./codec.js";
export * from "./errors.js";
export * from "./generation.js";
export * from "./health-rules.js";
export * from "./key-set.js";
export * from "./messages.js";
export * from "./names.js";
export * from "./policy.js";
export * from "./signing.js";
