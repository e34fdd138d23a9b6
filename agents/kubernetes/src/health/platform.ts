/**
 * Networking, storage and API kinds: Service, Ingress, PersistentVolumeClaim,
 * CustomResourceDefinition, APIService, HorizontalPodAutoscaler, PodDisruptionBudget, Namespace.
 */
import type { KubeObject } from "../objects.js";
import type { HealthSettings } from "./settings.js";
import {
  type Assessment,
  because,
  condition,
  conditions,
  degraded,
  field,
  healthy,
  isFalse,
  isTrue,
  type Json,
  progressing,
  section,
  str,
} from "./status.js";

function hasAddress(status: Json): boolean {
  const ingress = field(status, "loadBalancer").ingress;
  return Array.isArray(ingress) && ingress.length > 0;
}

export function service(obj: KubeObject, settings: HealthSettings): Assessment {
  const spec = section(obj, "spec");
  if (spec.type !== "LoadBalancer") return healthy();
  if (!str(spec.clusterIP)) return progressing("waiting for a cluster IP");
  if (hasAddress(section(obj, "status"))) return healthy("load balancer ready");
  if (settings.loadBalancer === "ignore-address") {
    return healthy("no load balancer address yet (not waited for: FLOTILLA_LOADBALANCER_HEALTH=ignore-address)");
  }
  return progressing(
    "waiting for a load balancer address (on a cluster without a load-balancer controller, set FLOTILLA_LOADBALANCER_HEALTH=ignore-address)",
  );
}

export function ingress(obj: KubeObject, settings: HealthSettings): Assessment {
  if (hasAddress(section(obj, "status"))) return healthy("ingress has an address");
  if (settings.ingress === "ignore-address") {
    return healthy("no ingress address yet (not waited for: FLOTILLA_INGRESS_HEALTH=ignore-address)");
  }
  return progressing(
    "waiting for the ingress controller to give it an address (without one, set FLOTILLA_INGRESS_HEALTH=ignore-address)",
  );
}

export function persistentVolumeClaim(obj: KubeObject): Assessment {
  const status = section(obj, "status");
  const phase = str(status.phase);
  if (phase === "Lost") return degraded("claim lost its volume");
  if (phase !== "Bound") return progressing(`claim is ${phase || "Pending"}`);
  const allocated = field(status, "allocatedResourceStatuses");
  for (const [resource, state] of Object.entries(allocated)) {
    if (typeof state === "string" && state.endsWith("ResizeInfeasible")) {
      return degraded(`cannot resize ${resource}: ${state}`);
    }
  }
  for (const type of ["Resizing", "FileSystemResizePending"]) {
    const c = condition(status, type);
    if (isTrue(c)) return progressing(`volume resizing (${type})${because(c)}`);
  }
  return healthy("bound");
}

export function customResourceDefinition(obj: KubeObject): Assessment {
  const status = section(obj, "status");
  // Checked before Established: a rename that conflicts leaves Established True from before.
  const names = condition(status, "NamesAccepted");
  if (isFalse(names)) return degraded(`CRD names not accepted${because(names)}`);
  const established = condition(status, "Established");
  if (isTrue(established)) return healthy("established");
  if (isFalse(established) && established?.reason !== "Installing") {
    return degraded(`CRD not established${because(established)}`);
  }
  return progressing(`waiting for the CRD to be established${because(established)}`);
}

export function apiService(obj: KubeObject): Assessment {
  const available = condition(section(obj, "status"), "Available");
  if (isTrue(available)) return healthy("available");
  // Usually the serving Pods are still starting; the deadline catches one that never serves.
  return progressing(`API service not available${because(available)}`);
}

export function horizontalPodAutoscaler(obj: KubeObject): Assessment {
  const status = section(obj, "status");
  if (conditions(status).length === 0) return progressing("waiting for the autoscaler to evaluate it");
  const able = condition(status, "AbleToScale");
  if (isFalse(able)) return degraded(`cannot scale its target${because(able)}`);
  const active = condition(status, "ScalingActive");
  // ScalingDisabled: the target is scaled to zero on purpose.
  if (isFalse(active) && active?.reason !== "ScalingDisabled") {
    // Metrics arrive about a minute after the pods start; the deadline catches ones that never do.
    return progressing(`autoscaling not active yet${because(active)}`);
  }
  return healthy(isFalse(active) ? "autoscaling disabled (target scaled to zero)" : "autoscaling");
}

export function podDisruptionBudget(obj: KubeObject): Assessment {
  const status = section(obj, "status");
  if (typeof obj.metadata.generation === "number" && typeof status.observedGeneration !== "number") {
    return progressing("waiting for the disruption controller to observe it");
  }
  const allowed = condition(status, "DisruptionAllowed");
  if (isFalse(allowed) && allowed?.reason === "SyncFailed") {
    return progressing(`disruption controller cannot compute it${because(allowed)}`);
  }
  // InsufficientPods is its pods' health, which their own workload reports.
  return healthy(
    `${typeof status.disruptionsAllowed === "number" ? status.disruptionsAllowed : 0} disruptions allowed`,
  );
}

export function namespace(obj: KubeObject): Assessment {
  const phase = str(section(obj, "status").phase);
  if (phase === "Terminating") return progressing("namespace is terminating");
  return healthy();
}
