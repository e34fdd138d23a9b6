/**
 * The rollout engine's pure core: policies and wave plans, the persisted rollout state, and the
 * step, command, supersede and recordWrite functions that change it. No I/O happens here; the
 * hub's leader feeds observations in, persists the returned state, then executes the actions.
 *
 * Leader loop, per rollout that is not yet settled (isSettled):
 *   1. observations ← registry connectivity + latest report of (cluster, app) for its clusters
 *   2. { rollout, actions } ← step(rollout, observations, now); persist rollout (compare-and-set, fenced)
 *   3. for each write action: allocate a generation, publish the signed desired state, then
 *      persist recordWrite(freshRollout, action, generation, now); other actions: events, metrics
 */
export * from "./action.js";
export { type DueMeasurement, dueMeasurements } from "./analysis.js";
export * from "./command.js";
export * from "./errors.js";
export { clusterStandings } from "./explain.js";
export { type HoldsNow, heldClusters, holdsAt, type LimitedHold } from "./holds.js";
export * from "./leadtime.js";
export * from "./observation.js";
export * from "./policy.js";
export * from "./state.js";
export { step } from "./step.js";
export { type WindowVerdict, windowVerdict } from "./window.js";
export { abandonRollback, type ExecutedWrite, outstandingWrites, recordWrite, recordWrites } from "./write.js";
