import { describe, expect, it } from "vitest";
import type { KubeObject } from "../objects.js";
import { labelSelector, workloadPods } from "./selection.js";

const obj = (kind: string, name: string, meta: Record<string, unknown> = {}, rest: Record<string, unknown> = {}) =>
  ({ apiVersion: kind === "Pod" ? "v1" : "apps/v1", kind, metadata: { name, ...meta }, ...rest }) as KubeObject;
const owned = (uid: string) => ({ ownerReferences: [{ uid, controller: true }] });

describe("labelSelector", () => {
  it.each<[string, Record<string, unknown>, string | undefined]>([
    ["match labels", { matchLabels: { app: "web", tier: "fe" } }, "app=web,tier=fe"],
    [
      "expressions",
      {
        matchExpressions: [
          { key: "env", operator: "In", values: ["a", "b"] },
          { key: "x", operator: "NotIn", values: ["c"] },
          { key: "y", operator: "Exists" },
          { key: "z", operator: "DoesNotExist" },
        ],
      },
      "env in (a,b),x notin (c),y,!z",
    ],
    ["none", {}, undefined],
  ])("%s", (_name, selector, expected) => {
    expect(labelSelector(obj("Deployment", "d", {}, { spec: { selector } }))).toBe(expected);
  });
});

describe("workloadPods", () => {
  const deployment = obj("Deployment", "web", {
    uid: "d1",
    annotations: { "deployment.kubernetes.io/revision": "3" },
  });
  const replicaSets = [
    obj("ReplicaSet", "web-old", {
      uid: "rs2",
      annotations: { "deployment.kubernetes.io/revision": "2" },
      ...owned("d1"),
    }),
    obj("ReplicaSet", "web-new", {
      uid: "rs3",
      annotations: { "deployment.kubernetes.io/revision": "3" },
      ...owned("d1"),
    }),
    obj("ReplicaSet", "other", {
      uid: "rs9",
      annotations: { "deployment.kubernetes.io/revision": "3" },
      ...owned("d9"),
    }),
  ];
  const pods = [
    obj("Pod", "old", owned("rs2")),
    obj("Pod", "new", owned("rs3")),
    obj("Pod", "foreign", owned("rs9")),
    obj("Pod", "sts-old", { labels: { "controller-revision-hash": "s-1" }, ...owned("s1") }),
    obj("Pod", "sts-new", { labels: { "controller-revision-hash": "s-2" }, ...owned("s1") }),
    obj("Pod", "ds", owned("ds1")),
  ];
  const names = (list: KubeObject[]) => list.map((p) => p.metadata.name);

  it("takes a Deployment's pods from its newest ReplicaSet only", () => {
    expect(names(workloadPods(deployment, pods, replicaSets))).toEqual(["new"]);
  });
  it("takes a StatefulSet's pods at its update revision", () => {
    const sts = obj("StatefulSet", "db", { uid: "s1" }, { status: { updateRevision: "s-2" } });
    expect(names(workloadPods(sts, pods))).toEqual(["sts-new"]);
  });
  it("takes any other workload's own pods", () => {
    expect(names(workloadPods(obj("DaemonSet", "agent", { uid: "ds1" }), pods))).toEqual(["ds"]);
  });
});
