/**
 * Kubernetes objects as plain JSON, and the references, labels and apply order the agent uses.
 */
import type { ObjectRefInit } from "@flotilla/proto";

/** A Kubernetes object as JSON; only the header fields are typed. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    generation?: number;
    resourceVersion?: string;
    uid?: string;
    managedFields?: unknown[];
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** An object's metadata, as a metadata-only read returns it. */
export type ObjectMeta = KubeObject["metadata"];

/** An object reference with every field present (group empty for the core group). */
export interface Ref {
  group: string;
  version: string;
  kind: string;
  namespace: string;
  name: string;
}

/** Label naming the tool that manages an object. */
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGED_BY_VALUE = "flotilla";
/** Label naming the app that owns an object; prune only touches objects carrying its own app here. */
export const APP_LABEL = "flotilla.dev/app";
/** Field manager of every apply. */
export const FIELD_MANAGER = "flotilla";
/** Annotation on a Namespace the agent created because an app's objects needed it: which app. */
export const CREATED_FOR_ANNOTATION = "flotilla.dev/created-for-app";

/** Splits `group/version` (or `v1` for the core group). */
export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf("/");
  return slash < 0
    ? { group: "", version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

export function apiVersionOf(ref: Pick<Ref, "group" | "version">): string {
  return ref.group ? `${ref.group}/${ref.version}` : ref.version;
}

export function refOf(obj: KubeObject): Ref {
  const { group, version } = splitApiVersion(obj.apiVersion);
  return { group, version, kind: obj.kind, namespace: obj.metadata.namespace ?? "", name: obj.metadata.name };
}

/**
 * Identity of an object across API versions: the same Deployment seen as apps/v1 or a later
 * version is one object, so the version is left out.
 */
export function refKey(ref: Pick<Ref, "group" | "kind" | "namespace" | "name">): string {
  return `${ref.group}|${ref.kind}|${ref.namespace}|${ref.name}`;
}

export function toProtoRef(ref: Ref): ObjectRefInit {
  return { ...ref };
}

/** A header-only object for reads and deletes. */
export function stubOf(ref: Ref): KubeObject {
  return {
    apiVersion: apiVersionOf(ref),
    kind: ref.kind,
    metadata: ref.namespace ? { name: ref.name, namespace: ref.namespace } : { name: ref.name },
  };
}

/** Reference to the Namespace `name`. */
export function namespaceRef(name: string): Ref {
  return { group: "", version: "v1", kind: "Namespace", namespace: "", name };
}

export function isNamespace(ref: Pick<Ref, "group" | "kind">): boolean {
  return ref.group === "" && ref.kind === "Namespace";
}

export function isCrd(ref: Pick<Ref, "group" | "kind">): boolean {
  return ref.group === "apiextensions.k8s.io" && ref.kind === "CustomResourceDefinition";
}

/** Namespaces and CRDs: everything else may depend on them. */
export function isBootstrap(ref: Pick<Ref, "group" | "kind">): boolean {
  return isNamespace(ref) || isCrd(ref);
}

/** Apply rank: Namespaces, then CRDs, then the rest in the order given. */
function rank(ref: Pick<Ref, "group" | "kind">): number {
  if (isNamespace(ref)) return 0;
  if (isCrd(ref)) return 1;
  return 2;
}

/** Objects in apply order; stable, so rendered order is kept within a rank. */
export function applyOrder<T extends KubeObject>(objects: readonly T[]): T[] {
  return objects
    .map((obj, index) => ({ obj, index, rank: rank(refOf(obj)) }))
    .sort((a, b) => a.rank - b.rank || a.index - b.index)
    .map((e) => e.obj);
}

/** Refs in delete order: the reverse of apply order, so namespaces and CRDs go last. */
export function deleteOrder(refs: readonly Ref[]): Ref[] {
  return refs
    .map((ref, index) => ({ ref, index }))
    .sort((a, b) => rank(b.ref) - rank(a.ref) || a.index - b.index)
    .map((e) => e.ref);
}

/** Copy of `obj` carrying the ownership labels of `app`. */
export function withOwnership(obj: KubeObject, app: string): KubeObject {
  return {
    ...obj,
    metadata: {
      ...obj.metadata,
      labels: { ...obj.metadata.labels, [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [APP_LABEL]: app },
    },
  };
}

/** Whether the live object says it belongs to `app`; anything else is never deleted by us. */
export function isOwnedBy(live: Pick<KubeObject, "metadata">, app: string): boolean {
  const o = ownershipOf(live.metadata);
  return o.by === "app" && o.app === app;
}

/** Who a live object belongs to, as its labels and annotations say. */
export type Ownership =
  /** Applied by Flotilla for `app`. */
  | { by: "app"; app: string }
  /** A Namespace Flotilla created because `app` used it without defining it; no app's own. */
  | { by: "created-for"; app: string }
  /** No Flotilla app's: made by a person, another tool, or nobody we know. */
  | { by: "none" };

/** Reads an object's ownership from its metadata (the labels every apply sets). */
export function ownershipOf(meta: Pick<ObjectMeta, "labels" | "annotations">): Ownership {
  const labels = meta.labels ?? {};
  if (labels[MANAGED_BY_LABEL] !== MANAGED_BY_VALUE) return { by: "none" };
  const app = labels[APP_LABEL];
  if (app) return { by: "app", app };
  const createdFor = meta.annotations?.[CREATED_FOR_ANNOTATION];
  return createdFor ? { by: "created-for", app: createdFor } : { by: "none" };
}

/** Objects the API server serves outside namespaces, as discovery reports them. */
export type ScopeLookup = (ref: Pick<Ref, "group" | "version" | "kind">) => "namespaced" | "cluster" | undefined;

/**
 * Sets `namespace` on namespaced objects without one and strips it from cluster-scoped ones.
 * Kinds discovery does not know yet (a CRD applied in the same set) are treated by the scope
 * their CRD declares, passed in `crdScopes` keyed `group|kind`.
 */
export function placeInNamespace(
  obj: KubeObject,
  namespace: string,
  scope: ScopeLookup,
  crdScopes: ReadonlyMap<string, "namespaced" | "cluster"> = new Map(),
): KubeObject {
  const ref = refOf(obj);
  const s = scope(ref) ?? crdScopes.get(`${ref.group}|${ref.kind}`);
  if (s === "cluster") {
    if (obj.metadata.namespace === undefined) return obj;
    const { namespace: _dropped, ...metadata } = obj.metadata;
    return { ...obj, metadata: metadata as KubeObject["metadata"] };
  }
  if (s === "namespaced" && !obj.metadata.namespace) {
    return { ...obj, metadata: { ...obj.metadata, namespace } };
  }
  return obj;
}

/** `group|kind` → scope of every CRD in `objects`. */
export function crdScopesOf(objects: readonly KubeObject[]): Map<string, "namespaced" | "cluster"> {
  const scopes = new Map<string, "namespaced" | "cluster">();
  for (const obj of objects) {
    if (!isCrd(refOf(obj))) continue;
    const spec = (obj.spec ?? {}) as { group?: string; names?: { kind?: string }; scope?: string };
    if (spec.group && spec.names?.kind) {
      scopes.set(`${spec.group}|${spec.names.kind}`, spec.scope === "Cluster" ? "cluster" : "namespaced");
    }
  }
  return scopes;
}

/**
 * Namespaces that `objects` (already placed, see {@link placeInNamespace}) and the target
 * namespace use but that no Namespace object among them defines, sorted. The agent creates
 * these when missing, as Argo CD's `CreateNamespace=true` does, and never prunes them.
 */
export function implicitNamespaces(objects: readonly KubeObject[], targetNamespace: string): string[] {
  const defined = new Set(objects.filter((o) => isNamespace(refOf(o))).map((o) => o.metadata.name));
  const used = new Set<string>(targetNamespace ? [targetNamespace] : []);
  for (const obj of objects) if (obj.metadata.namespace) used.add(obj.metadata.namespace);
  return [...used].filter((ns) => !defined.has(ns)).sort();
}

/**
 * The Namespace the agent creates for `app` when a namespace it uses is missing: labelled as
 * managed by Flotilla but not as the app's own, so no prune ever deletes it (deleting a
 * namespace deletes everything in it, including other apps' objects).
 */
export function implicitNamespaceObject(name: string, app: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
      annotations: { [CREATED_FOR_ANNOTATION]: app },
    },
  };
}
