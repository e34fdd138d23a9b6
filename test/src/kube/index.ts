/**
 * Real Kubernetes clusters for end-to-end tests: etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler and kwok built by
 * `scripts/fixtures.sh`, several at once on loopback ports.
 */
export {
  type Cluster,
  type ClusterOptions,
  type ClusterProcess,
  DEFAULT_NODE_COUNT,
  DEFAULT_START_TIMEOUT_MS,
  startCluster,
  startClusters,
} from "./cluster.js";
export {
  ClusterStartError,
  ClustersStartError,
  type Component,
  ComponentExitedError,
  ReadinessTimeoutError,
} from "./errors.js";
export { isAlive } from "./processes.js";
