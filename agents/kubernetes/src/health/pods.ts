/**
 * Pods: the bare Pod rule, and the failures that are certain without waiting for a deadline,
 * which also turn the workload that owns the Pod Degraded.
 *
 * Certain: a container crash-looping with at least `crashLoopRestarts` restarts, an image
 * that cannot be pulled (back-off after a failed pull, an invalid name), a Pod unschedulable
 * for longer than `unschedulableGraceMs` (kstatus waits 15 s; autoscalers add nodes within a
 * minute or two, so the grace is a setting). A first crash, a first failed pull or a missing
 * ConfigMap may still resolve and stay Progressing.
 */
import type { KubeObject } from "../objects.js";
import type { HealthSettings } from "./settings.js";
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
  timeMs,
  unknown,
} from "./status.js";

/** Waiting reasons that mean the image will not come without a change to the Pod. */
const IMAGE_FAILURES = new Set(["ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"]);

interface ContainerStatus {
  name?: string;
  image?: string;
  restartCount?: number;
  state?: { waiting?: { reason?: string; message?: string } };
  lastState?: { terminated?: { exitCode?: number; reason?: string } };
}

function containerStatuses(status: Json): ContainerStatus[] {
  const all: ContainerStatus[] = [];
  for (const key of ["initContainerStatuses", "containerStatuses"]) {
    const list = status[key];
    if (Array.isArray(list)) all.push(...(list as ContainerStatus[]));
  }
  return all;
}

function lastExit(cs: ContainerStatus): string {
  const t = cs.lastState?.terminated;
  if (!t) return "";
  const reason = t.reason ? `, ${t.reason}` : "";
  return `; last exit ${t.exitCode ?? "?"}${reason}`;
}

/**
 * Why `pod` has failed for certain, or undefined. `nowMs` dates how long it has been
 * unschedulable. A Pod in phase Failed is not judged here: its controller replaces it.
 */
export function podFailure(pod: KubeObject, settings: HealthSettings, nowMs: number): string | undefined {
  const status = section(pod, "status");
  for (const cs of containerStatuses(status)) {
    const waiting = cs.state?.waiting;
    const reason = waiting?.reason ?? "";
    const restarts = num(cs.restartCount);
    if (reason === "CrashLoopBackOff" && restarts >= settings.crashLoopRestarts) {
      return `container ${cs.name ?? "?"} is crash-looping (${restarts} restarts${lastExit(cs)})`;
    }
    if (IMAGE_FAILURES.has(reason)) {
      const detail = waiting?.message ? `: ${waiting.message}` : "";
      const image = cs.image ? ` ${cs.image}` : "";
      return `container ${cs.name ?? "?"} cannot get its image${image} (${reason}${detail})`;
    }
  }
  const scheduled = condition(status, "PodScheduled");
  if (scheduled?.status === "False" && scheduled.reason === "Unschedulable") {
    const since = timeMs(scheduled.lastTransitionTime) ?? timeMs(pod.metadata.creationTimestamp);
    // A Pod with neither time is judged as old, as kstatus does.
    const forMs = since === undefined ? Number.POSITIVE_INFINITY : nowMs - since;
    if (forMs >= settings.unschedulableGraceMs) {
      return `unschedulable${since === undefined ? "" : ` for ${Math.round(forMs / 1000)}s`}${because(scheduled)}`;
    }
  }
  return undefined;
}

/** The first certain failure among a workload's Pods, as `pod <name>: <why>`. */
export function podsFailure(pods: readonly KubeObject[], settings: HealthSettings, nowMs: number): string | undefined {
  for (const pod of pods) {
    if (pod.metadata.deletionTimestamp) continue;
    const why = podFailure(pod, settings, nowMs);
    if (why) return `pod ${pod.metadata.name}: ${why}`;
  }
  return undefined;
}

/** A bare Pod. */
export function pod(obj: KubeObject, settings: HealthSettings, nowMs: number): Assessment {
  const status = section(obj, "status");
  const phase = str(status.phase);
  if (phase === "Succeeded") return healthy("pod succeeded");
  if (phase === "Failed") {
    // kstatus calls a failed Pod Current (it finished); an app's Pod that failed has failed.
    const why = [str(status.reason), str(status.message)].filter(Boolean).join(": ");
    return degraded(`pod failed${why ? `: ${why}` : ""}`);
  }
  const failure = podFailure(obj, settings, nowMs);
  if (failure) return degraded(failure);
  switch (phase) {
    case "Running":
      return isTrue(condition(status, "Ready")) ? healthy("pod ready") : progressing(notReady(status));
    case "Pending": {
      const scheduled = condition(status, "PodScheduled");
      if (scheduled?.status === "False") return progressing(`pod not scheduled yet${because(scheduled)}`);
      return progressing(`pod pending${waitingReason(status)}`);
    }
    case "":
      return progressing("pod not yet observed by the kubelet");
    default:
      return unknown(`pod phase is ${phase}: its node does not report`);
  }
}

function notReady(status: Json): string {
  return `pod running, not ready${waitingReason(status)}${because(condition(status, "Ready"))}`;
}

function waitingReason(status: Json): string {
  for (const cs of containerStatuses(status)) {
    const w = field(field(cs as Json, "state"), "waiting");
    if (w.reason) return ` (container ${str((cs as Json).name)}: ${str(w.reason)})`;
  }
  return "";
}
