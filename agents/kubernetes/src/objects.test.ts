import { describe, expect, it } from "vitest";
import { decidePrune, pruneCandidates } from "./inventory.js";
import {
  applyOrder,
  crdScopesOf,
  deleteOrder,
  implicitNamespaceObject,
  implicitNamespaces,
  isOwnedBy,
  type KubeObject,
  placeInNamespace,
  type Ref,
  refOf,
  withOwnership,
} from "./objects.js";

const obj = (apiVersion: string, kind: string, name: string, namespace?: string): KubeObject => ({
  apiVersion,
  kind,
  metadata: namespace ? { name, namespace } : { name },
});
const ref = (kind: string, name: string, namespace = "", group = ""): Ref => ({
  group,
  version: "v1",
  kind,
  namespace,
  name,
});

describe("apply order", () => {
  it("puts Namespaces, then CRDs, first and keeps the rest in rendered order", () => {
    const set = [
      obj("apps/v1", "Deployment", "web", "n"),
      obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.x.io"),
      obj("v1", "ConfigMap", "cfg", "n"),
      obj("v1", "Namespace", "n"),
    ];
    expect(applyOrder(set).map((o) => o.kind)).toEqual([
      "Namespace",
      "CustomResourceDefinition",
      "Deployment",
      "ConfigMap",
    ]);
  });

  it("deletes in reverse rank: namespaces last", () => {
    const refs = [
      ref("Namespace", "n"),
      ref("ConfigMap", "a", "n"),
      ref("CustomResourceDefinition", "w", "", "apiextensions.k8s.io"),
    ];
    expect(deleteOrder(refs).map((r) => r.kind)).toEqual(["ConfigMap", "CustomResourceDefinition", "Namespace"]);
  });
});

describe("placeInNamespace", () => {
  const scope = (r: { kind: string }) =>
    r.kind === "Namespace" || r.kind === "ClusterRole" ? "cluster" : r.kind === "Widget" ? undefined : "namespaced";
  it.each([
    ["namespaced without one gets the target", obj("v1", "ConfigMap", "a"), "team"],
    ["namespaced keeps its own", obj("v1", "ConfigMap", "a", "other"), "other"],
    ["cluster-scoped loses a stray namespace", obj("rbac.authorization.k8s.io/v1", "ClusterRole", "r", "x"), undefined],
    ["kind from a CRD in the set follows the CRD scope", obj("x.io/v1", "Widget", "w"), "team"],
  ] as const)("%s", (_n, input, ns) => {
    const crds = crdScopesOf([
      {
        apiVersion: "apiextensions.k8s.io/v1",
        kind: "CustomResourceDefinition",
        metadata: { name: "widgets.x.io" },
        spec: { group: "x.io", names: { kind: "Widget" }, scope: "Namespaced" },
      },
    ]);
    expect(placeInNamespace(input, "team", scope, crds).metadata.namespace).toBe(ns);
  });
});

describe("implicit namespaces", () => {
  it.each([
    ["the target namespace even when nothing lands in it", [obj("v1", "Namespace", "n")], "t", ["t"]],
    [
      "namespaces objects name, sorted, once each",
      [obj("v1", "ConfigMap", "a", "z"), obj("v1", "Secret", "s", "b"), obj("v1", "ConfigMap", "c", "z")],
      "",
      ["b", "z"],
    ],
    ["not one the set defines", [obj("v1", "Namespace", "t"), obj("v1", "ConfigMap", "a", "t")], "t", []],
    ["nothing for cluster-scoped objects", [obj("rbac.authorization.k8s.io/v1", "ClusterRole", "r")], "", []],
  ] as const)("%s", (_n, objects, target, expected) => {
    expect(implicitNamespaces(objects, target)).toEqual(expected);
  });

  it("creates them labelled as Flotilla's but owned by no app, so no prune deletes them", () => {
    const ns = implicitNamespaceObject("guestbook", "web");
    expect(refOf(ns)).toEqual(ref("Namespace", "guestbook"));
    expect(ns.metadata.labels).toEqual({ "app.kubernetes.io/managed-by": "flotilla" });
    expect(ns.metadata.annotations).toEqual({ "flotilla.dev/created-for-app": "web" });
    expect(isOwnedBy(ns, "web")).toBe(false);
    expect(decidePrune(refOf(ns), ns, "web").action).toBe("skip");
  });
});

describe("prune plan", () => {
  const a = ref("ConfigMap", "a", "n");
  const b = ref("ConfigMap", "b", "n");
  it("lists what the old inventory has and the new set lacks, across API versions", () => {
    expect(pruneCandidates([a, b], [{ ...a, version: "v2" }])).toEqual([b]);
  });

  it("never lists a Namespace the new set's objects still live in", () => {
    const ns = ref("Namespace", "n");
    const other = ref("Namespace", "old");
    expect(pruneCandidates([ns, other, a], [], new Set(["n"]))).toEqual([other, a]);
  });

  const live = (labels?: Record<string, string>): KubeObject => ({
    ...obj("v1", "ConfigMap", "b", "n"),
    metadata: { name: "b", namespace: "n", labels },
  });
  it.each([
    ["ours", withOwnership(live(), "web"), "delete"],
    ["already gone", undefined, "gone"],
    ["another app's", withOwnership(live(), "api"), "skip"],
    ["unlabelled (someone else's)", live(), "skip"],
    ["other manager", live({ "app.kubernetes.io/managed-by": "helm", "flotilla.dev/app": "web" }), "skip"],
  ])("%s → %s", (_n, liveObj, action) => {
    expect(decidePrune(b, liveObj, "web").action).toBe(action);
  });

  it("reads refs from objects", () => {
    expect(refOf(obj("apps/v1", "Deployment", "d", "n"))).toEqual({
      group: "apps",
      version: "v1",
      kind: "Deployment",
      namespace: "n",
      name: "d",
    });
  });
});
