/**
 * Workloads: Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob. Each rule reads the
 * counts its controller writes, in kstatus's order where kstatus has a rule, and is stricter
 * where kstatus calls a state Current that is still converging (see docs/health.md). The
 * generic checks (deletion, observed generation, Stalled/Reconciling) ran before these.
 */
import type { KubeObject } from "../objects.js";
import {
  type Assessment,
  because,
  condition,
  degraded,
  field,
  healthy,
  isTrue,
  type Json,
  num,
  progressing,
  section,
  str,
  suspended,
} from "./status.js";

/** What `spec.replicas` means when absent (the API server defaults it to 1). */
function wantedReplicas(spec: Json): number {
  return num(spec.replicas, 1);
}

export function deployment(obj: KubeObject): Assessment {
  const spec = section(obj, "spec");
  const status = section(obj, "status");
  const progress = condition(status, "Progressing");
  if (progress?.reason === "ProgressDeadlineExceeded") {
    return degraded(`rollout exceeded its progress deadline${because(progress)}`);
  }
  const rollout = deploymentRollout(spec, status, progress);
  if (spec.paused === true && rollout.health !== healthy().health) {
    // Paused mid-rollout, nothing moves until someone resumes it: say so rather than wait silently.
    return suspended(`rollout is paused (spec.paused) with ${rollout.message}: resume it to let the wave pass`);
  }
  return rollout;
}

function deploymentRollout(spec: Json, status: Json, progress: ReturnType<typeof condition>): Assessment {
  const want = wantedReplicas(spec);
  const total = num(status.replicas);
  const updated = num(status.updatedReplicas);
  const ready = num(status.readyReplicas);
  const available = num(status.availableReplicas);
  if (want > total) return progressing(`${total} of ${want} replicas created`);
  if (want > updated) return progressing(`${updated} of ${want} replicas updated`);
  if (total > want) return progressing(`${total - want} old replicas pending termination`);
  if (updated > available) return progressing(`${available} of ${updated} updated replicas available`);
  if (want > ready) return progressing(`${ready} of ${want} replicas ready`);
  // Without progressDeadlineSeconds the controller never reports NewReplicaSetAvailable.
  const tracksProgress = typeof spec.progressDeadlineSeconds === "number";
  if (tracksProgress && !(isTrue(progress) && progress?.reason === "NewReplicaSetAvailable")) {
    return progressing(`new ReplicaSet not yet available${because(progress)}`);
  }
  const availableCondition = condition(status, "Available");
  if (!isTrue(availableCondition)) return progressing(`deployment not available${because(availableCondition)}`);
  return healthy(`${available} of ${want} replicas available`);
}

type Strategy = { type?: string; rollingUpdate?: { partition?: number } };

export function statefulSet(obj: KubeObject): Assessment {
  const spec = section(obj, "spec");
  const status = section(obj, "status");
  const strategy = field(spec, "updateStrategy") as Strategy;
  const want = wantedReplicas(spec);
  const total = num(status.replicas);
  const ready = num(status.readyReplicas);
  const updated = num(status.updatedReplicas);
  if (want > total) return progressing(`${total} of ${want} replicas created`);
  if (want > ready) return progressing(`${ready} of ${want} replicas ready`);
  if (typeof status.availableReplicas === "number" && want > status.availableReplicas) {
    return progressing(`${status.availableReplicas} of ${want} replicas available`);
  }
  if (total > want) return progressing(`${total - want} replicas pending termination`);
  if (strategy.type === "OnDelete") {
    // kstatus calls every OnDelete StatefulSet Current; pods on the old template have not converged.
    if (status.updateRevision && want > updated) return onDelete(updated, want);
    return healthy(`${ready} of ${want} replicas ready (OnDelete updates)`);
  }
  const partition = num(strategy.rollingUpdate?.partition);
  if (partition > 0) {
    if (updated < want - partition) return progressing(`${updated} of ${want - partition} replicas updated`);
    return healthy(`partitioned rollout complete: ${updated} updated, ${partition} held back`);
  }
  if (want > updated && status.updateRevision) return progressing(`${updated} of ${want} replicas updated`);
  const current = num(status.currentReplicas);
  if (want > current) return progressing(`${current} of ${want} replicas at the current revision`);
  if (str(status.currentRevision) !== str(status.updateRevision)) {
    return progressing(`waiting for revision ${str(status.updateRevision)} to become current`);
  }
  return healthy(`${ready} of ${want} replicas ready`);
}

function onDelete(updated: number, want: number): Assessment {
  return suspended(
    `${updated} of ${want} pods run the latest template (updateStrategy OnDelete): delete the others to update them`,
  );
}

export function daemonSet(obj: KubeObject): Assessment {
  const spec = section(obj, "spec");
  const status = section(obj, "status");
  // The controller always writes these once it has acted; without them it has not (as kstatus).
  if (typeof obj.metadata.generation !== "number" || typeof status.observedGeneration !== "number") {
    return progressing("waiting for the DaemonSet controller to observe it");
  }
  if (typeof status.desiredNumberScheduled !== "number") {
    return progressing("waiting for the DaemonSet controller to count its nodes (no desiredNumberScheduled)");
  }
  const desired = status.desiredNumberScheduled;
  const current = num(status.currentNumberScheduled);
  const updated = num(status.updatedNumberScheduled);
  const available = num(status.numberAvailable);
  const ready = num(status.numberReady);
  const misscheduled = num(status.numberMisscheduled);
  if (desired > current) return progressing(`${current} of ${desired} pods scheduled`);
  if (desired > available) return progressing(`${available} of ${desired} pods available`);
  if (desired > ready) return progressing(`${ready} of ${desired} pods ready`);
  if (misscheduled > 0) return progressing(`${misscheduled} pods on nodes they no longer belong to`);
  if (desired > updated) {
    if ((field(spec, "updateStrategy") as Strategy).type === "OnDelete") return onDelete(updated, desired);
    return progressing(`${updated} of ${desired} pods updated`);
  }
  return healthy(`${available} of ${desired} pods available`);
}

export function replicaSet(obj: KubeObject): Assessment {
  const spec = section(obj, "spec");
  const status = section(obj, "status");
  const failure = condition(status, "ReplicaFailure");
  // A quota or admission refusal: it may clear (the quota grows), so not a certain failure.
  if (isTrue(failure)) return progressing(`cannot create pods${because(failure)}`);
  const want = wantedReplicas(spec);
  const labelled = num(status.fullyLabeledReplicas);
  const available = num(status.availableReplicas);
  const ready = num(status.readyReplicas);
  const total = num(status.replicas);
  if (want > labelled) return progressing(`${labelled} of ${want} replicas labelled`);
  if (want > available) return progressing(`${available} of ${want} replicas available`);
  if (want > ready) return progressing(`${ready} of ${want} replicas ready`);
  if (total > want) return progressing(`${total - want} replicas pending termination`);
  return healthy(`${available} of ${want} replicas available`);
}

export function job(obj: KubeObject): Assessment {
  const spec = section(obj, "spec");
  const status = section(obj, "status");
  // FailureTarget comes first: the controller sets it, then terminates the pods, then Failed.
  for (const type of ["FailureTarget", "Failed"]) {
    const c = condition(status, type);
    if (isTrue(c)) return degraded(`job failed${because(c)}`);
  }
  for (const type of ["Complete", "SuccessCriteriaMet"]) {
    if (isTrue(condition(status, type))) return healthy(`job complete: ${num(status.succeeded)} succeeded`);
  }
  if (spec.suspend === true) {
    return suspended("job is suspended (spec.suspend): it runs, and the wave passes, once it is resumed");
  }
  if (!status.startTime) return progressing("job not started");
  // kstatus calls a running Job Current; a wave does not pass before its Job has done its work.
  const completions = num(spec.completions, num(spec.parallelism, 1));
  return progressing(
    `job running: ${num(status.succeeded)} of ${completions} succeeded, ${num(status.active)} active, ${num(status.failed)} failed`,
  );
}

export function cronJob(obj: KubeObject): Assessment {
  const spec = section(obj, "spec");
  const status = section(obj, "status");
  // A CronJob converges at once: its runs are Jobs of their own, judged when they are the app's.
  if (spec.suspend === true) return healthy("suspended: schedules no runs");
  const last = str(status.lastScheduleTime);
  return healthy(last ? `last scheduled at ${last}` : "not scheduled yet");
}
