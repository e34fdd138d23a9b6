/**
 * Health of one live object, as a pure function of the object and a context (the time, the
 * agent's settings, the app's CEL rules, the workload's Pods, whether the kind has a status
 * subresource). It runs for every object on every health poll: no I/O, no allocation beyond
 * the verdict.
 *
 * Rules, in order (kstatus's where kstatus has one; docs/health.md lists where we differ):
 * 1. Not found: Missing. Being deleted: Progressing.
 * 2. `status.observedGeneration` differs from `metadata.generation`: Progressing (the
 *    controller has not seen the latest spec).
 * 3. A custom rule for the kind: its CEL verdict, instead of everything below.
 * 4. `Stalled=True`: Degraded; `Reconciling=True`: Progressing, whatever `Ready` says. A
 *    condition whose own `observedGeneration` is behind the object's describes an old spec.
 * 5. The kind's rule: workloads (workloads.ts), Pods (pods.ts), networking, storage and API
 *    kinds (platform.ts). A workload still Progressing is Degraded at once when one of its
 *    current Pods has failed for certain (crash loop, image, unschedulable).
 * 6. Any other kind: its `Ready` condition; no status at all while its API has a status
 *    subresource is Progressing (its controller has not written one yet); else Healthy.
 * 7. Still Progressing past the deadline after the apply (the kind's, the app's or the
 *    agent's; a Job with activeDeadlineSeconds has its own): Degraded.
 */
import { Health, worstHealth } from "@flotilla/proto";
import type { KubeObject } from "../objects.js";
import {
  apiService,
  customResourceDefinition,
  horizontalPodAutoscaler,
  ingress,
  namespace,
  persistentVolumeClaim,
  podDisruptionBudget,
  service,
} from "./platform.js";
import { pod, podsFailure } from "./pods.js";
import { type HealthRules, ruleVerdict } from "./rules.js";
import type { HealthSettings } from "./settings.js";
import {
  type Assessment,
  because,
  type Condition,
  condition,
  degraded,
  groupOf,
  healthy,
  kindKey,
  progressing,
  section,
} from "./status.js";
import { cronJob, daemonSet, deployment, job, replicaSet, statefulSet } from "./workloads.js";

export type { Assessment } from "./status.js";

/** Everything a verdict depends on besides the object. */
export interface HealthContext {
  /** Now, in Unix milliseconds. */
  nowMs: number;
  settings: HealthSettings;
  /** The app's custom rules by kind. */
  rules?: HealthRules;
  /** For a workload: its Pods at the latest template (see {@link workloadPods}); absent when not read. */
  pods?: readonly KubeObject[];
  /** Whether the API serves a status subresource for the object's kind; absent when unknown. */
  statusSubresource?: boolean;
  /** When the object was applied, in Unix milliseconds; absent or 0 applies no deadline. */
  appliedAtMs?: number;
  /** The app's (or the agent's) progress deadline. */
  progressDeadlineMs?: number;
}

/** Kinds whose health depends on their Pods, by {@link kindKey}. */
const WORKLOADS = new Set([
  "apps/Deployment",
  "apps/StatefulSet",
  "apps/DaemonSet",
  "apps/ReplicaSet",
  "batch/Job",
  "extensions/Deployment",
  "extensions/DaemonSet",
  "extensions/ReplicaSet",
]);

/** Whether a verdict on `obj` could change by reading its Pods: a workload still Progressing. */
export function needsPods(obj: KubeObject, a: Assessment): boolean {
  return a.health === Health.HEALTH_PROGRESSING && WORKLOADS.has(kindKey(groupOf(obj), obj.kind));
}

/** Health of one live object; `undefined` (not found) is Missing. */
export function assessHealth(obj: KubeObject | undefined, ctx: HealthContext): Assessment {
  if (!obj) return { health: Health.HEALTH_MISSING, message: "object not found" };
  const key = kindKey(groupOf(obj), obj.kind);
  const rule = ctx.rules?.get(key);
  const a = verdict(obj, key, ctx);
  return withDeadline(a, obj, ctx, rule?.deadlineMs);
}

function verdict(obj: KubeObject, key: string, ctx: HealthContext): Assessment {
  if (obj.metadata.deletionTimestamp) return progressing("being deleted");
  const status = section(obj, "status");
  const generation = obj.metadata.generation;
  if (typeof generation === "number" && typeof status.observedGeneration === "number") {
    if (status.observedGeneration !== generation) {
      return progressing(
        `waiting for the controller to observe generation ${generation} (it has seen ${status.observedGeneration})`,
      );
    }
  }
  const rule = ctx.rules?.get(key);
  if (rule?.current) return ruleVerdict(rule, obj);
  const conventional = standardConditions(generation, condition(status, "Stalled"), condition(status, "Reconciling"));
  if (conventional) return conventional;
  const a = kindVerdict(obj, key, ctx);
  if (a && ctx.pods && needsPods(obj, a)) {
    const failure = podsFailure(ctx.pods, ctx.settings, ctx.nowMs);
    if (failure) return degraded(failure);
  }
  return a ?? other(obj, ctx);
}

/** A condition written for an older generation than the object's. */
function stale(c: Condition, generation: number | undefined): boolean {
  return (
    typeof generation === "number" && typeof c.observedGeneration === "number" && c.observedGeneration < generation
  );
}

function staleMessage(c: Condition, generation: number | undefined): string {
  return `${c.type}=${c.status} describes generation ${c.observedGeneration}; waiting for the controller to observe generation ${generation}`;
}

/** kstatus's abnormal-true conditions, which any kind may carry. */
function standardConditions(
  generation: number | undefined,
  stalled: Condition | undefined,
  reconciling: Condition | undefined,
): Assessment | undefined {
  if (stalled?.status === "True") {
    if (stale(stalled, generation)) return progressing(staleMessage(stalled, generation));
    return degraded(`stalled${because(stalled)}`);
  }
  if (reconciling?.status === "True") return progressing(`reconciling${because(reconciling)}`);
  return undefined;
}

function kindVerdict(obj: KubeObject, key: string, ctx: HealthContext): Assessment | undefined {
  switch (key) {
    case "apps/Deployment":
    case "extensions/Deployment":
      return deployment(obj);
    case "apps/StatefulSet":
      return statefulSet(obj);
    case "apps/DaemonSet":
    case "extensions/DaemonSet":
      return daemonSet(obj);
    case "apps/ReplicaSet":
    case "extensions/ReplicaSet":
      return replicaSet(obj);
    case "batch/Job":
      return job(obj);
    case "batch/CronJob":
      return cronJob(obj);
    case "/Pod":
      return pod(obj, ctx.settings, ctx.nowMs);
    case "/PersistentVolumeClaim":
      return persistentVolumeClaim(obj);
    case "/Service":
      return service(obj, ctx.settings);
    case "networking.k8s.io/Ingress":
      return ingress(obj, ctx.settings);
    case "apiextensions.k8s.io/CustomResourceDefinition":
      return customResourceDefinition(obj);
    case "apiregistration.k8s.io/APIService":
      return apiService(obj);
    case "autoscaling/HorizontalPodAutoscaler":
      // autoscaling/v1 keeps its conditions in an annotation: judge what v2 writes.
      return obj.apiVersion === "autoscaling/v1" ? healthy() : horizontalPodAutoscaler(obj);
    case "policy/PodDisruptionBudget":
      return podDisruptionBudget(obj);
    case "/Namespace":
      return namespace(obj);
    default:
      return undefined;
  }
}

/** Kinds without a rule of their own: the `Ready` condition, else whether a status was written. */
function other(obj: KubeObject, ctx: HealthContext): Assessment {
  const status = section(obj, "status");
  const ready = condition(status, "Ready");
  if (ready) {
    if (stale(ready, obj.metadata.generation)) return progressing(staleMessage(ready, obj.metadata.generation));
    if (ready.status === "True") return healthy(ready.message ?? "ready");
    return progressing(`not ready${because(ready)}`);
  }
  if (ctx.statusSubresource === true && Object.keys(status).length === 0) {
    // Its API has a status its controller writes; none yet means the controller has not acted.
    return progressing(
      "no status yet: waiting for its controller (for a kind without one, add a health rule with current: 'true')",
    );
  }
  return healthy();
}

/**
 * An object still Progressing `deadline` after its apply is Degraded. The deadline is the
 * kind's rule's, else the app's or agent's; a Job with `activeDeadlineSeconds` has none here,
 * since Kubernetes fails it at its own.
 */
function withDeadline(
  a: Assessment,
  obj: KubeObject,
  ctx: HealthContext,
  kindDeadlineMs: number | undefined,
): Assessment {
  const appliedAtMs = ctx.appliedAtMs ?? 0;
  if (a.health !== Health.HEALTH_PROGRESSING || appliedAtMs <= 0) return a;
  let deadlineMs = kindDeadlineMs ?? ctx.progressDeadlineMs;
  const ownDeadline = typeof section(obj, "spec").activeDeadlineSeconds === "number";
  if (kindDeadlineMs === undefined && ownDeadline && kindKey(groupOf(obj), obj.kind) === "batch/Job") {
    deadlineMs = undefined;
  }
  if (deadlineMs === undefined || ctx.nowMs - appliedAtMs < deadlineMs) return a;
  const elapsed = Math.round((ctx.nowMs - appliedAtMs) / 1000);
  return degraded(
    `still progressing ${elapsed}s after apply (deadline ${Math.round(deadlineMs / 1000)}s): ${a.message}`,
  );
}

/**
 * An app's health: the worst of its objects'. An app with no objects and nothing applied (its
 * first revision failed to fetch, render or validate) is Missing, not Healthy: what it asks
 * for does not exist. An app that applied an empty set is Healthy.
 */
export function appHealth(resources: readonly Health[], applied: boolean): Health {
  if (resources.length === 0 && !applied) return Health.HEALTH_MISSING;
  return worstHealth(resources);
}
