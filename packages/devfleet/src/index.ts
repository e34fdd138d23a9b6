/**
 * @flotilla/devfleet — Flotilla's harness of real servers, and the local fleet built from it.
 *
 * The parts: nats-server (alone or a three-node JetStream cluster), redis-server (alone or a
 * primary, replica and three sentinels), toxiproxy, a Git smart-HTTP server and Kubernetes fixture clusters
 * (etcd, kube-apiserver, controllers, kwok), each on free loopback ports in its own directory;
 * the hub and the agent as processes; all under one process manager that stops each process
 * group and kills what is left if this process exits. The whole: {@link startFleet}, which
 * `flotilla up` runs with {@link exampleFleet} and end-to-end tests run with the parts they need.
 *
 * Fixture binaries come from `scripts/fixtures.sh` (see {@link binPath}).
 */
export { type AgentProcess, type AgentProcessOptions, startAgentProcess } from "./agent.js";
export * from "./errors.js";
export {
  EXAMPLE,
  EXAMPLE_CLUSTERS,
  exampleDocuments,
  exampleFleet,
  exampleManifests,
} from "./example.js";
export { binPath, FIXTURE_CACHE, type FixtureTool, fixtureDataPath } from "./fixtures.js";
export {
  DEFAULT_FLEET_READY_TIMEOUT_MS,
  type Fleet,
  type FleetCluster,
  type FleetClusterSpec,
  type FleetHubOptions,
  type FleetOptions,
  type FleetParts,
  startFleet,
} from "./fleet.js";
export { type FileChanges, type FixtureRepo, type GitServer, type GitServerOptions, startGitServer } from "./git.js";
export {
  DEFAULT_HUB_READY_TIMEOUT_MS,
  type HubCommand,
  type HubProcess,
  type HubProcessOptions,
  newAdminToken,
  newEncryptionKey,
  startHubProcess,
} from "./hub.js";
export { HUB_REQUEST_TIMEOUT_MS, HubApi, type HubRequestOptions, type HubResponse } from "./hub-api.js";
export {
  type Cluster,
  type ClusterOptions,
  type ClusterProcess,
  DEFAULT_NODE_COUNT,
  DEFAULT_START_TIMEOUT_MS,
  startCluster,
  startClusters,
} from "./kube/cluster.js";
export { type CertificateAuthority, createCertificateAuthority, type KeyPair } from "./kube/pki.js";
export { CRASH_LOOP_LABEL, CRASH_LOOP_RESTARTS } from "./kube/stages.js";
export {
  type NatsClientOptions,
  type NatsClientTls,
  type NatsCluster,
  type NatsClusterNode,
  type NatsClusterOptions,
  type NatsOptions,
  type NatsServer,
  type NatsTlsOptions,
  natsTlsEnv,
  startNats,
  startNatsCluster,
} from "./nats.js";
export { freePort, freePorts, LOOPBACK, releasePorts, waitForPort } from "./ports.js";
export {
  DEFAULT_STOP_GRACE_MS,
  type ExitStatus,
  isAlive,
  type ManagedProcess,
  type ProcessOptions,
  residentSetBytes,
  startProcess,
} from "./process.js";
export { entryPoint, type Program, programEnv } from "./program.js";
export {
  PROMETHEUS_FIXTURE_PASSWORD,
  PROMETHEUS_FIXTURE_USER,
  type PrometheusOptions,
  type PrometheusServer,
  startPrometheus,
} from "./prometheus.js";
export {
  type RedisNode,
  type RedisOptions,
  type RedisSentinelOptions,
  type RedisSentinelSet,
  type RedisServer,
  type RespValue,
  redisCommand,
  startRedis,
  startRedisSentinel,
} from "./redis.js";
export {
  startToxiproxy,
  type Toxic,
  type ToxicProxy,
  type ToxicStream,
  type Toxiproxy,
  type ToxiproxyOptions,
} from "./toxiproxy.js";
export { DEFAULT_POLL_MS, DEFAULT_WAIT_MS, type Probe, until, waitsOf } from "./wait.js";
