/**
 * Health of live objects, as pure functions: one verdict per object ({@link assessHealth}),
 * the Pods a workload is judged by ({@link workloadPods}), an app's verdict ({@link appHealth}).
 */
export { type Assessment, appHealth, assessHealth, type HealthContext, needsPods } from "./assess.js";
export { type CompiledRule, compileHealthRules, type HealthRules, NO_HEALTH_RULES } from "./rules.js";
export { labelSelector, ownsThroughReplicaSets, workloadPods } from "./selection.js";
export * from "./settings.js";
