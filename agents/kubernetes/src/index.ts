/**
 * @flotilla/agent — the cluster agent. `startAgent(config)` runs it in-process (tests, embedding);
 * `flotilla-agent` (src/main.ts) runs it as a process.
 */
export { AGENT_VERSION, type RunningAgent, startAgent } from "./agent.js";
export { Applier, type ApplySet } from "./applier.js";
export {
  AGENT_SETTINGS,
  type AgentConfig,
  type AgentConfigInput,
  type AgentSetting,
  configSchema,
  loadConfig,
  makeConfig,
} from "./config.js";
export * from "./errors.js";
export { GitCache, type GitSource, type Snapshot } from "./git-source.js";
export {
  ADDRESS_RULES,
  type AddressRule,
  type Assessment,
  appHealth,
  assessHealth,
  compileHealthRules,
  DEFAULT_HEALTH_SETTINGS,
  type HealthContext,
  type HealthRules,
  type HealthSettings,
} from "./health/index.js";
export { inventoryName } from "./inventory.js";
export { type KubeApi, KubeClient } from "./kube-client.js";
export { fromKubeconfigFile, type KubeconfigOptions, type KubeTarget, loadKubeTarget } from "./kubeconfig.js";
export { parseManifests } from "./manifest.js";
export { APP_LABEL, FIELD_MANAGER, type KubeObject, MANAGED_BY_LABEL } from "./objects.js";
export { Observer } from "./observe.js";
export { type ClusterFacts, type Plan, type PlanInput, plan, type Refusal } from "./plan.js";
