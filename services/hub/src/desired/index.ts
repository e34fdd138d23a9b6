/**
 * Desired states from settings snapshots: the snapshot of an app in an environment, its digest,
 * the pure resolution per cluster (overrides included), the fingerprint the publisher compares,
 * and the masked diff between two snapshots.
 */
export * from "./diff.js";
export * from "./settings.js";
