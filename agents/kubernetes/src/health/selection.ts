/**
 * Which Pods a workload is judged by: those its controller made from its latest template, so
 * that a crash loop of the revision being replaced does not fail the rollout of its fix.
 * Pure; the agent lists the candidates (by the workload's selector) and passes them in.
 */
import type { KubeObject } from "../objects.js";
import { field, groupOf, kindKey, section, str } from "./status.js";

/** The annotation the Deployment controller numbers revisions with, on Deployment and ReplicaSet. */
const REVISION_ANNOTATION = "deployment.kubernetes.io/revision";

interface OwnerReference {
  uid?: string;
  controller?: boolean;
}

interface LabelSelectorRequirement {
  key?: string;
  operator?: string;
  values?: string[];
}

/** `spec.selector` as a label selector query; undefined when the workload has none. */
export function labelSelector(workload: KubeObject): string | undefined {
  const selector = field(section(workload, "spec"), "selector");
  const parts: string[] = [];
  for (const [k, v] of Object.entries(field(selector, "matchLabels"))) parts.push(`${k}=${str(v)}`);
  const expressions = Array.isArray(selector.matchExpressions)
    ? (selector.matchExpressions as LabelSelectorRequirement[])
    : [];
  for (const e of expressions) {
    const values = (e.values ?? []).join(",");
    if (e.operator === "In") parts.push(`${e.key} in (${values})`);
    else if (e.operator === "NotIn") parts.push(`${e.key} notin (${values})`);
    else if (e.operator === "Exists") parts.push(`${e.key}`);
    else if (e.operator === "DoesNotExist") parts.push(`!${e.key}`);
  }
  return parts.length > 0 ? parts.join(",") : undefined;
}

/** Whether `workload` is a Deployment, whose Pods belong to its ReplicaSets. */
export function ownsThroughReplicaSets(workload: KubeObject): boolean {
  const key = kindKey(groupOf(workload), workload.kind);
  return key === "apps/Deployment" || key === "extensions/Deployment";
}

function controlledBy(obj: KubeObject, uid: string | undefined): boolean {
  if (!uid) return false;
  const refs = obj.metadata.ownerReferences;
  return Array.isArray(refs) && (refs as OwnerReference[]).some((r) => r.uid === uid && r.controller === true);
}

/**
 * The Pods of `workload` at its latest template, among `pods` (and, for a Deployment, its
 * `replicaSets`): a Deployment's newest ReplicaSet's, a StatefulSet's at its update revision,
 * any other workload's own.
 */
export function workloadPods(
  workload: KubeObject,
  pods: readonly KubeObject[],
  replicaSets: readonly KubeObject[] = [],
): KubeObject[] {
  const uid = workload.metadata.uid;
  if (ownsThroughReplicaSets(workload)) {
    const revision = workload.metadata.annotations?.[REVISION_ANNOTATION];
    const owners = replicaSets.filter(
      (rs) => controlledBy(rs, uid) && (!revision || rs.metadata.annotations?.[REVISION_ANNOTATION] === revision),
    );
    return pods.filter((p) => owners.some((rs) => controlledBy(p, rs.metadata.uid)));
  }
  const own = pods.filter((p) => controlledBy(p, uid));
  if (workload.kind === "StatefulSet") {
    const revision = str(section(workload, "status").updateRevision);
    if (revision) return own.filter((p) => p.metadata.labels?.["controller-revision-hash"] === revision);
  }
  return own;
}
