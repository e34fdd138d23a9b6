import { describe, expect, it } from "vitest";
import { diffObject, hpaTargets, ignoredPathsFor } from "./drift.js";
import type { KubeObject } from "./objects.js";

const deploy = (image: string, replicas: number, extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web", namespace: "n", resourceVersion: "1", generation: 1, labels: { a: "b" }, ...extra },
  spec: { replicas, template: { spec: { containers: [{ name: "c", image }] } } },
  status: { replicas },
});

describe("diffObject", () => {
  it.each([
    ["identical", deploy("a", 1), deploy("a", 1), [], []],
    ["image edited", deploy("a", 1), deploy("b", 1), [], ["spec.template.spec.containers[0].image"]],
    [
      "bookkeeping and status ignored",
      deploy("a", 1),
      { ...deploy("a", 1, { resourceVersion: "9", generation: 4, managedFields: [{}] }), status: { replicas: 7 } },
      [],
      [],
    ],
    ["our label removed", deploy("a", 1), deploy("a", 1, { labels: {} }), [], ["metadata.labels.a"]],
    ["replicas changed", deploy("a", 1), deploy("a", 3), [], ["spec.replicas"]],
    ["replicas under an HPA", deploy("a", 1), deploy("a", 3), ["spec.replicas"], []],
  ] as const)("%s", (_n, expected, live, ignore, paths) => {
    expect(diffObject(expected, live, ignore)).toEqual(paths);
  });
});

describe("hpaTargets", () => {
  it("keys the scale targets of HPAs", () => {
    const hpa: KubeObject = {
      apiVersion: "autoscaling/v2",
      kind: "HorizontalPodAutoscaler",
      metadata: { name: "h", namespace: "n" },
      spec: { scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "web" } },
    };
    const targets = hpaTargets([hpa]);
    expect(ignoredPathsFor("apps|Deployment|n|web", targets)).toEqual(["spec.replicas"]);
    expect(ignoredPathsFor("apps|Deployment|n|api", targets)).toEqual([]);
  });
});
