import { Health } from "@flotilla/proto";
import { describe, expect, it } from "vitest";
import { appHealth, assessHealth, withDeadline } from "./health.js";
import type { KubeObject } from "./objects.js";

const H = Health;
const make = (apiVersion: string, kind: string, rest: Record<string, unknown>, generation = 2): KubeObject => ({
  apiVersion,
  kind,
  metadata: { name: "x", namespace: "n", generation },
  ...rest,
});
const deploy = (spec: Record<string, unknown>, status: Record<string, unknown>) =>
  make("apps/v1", "Deployment", { spec, status });

describe("assessHealth", () => {
  it.each<[string, KubeObject | undefined, Health]>([
    ["missing object", undefined, H.HEALTH_MISSING],
    [
      "deployment complete",
      deploy({ replicas: 2 }, { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2 }),
      H.HEALTH_HEALTHY,
    ],
    [
      "deployment not yet observed",
      deploy({ replicas: 2 }, { observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 2 }),
      H.HEALTH_PROGRESSING,
    ],
    [
      "deployment updating",
      deploy({ replicas: 3 }, { observedGeneration: 2, replicas: 3, updatedReplicas: 1, availableReplicas: 3 }),
      H.HEALTH_PROGRESSING,
    ],
    [
      "deployment old replicas terminating",
      deploy({ replicas: 2 }, { observedGeneration: 2, replicas: 3, updatedReplicas: 2, availableReplicas: 2 }),
      H.HEALTH_PROGRESSING,
    ],
    [
      "deployment not available",
      deploy({ replicas: 2 }, { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 1 }),
      H.HEALTH_PROGRESSING,
    ],
    [
      "deployment past its progress deadline",
      deploy(
        { replicas: 2 },
        {
          observedGeneration: 2,
          replicas: 2,
          updatedReplicas: 1,
          conditions: [{ type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded" }],
        },
      ),
      H.HEALTH_DEGRADED,
    ],
    ["deployment paused", deploy({ paused: true }, {}), H.HEALTH_SUSPENDED],
    [
      "statefulset ready",
      make("apps/v1", "StatefulSet", {
        spec: { replicas: 2 },
        status: {
          observedGeneration: 2,
          readyReplicas: 2,
          updatedReplicas: 2,
          currentRevision: "r1",
          updateRevision: "r1",
        },
      }),
      H.HEALTH_HEALTHY,
    ],
    [
      "statefulset revision not current",
      make("apps/v1", "StatefulSet", {
        spec: { replicas: 2 },
        status: {
          observedGeneration: 2,
          readyReplicas: 2,
          updatedReplicas: 2,
          currentRevision: "r1",
          updateRevision: "r2",
        },
      }),
      H.HEALTH_PROGRESSING,
    ],
    [
      "daemonset rolling",
      make("apps/v1", "DaemonSet", {
        spec: {},
        status: { observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 2, numberAvailable: 3 },
      }),
      H.HEALTH_PROGRESSING,
    ],
    [
      "daemonset done",
      make("apps/v1", "DaemonSet", {
        spec: {},
        status: { observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 },
      }),
      H.HEALTH_HEALTHY,
    ],
    ["job running", make("batch/v1", "Job", { spec: {}, status: { active: 1 } }), H.HEALTH_PROGRESSING],
    [
      "job complete",
      make("batch/v1", "Job", { spec: {}, status: { conditions: [{ type: "Complete", status: "True" }] } }),
      H.HEALTH_HEALTHY,
    ],
    [
      "job failed",
      make("batch/v1", "Job", { spec: {}, status: { conditions: [{ type: "Failed", status: "True" }] } }),
      H.HEALTH_DEGRADED,
    ],
    ["pvc bound", make("v1", "PersistentVolumeClaim", { status: { phase: "Bound" } }), H.HEALTH_HEALTHY],
    ["pvc pending", make("v1", "PersistentVolumeClaim", { status: { phase: "Pending" } }), H.HEALTH_PROGRESSING],
    ["service ClusterIP", make("v1", "Service", { spec: { type: "ClusterIP" } }), H.HEALTH_HEALTHY],
    ["service LB pending", make("v1", "Service", { spec: { type: "LoadBalancer" }, status: {} }), H.HEALTH_PROGRESSING],
    [
      "service LB ready",
      make("v1", "Service", {
        spec: { type: "LoadBalancer" },
        status: { loadBalancer: { ingress: [{ ip: "1.2.3.4" }] } },
      }),
      H.HEALTH_HEALTHY,
    ],
    ["configmap", make("v1", "ConfigMap", { data: {} }), H.HEALTH_HEALTHY],
    [
      "custom resource Ready=False",
      make("x.io/v1", "Widget", { status: { conditions: [{ type: "Ready", status: "False", reason: "Waiting" }] } }),
      H.HEALTH_PROGRESSING,
    ],
    [
      "custom resource Ready=True",
      make("x.io/v1", "Widget", { status: { conditions: [{ type: "Ready", status: "True" }] } }),
      H.HEALTH_HEALTHY,
    ],
    [
      "custom resource Stalled",
      make("x.io/v1", "Widget", { status: { conditions: [{ type: "Stalled", status: "True" }] } }),
      H.HEALTH_DEGRADED,
    ],
    [
      "custom resource behind its generation",
      make("x.io/v1", "Widget", { status: { observedGeneration: 1, conditions: [{ type: "Ready", status: "True" }] } }),
      H.HEALTH_PROGRESSING,
    ],
    [
      "being deleted",
      { ...make("v1", "ConfigMap", {}), metadata: { name: "x", deletionTimestamp: "t" } },
      H.HEALTH_PROGRESSING,
    ],
  ])("%s", (_name, obj, health) => {
    expect(assessHealth(obj).health).toBe(health);
  });
});

describe("withDeadline", () => {
  const p = { health: H.HEALTH_PROGRESSING, message: "waiting" };
  it.each([
    ["inside the deadline", p, 1_000, 5_000, H.HEALTH_PROGRESSING],
    ["past the deadline", p, 1_000, 20_000, H.HEALTH_DEGRADED],
    ["healthy stays healthy", { health: H.HEALTH_HEALTHY, message: "" }, 1_000, 20_000, H.HEALTH_HEALTHY],
  ])("%s", (_n, a, applied, now, health) => {
    expect(withDeadline(a, applied, now, 10_000).health).toBe(health);
  });
});

describe("appHealth", () => {
  it.each<[string, Health[], boolean, Health]>([
    ["nothing applied yet (first revision failed)", [], false, H.HEALTH_MISSING],
    ["an empty set applied", [], true, H.HEALTH_HEALTHY],
    ["previous revision's objects still running", [H.HEALTH_HEALTHY, H.HEALTH_HEALTHY], false, H.HEALTH_HEALTHY],
    ["worst object wins", [H.HEALTH_HEALTHY, H.HEALTH_DEGRADED, H.HEALTH_PROGRESSING], true, H.HEALTH_DEGRADED],
  ])("%s", (_n, resources, applied, expected) => {
    expect(appHealth(resources, applied)).toBe(expected);
  });
});
