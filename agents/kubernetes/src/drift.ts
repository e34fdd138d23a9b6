/**
 * Drift: where a live object differs from what applying our manifest would make of it. The
 * expected object is the server-side dry run of our apply over the live object, so fields
 * other managers own, defaults and normalization are already folded in; what remains differs
 * only in fields we own. Status and bookkeeping metadata never count.
 */
import type { KubeObject, Ref } from "./objects.js";

/** Fields that change without anyone editing the object. */
const ALWAYS_IGNORED = [
  "status",
  "metadata.resourceVersion",
  "metadata.generation",
  "metadata.managedFields",
  "metadata.creationTimestamp",
  "metadata.uid",
  "metadata.selfLink",
];

function joinPath(base: string, key: string): string {
  return base === "" ? key : `${base}.${key}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function walk(expected: unknown, live: unknown, path: string, ignore: ReadonlySet<string>, out: string[]): void {
  if (ignore.has(path)) return;
  if (isObject(expected) && isObject(live)) {
    const keys = new Set([...Object.keys(expected), ...Object.keys(live)]);
    for (const key of [...keys].sort()) walk(expected[key], live[key], joinPath(path, key), ignore, out);
    return;
  }
  if (Array.isArray(expected) && Array.isArray(live)) {
    if (expected.length !== live.length) {
      out.push(path);
      return;
    }
    expected.forEach((e, i) => {
      walk(e, live[i], `${path}[${i}]`, ignore, out);
    });
    return;
  }
  if (expected !== live) out.push(path);
}

/**
 * Dotted paths where `live` differs from `expected` (e.g. `spec.template.spec.containers[0].image`),
 * skipping status, bookkeeping metadata and `extraIgnored` paths.
 */
export function diffObject(expected: KubeObject, live: KubeObject, extraIgnored: readonly string[] = []): string[] {
  const out: string[] = [];
  walk(expected, live, "", new Set([...ALWAYS_IGNORED, ...extraIgnored]), out);
  return out;
}

/** An HPA's target, by group, kind, namespace and name. */
function hpaTarget(hpa: KubeObject): Pick<Ref, "group" | "kind" | "namespace" | "name"> | undefined {
  const target = (hpa.spec as { scaleTargetRef?: { apiVersion?: string; kind?: string; name?: string } } | undefined)
    ?.scaleTargetRef;
  if (!target?.kind || !target.name) return undefined;
  const apiVersion = target.apiVersion ?? "";
  const group = apiVersion.includes("/") ? (apiVersion.split("/")[0] ?? "") : "";
  return { group, kind: target.kind, namespace: hpa.metadata.namespace ?? "", name: target.name };
}

/** Keys (`group|kind|namespace|name`) of objects whose replica count an HPA owns. */
export function hpaTargets(hpas: readonly KubeObject[]): Set<string> {
  const keys = new Set<string>();
  for (const hpa of hpas) {
    const t = hpaTarget(hpa);
    if (t) keys.add(`${t.group}|${t.kind}|${t.namespace}|${t.name}`);
  }
  return keys;
}

/** Paths to ignore for one object: `spec.replicas` when an HPA scales it. */
export function ignoredPathsFor(key: string, scaledByHpa: ReadonlySet<string>): string[] {
  return scaledByHpa.has(key) ? ["spec.replicas"] : [];
}
