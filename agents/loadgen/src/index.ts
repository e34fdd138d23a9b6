/**
 * @flotilla/loadgen — simulated Flotilla agents for many clusters in one process, over real
 * NATS: registered through the hub's API ({@link registerClusters}), heartbeating, watching
 * desired states and answering each with the signed reports a real agent sends
 * ({@link SimulatedFleet}, or {@link ShardedFleet} over worker threads). The fleet benchmark (`npm run bench:fleet`) and an end-to-end test
 * drive a real hub with it.
 */
export {
  type AgentBehaviour,
  DEFAULT_BEHAVIOUR,
  failsRevision,
  MAX_REPORTS_PER_REVISION,
  type PlannedReport,
  reportPlan,
  WORK_PHASES,
} from "./behaviour.js";
export { type AppProgress, LOADGEN_AGENT_VERSION } from "./cluster.js";
export type { DesiredWindow, FleetCounts } from "./counters.js";
export * from "./errors.js";
export {
  DEFAULT_CLUSTERS_PER_CONNECTION,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  SimulatedFleet,
  type SimulatedFleetOptions,
} from "./fleet.js";
export {
  type ApplyClient,
  type ClusterSpec,
  DEFAULT_REGISTRATION_CHUNK,
  registerClusters,
} from "./registration.js";
export { DEFAULT_SHARDS, ShardedFleet, type ShardedFleetOptions } from "./shards.js";
