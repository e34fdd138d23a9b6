/**
 * kstatus-style health of one live object, as a pure function of the object (and, for the
 * agent-wide progress deadline, how long ago it was applied).
 */
import { Health, worstHealth } from "@flotilla/proto";
import type { KubeObject } from "./objects.js";

/** Health of one object and why. */
export interface Assessment {
  health: Health;
  message: string;
}

interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}

type Json = Record<string, unknown>;

function section(obj: KubeObject, key: "spec" | "status"): Json {
  const v = obj[key];
  return typeof v === "object" && v !== null ? (v as Json) : {};
}

function num(v: unknown, fallback = 0): number {
  return typeof v === "number" ? v : fallback;
}

function conditions(status: Json): Condition[] {
  return Array.isArray(status.conditions) ? (status.conditions as Condition[]) : [];
}

function condition(status: Json, type: string): Condition | undefined {
  return conditions(status).find((c) => c.type === type);
}

const healthy = (message = ""): Assessment => ({ health: Health.HEALTH_HEALTHY, message });
const progressing = (message: string): Assessment => ({ health: Health.HEALTH_PROGRESSING, message });
const degraded = (message: string): Assessment => ({ health: Health.HEALTH_DEGRADED, message });
const suspended = (message: string): Assessment => ({ health: Health.HEALTH_SUSPENDED, message });

/** The controller has not yet seen the latest spec. */
function notObserved(obj: KubeObject, status: Json): Assessment | undefined {
  const generation = obj.metadata.generation;
  if (generation !== undefined && num(status.observedGeneration, -1) < generation) {
    return progressing(`waiting for the controller to observe generation ${generation}`);
  }
  return undefined;
}

function deployment(obj: KubeObject): Assessment {
  const spec = section(obj, "spec");
  const status = section(obj, "status");
  if (spec.paused === true) return suspended("rollout is paused");
  const waiting = notObserved(obj, status);
  if (waiting) return waiting;
  const progress = condition(status, "Progressing");
  if (progress?.reason === "ProgressDeadlineExceeded") {
    return degraded(`rollout exceeded its progress deadline: ${progress.message ?? ""}`.trim());
  }
  const want = num(spec.replicas, 1);
  const updated = num(status.updatedReplicas);
  const total = num(status.replicas);
  const available = num(status.availableReplicas);
  if (updated < want) return progressing(`${updated} of ${want} replicas updated`);
  if (total > updated) return progressing(`${total - updated} old replicas pending termination`);
  if (available < updated) return progressing(`${available} of ${updated} updated replicas available`);
  return healthy(`${available} of ${want} replicas available`);
}

function statefulSet(obj: KubeObject): Assessment {
  const spec = section(obj, "spec");
  const status = section(obj, "status");
  const waiting = notObserved(obj, status);
  if (waiting) return waiting;
  const want = num(spec.replicas, 1);
  const ready = num(status.readyReplicas);
  const strategy = (spec.updateStrategy ?? {}) as { type?: string; rollingUpdate?: { partition?: number } };
  if (ready < want) return progressing(`${ready} of ${want} replicas ready`);
  if (strategy.type === "OnDelete") return healthy(`${ready} of ${want} replicas ready (OnDelete updates)`);
  const partition = num(strategy.rollingUpdate?.partition);
  const updated = num(status.updatedReplicas);
  if (partition > 0) {
    if (updated < want - partition)
      return progressing(`${updated} of ${want - partition} partitioned replicas updated`);
    return healthy(`partitioned rollout complete (${updated} updated)`);
  }
  if (updated < want) return progressing(`${updated} of ${want} replicas updated`);
  if (status.updateRevision && status.currentRevision !== status.updateRevision) {
    return progressing(`waiting for revision ${String(status.updateRevision)} to become current`);
  }
  return healthy(`${ready} of ${want} replicas ready`);
}

function daemonSet(obj: KubeObject): Assessment {
  const spec = section(obj, "spec");
  const status = section(obj, "status");
  const waiting = notObserved(obj, status);
  if (waiting) return waiting;
  const desired = num(status.desiredNumberScheduled);
  const updated = num(status.updatedNumberScheduled);
  const available = num(status.numberAvailable);
  if ((spec.updateStrategy as { type?: string } | undefined)?.type === "OnDelete") {
    return healthy("OnDelete updates");
  }
  if (updated < desired) return progressing(`${updated} of ${desired} pods updated`);
  if (available < desired) return progressing(`${available} of ${desired} pods available`);
  return healthy(`${available} of ${desired} pods available`);
}

function job(obj: KubeObject): Assessment {
  const spec = section(obj, "spec");
  const status = section(obj, "status");
  if (condition(status, "Failed")?.status === "True") {
    return degraded(`job failed: ${condition(status, "Failed")?.message ?? ""}`.trim());
  }
  if (condition(status, "Complete")?.status === "True") return healthy("job complete");
  if (spec.suspend === true) return suspended("job is suspended");
  return progressing(`${num(status.active)} active, ${num(status.succeeded)} succeeded`);
}

function pvc(obj: KubeObject): Assessment {
  const phase = section(obj, "status").phase;
  if (phase === "Bound") return healthy("bound");
  if (phase === "Lost") return degraded("claim lost its volume");
  return progressing(`claim is ${typeof phase === "string" ? phase : "Pending"}`);
}

function service(obj: KubeObject): Assessment {
  if (section(obj, "spec").type !== "LoadBalancer") return healthy();
  const lb = (section(obj, "status").loadBalancer ?? {}) as { ingress?: unknown[] };
  if (Array.isArray(lb.ingress) && lb.ingress.length > 0) return healthy("load balancer ready");
  return progressing("waiting for a load balancer address");
}

function pod(obj: KubeObject): Assessment {
  const status = section(obj, "status");
  switch (status.phase) {
    case "Succeeded":
      return healthy("pod succeeded");
    case "Failed":
      return degraded(`pod failed: ${String(status.reason ?? "")}`.trim());
    case "Running":
      return condition(status, "Ready")?.status === "True" ? healthy("pod ready") : progressing("pod not ready");
    default:
      return progressing(`pod is ${String(status.phase ?? "Pending")}`);
  }
}

function crd(obj: KubeObject): Assessment {
  const status = section(obj, "status");
  if (condition(status, "Established")?.status === "True") return healthy("established");
  if (condition(status, "NamesAccepted")?.status === "False") return degraded("CRD names not accepted");
  return progressing("waiting for the CRD to be established");
}

/** Any other kind: `Stalled`, `Ready`, `Available` conditions, else current (kstatus default). */
function generic(obj: KubeObject): Assessment {
  const status = section(obj, "status");
  const waiting = typeof status.observedGeneration === "number" ? notObserved(obj, status) : undefined;
  if (waiting) return waiting;
  const stalled = condition(status, "Stalled");
  if (stalled?.status === "True") return degraded(stalled.message ?? "stalled");
  for (const type of ["Ready", "Available"]) {
    const c = condition(status, type);
    if (c?.status === "True") return healthy(c.message ?? "");
    if (c?.status === "False") return progressing(`${type}: ${c.reason ?? ""} ${c.message ?? ""}`.trim());
    if (c) return progressing(`${type} is ${c.status ?? "Unknown"}`);
  }
  return healthy();
}

/** Health of one live object; `undefined` (not found) is Missing. */
export function assessHealth(obj: KubeObject | undefined): Assessment {
  if (!obj) return { health: Health.HEALTH_MISSING, message: "object not found" };
  if (obj.metadata.deletionTimestamp) return progressing("being deleted");
  const group = obj.apiVersion.includes("/") ? obj.apiVersion.split("/")[0] : "";
  switch (`${group}|${obj.kind}`) {
    case "apps|Deployment":
      return deployment(obj);
    case "apps|StatefulSet":
      return statefulSet(obj);
    case "apps|DaemonSet":
      return daemonSet(obj);
    case "batch|Job":
      return job(obj);
    case "|PersistentVolumeClaim":
      return pvc(obj);
    case "|Service":
      return service(obj);
    case "|Pod":
      return pod(obj);
    case "apiextensions.k8s.io|CustomResourceDefinition":
      return crd(obj);
    default:
      return generic(obj);
  }
}

/**
 * Applies the agent-wide progress deadline: an object still Progressing `deadlineMs` after its
 * apply is Degraded (Deployments carry their own deadline; other kinds have none).
 */
export function withDeadline(a: Assessment, appliedAtMs: number, nowMs: number, deadlineMs: number): Assessment {
  if (a.health !== Health.HEALTH_PROGRESSING || appliedAtMs <= 0) return a;
  if (nowMs - appliedAtMs < deadlineMs) return a;
  return degraded(`still progressing ${Math.round((nowMs - appliedAtMs) / 1000)}s after apply: ${a.message}`);
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
