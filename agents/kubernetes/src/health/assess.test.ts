import { Health } from "@flotilla/proto";
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../objects.js";
import { appHealth, assessHealth, type HealthContext, needsPods } from "./assess.js";
import { compileHealthRules } from "./rules.js";
import { DEFAULT_HEALTH_SETTINGS } from "./settings.js";

const H = Health;
const NOW = Date.parse("2026-06-01T12:00:00Z");
const ctx = (extra: Partial<HealthContext> = {}): HealthContext => ({
  nowMs: NOW,
  settings: DEFAULT_HEALTH_SETTINGS,
  ...extra,
});
const make = (apiVersion: string, kind: string, rest: Record<string, unknown>, generation = 2): KubeObject => ({
  apiVersion,
  kind,
  metadata: { name: "x", namespace: "n", generation, uid: "u-1" },
  ...rest,
});
const deploy = (spec: Record<string, unknown>, status: Record<string, unknown>) =>
  make("apps/v1", "Deployment", { spec: { replicas: 2, progressDeadlineSeconds: 600, ...spec }, status });
const deployDone = {
  observedGeneration: 2,
  replicas: 2,
  updatedReplicas: 2,
  readyReplicas: 2,
  availableReplicas: 2,
  conditions: [
    { type: "Available", status: "True" },
    { type: "Progressing", status: "True", reason: "NewReplicaSetAvailable" },
  ],
};
const widget = (status?: Record<string, unknown>) =>
  make("example.com/v1", "Widget", status === undefined ? { spec: {} } : { spec: {}, status });
const pod = (status: Record<string, unknown>, extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: "p",
    namespace: "n",
    ownerReferences: [{ uid: "rs-2", controller: true }],
    ...extra,
  },
  status,
});
const crashing = (restarts: number) =>
  pod({
    phase: "Running",
    containerStatuses: [
      {
        name: "app",
        restartCount: restarts,
        state: { waiting: { reason: "CrashLoopBackOff" } },
        lastState: { terminated: { exitCode: 1, reason: "Error" } },
      },
    ],
  });

describe("assessHealth: the classes that once read Healthy", () => {
  it.each<[string, KubeObject, Partial<HealthContext>, Health, RegExp?]>([
    [
      "custom resource Reconciling=True without Ready",
      widget({ conditions: [{ type: "Reconciling", status: "True", reason: "Progressing" }] }),
      {},
      H.HEALTH_PROGRESSING,
      /reconciling: Progressing/,
    ],
    [
      "custom resource Reconciling=True, Ready still True from before",
      widget({
        conditions: [
          { type: "Ready", status: "True" },
          { type: "Reconciling", status: "True" },
        ],
      }),
      {},
      H.HEALTH_PROGRESSING,
    ],
    [
      "DaemonSet OnDelete, 1 of 3 available",
      make("apps/v1", "DaemonSet", {
        spec: { updateStrategy: { type: "OnDelete" } },
        status: {
          observedGeneration: 2,
          desiredNumberScheduled: 3,
          currentNumberScheduled: 3,
          updatedNumberScheduled: 3,
          numberAvailable: 1,
          numberReady: 1,
        },
      }),
      {},
      H.HEALTH_PROGRESSING,
      /1 of 3 pods available/,
    ],
    [
      "DaemonSet OnDelete, old pods not yet deleted",
      make("apps/v1", "DaemonSet", {
        spec: { updateStrategy: { type: "OnDelete" } },
        status: {
          observedGeneration: 2,
          desiredNumberScheduled: 3,
          currentNumberScheduled: 3,
          updatedNumberScheduled: 1,
          numberAvailable: 3,
          numberReady: 3,
        },
      }),
      {},
      H.HEALTH_SUSPENDED,
      /delete the others/,
    ],
    [
      "DaemonSet status without desiredNumberScheduled",
      make("apps/v1", "DaemonSet", { spec: {}, status: { observedGeneration: 2 } }),
      {},
      H.HEALTH_PROGRESSING,
    ],
    [
      "bare ReplicaSet 1 of 3 available",
      make("apps/v1", "ReplicaSet", {
        spec: { replicas: 3 },
        status: { observedGeneration: 2, replicas: 3, fullyLabeledReplicas: 3, readyReplicas: 1, availableReplicas: 1 },
      }),
      {},
      H.HEALTH_PROGRESSING,
    ],
    [
      "ReplicaSet quota failure",
      make("apps/v1", "ReplicaSet", {
        spec: { replicas: 3 },
        status: {
          observedGeneration: 2,
          conditions: [{ type: "ReplicaFailure", status: "True", reason: "FailedCreate" }],
        },
      }),
      {},
      H.HEALTH_PROGRESSING,
      /FailedCreate/,
    ],
    ["ReplicaSet without status", make("apps/v1", "ReplicaSet", { spec: { replicas: 3 } }), {}, H.HEALTH_PROGRESSING],
    [
      "CRD name conflict while Established stays True",
      make("apiextensions.k8s.io/v1", "CustomResourceDefinition", {
        status: {
          conditions: [
            { type: "Established", status: "True" },
            { type: "NamesAccepted", status: "False", reason: "ListKindConflict" },
          ],
        },
      }),
      {},
      H.HEALTH_DEGRADED,
    ],
    [
      "Deployment scaling down",
      deploy({ replicas: 2 }, { ...deployDone, replicas: 4, updatedReplicas: 4, availableReplicas: 4 }),
      {},
      H.HEALTH_PROGRESSING,
      /2 old replicas pending termination/,
    ],
    [
      "StatefulSet scaling down",
      make("apps/v1", "StatefulSet", {
        spec: { replicas: 2 },
        status: {
          observedGeneration: 2,
          replicas: 3,
          readyReplicas: 3,
          currentReplicas: 3,
          updatedReplicas: 3,
          currentRevision: "r1",
          updateRevision: "r1",
        },
      }),
      {},
      H.HEALTH_PROGRESSING,
    ],
    [
      "custom resource never given a status, API with a status subresource",
      widget(),
      { statusSubresource: true },
      H.HEALTH_PROGRESSING,
      /no status yet/,
    ],
    [
      "stale per-condition observedGeneration",
      widget({ conditions: [{ type: "Ready", status: "True", observedGeneration: 1 }] }),
      {},
      H.HEALTH_PROGRESSING,
      /describes generation 1/,
    ],
    [
      "Ingress without an address",
      make("networking.k8s.io/v1", "Ingress", { spec: {}, status: { loadBalancer: {} } }),
      {},
      H.HEALTH_PROGRESSING,
    ],
  ])("%s", (_name, obj, extra, health, message) => {
    const a = assessHealth(obj, ctx(extra));
    expect(a.health).toBe(health);
    if (message) expect(a.message).toMatch(message);
  });
});

describe("assessHealth: per kind", () => {
  it.each<[string, KubeObject | undefined, Health]>([
    ["missing object", undefined, H.HEALTH_MISSING],
    ["deployment complete", deploy({}, deployDone), H.HEALTH_HEALTHY],
    ["deployment not yet observed", deploy({}, { ...deployDone, observedGeneration: 1 }), H.HEALTH_PROGRESSING],
    ["deployment updating", deploy({}, { ...deployDone, updatedReplicas: 1 }), H.HEALTH_PROGRESSING],
    ["deployment not available", deploy({}, { ...deployDone, availableReplicas: 1 }), H.HEALTH_PROGRESSING],
    [
      "deployment new ReplicaSet not yet marked available",
      deploy({}, { ...deployDone, conditions: [{ type: "Available", status: "True" }] }),
      H.HEALTH_PROGRESSING,
    ],
    [
      "deployment past its progress deadline",
      deploy(
        {},
        { ...deployDone, conditions: [{ type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded" }] },
      ),
      H.HEALTH_DEGRADED,
    ],
    [
      "deployment paused mid-rollout",
      deploy({ paused: true }, { ...deployDone, updatedReplicas: 1 }),
      H.HEALTH_SUSPENDED,
    ],
    ["deployment paused after it finished", deploy({ paused: true }, deployDone), H.HEALTH_HEALTHY],
    [
      "statefulset ready",
      make("apps/v1", "StatefulSet", {
        spec: { replicas: 2 },
        status: {
          observedGeneration: 2,
          replicas: 2,
          readyReplicas: 2,
          currentReplicas: 2,
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
          replicas: 2,
          readyReplicas: 2,
          currentReplicas: 2,
          updatedReplicas: 2,
          currentRevision: "r1",
          updateRevision: "r2",
        },
      }),
      H.HEALTH_PROGRESSING,
    ],
    [
      "statefulset partition held back on purpose",
      make("apps/v1", "StatefulSet", {
        spec: { replicas: 3, updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition: 2 } } },
        status: {
          observedGeneration: 2,
          replicas: 3,
          readyReplicas: 3,
          currentReplicas: 2,
          updatedReplicas: 1,
          currentRevision: "r1",
          updateRevision: "r2",
        },
      }),
      H.HEALTH_HEALTHY,
    ],
    [
      "daemonset done",
      make("apps/v1", "DaemonSet", {
        spec: {},
        status: {
          observedGeneration: 2,
          desiredNumberScheduled: 3,
          currentNumberScheduled: 3,
          updatedNumberScheduled: 3,
          numberAvailable: 3,
          numberReady: 3,
        },
      }),
      H.HEALTH_HEALTHY,
    ],
    ["job not started", make("batch/v1", "Job", { spec: {}, status: {} }), H.HEALTH_PROGRESSING],
    ["job running", make("batch/v1", "Job", { spec: {}, status: { startTime: "t", active: 1 } }), H.HEALTH_PROGRESSING],
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
    [
      "job failure decided, pods still terminating",
      make("batch/v1", "Job", {
        spec: {},
        status: { startTime: "t", conditions: [{ type: "FailureTarget", status: "True" }] },
      }),
      H.HEALTH_DEGRADED,
    ],
    ["job suspended", make("batch/v1", "Job", { spec: { suspend: true }, status: {} }), H.HEALTH_SUSPENDED],
    ["cronjob suspended", make("batch/v1", "CronJob", { spec: { suspend: true } }), H.HEALTH_HEALTHY],
    ["pod ready", pod({ phase: "Running", conditions: [{ type: "Ready", status: "True" }] }), H.HEALTH_HEALTHY],
    ["pod failed", pod({ phase: "Failed" }), H.HEALTH_DEGRADED],
    ["pod crash-looping past the threshold", crashing(3), H.HEALTH_DEGRADED],
    ["pod crash-looping under the threshold", crashing(2), H.HEALTH_PROGRESSING],
    [
      "pod image pull back-off",
      pod({ phase: "Pending", containerStatuses: [{ name: "a", state: { waiting: { reason: "ImagePullBackOff" } } }] }),
      H.HEALTH_DEGRADED,
    ],
    [
      "pod unschedulable past the grace",
      pod(
        {
          phase: "Pending",
          conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable" }],
        },
        { creationTimestamp: "2026-06-01T11:50:00Z" },
      ),
      H.HEALTH_DEGRADED,
    ],
    [
      "pod unschedulable within the grace",
      pod(
        {
          phase: "Pending",
          conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable" }],
        },
        { creationTimestamp: "2026-06-01T11:59:30Z" },
      ),
      H.HEALTH_PROGRESSING,
    ],
    ["pod on a lost node", pod({ phase: "Unknown" }), H.HEALTH_UNKNOWN],
    ["pvc bound", make("v1", "PersistentVolumeClaim", { status: { phase: "Bound" } }), H.HEALTH_HEALTHY],
    ["pvc pending", make("v1", "PersistentVolumeClaim", { status: { phase: "Pending" } }), H.HEALTH_PROGRESSING],
    ["pvc lost", make("v1", "PersistentVolumeClaim", { status: { phase: "Lost" } }), H.HEALTH_DEGRADED],
    ["service ClusterIP", make("v1", "Service", { spec: { type: "ClusterIP" } }), H.HEALTH_HEALTHY],
    [
      "service LB without an address",
      make("v1", "Service", { spec: { type: "LoadBalancer", clusterIP: "10.0.0.1" }, status: {} }),
      H.HEALTH_PROGRESSING,
    ],
    [
      "service LB ready",
      make("v1", "Service", {
        spec: { type: "LoadBalancer", clusterIP: "10.0.0.1" },
        status: { loadBalancer: { ingress: [{ ip: "1.2.3.4" }] } },
      }),
      H.HEALTH_HEALTHY,
    ],
    [
      "APIService not available",
      make("apiregistration.k8s.io/v1", "APIService", {
        status: { conditions: [{ type: "Available", status: "False", reason: "MissingEndpoints" }] },
      }),
      H.HEALTH_PROGRESSING,
    ],
    [
      "HPA unable to scale",
      make("autoscaling/v2", "HorizontalPodAutoscaler", {
        status: { observedGeneration: 2, conditions: [{ type: "AbleToScale", status: "False" }] },
      }),
      H.HEALTH_DEGRADED,
    ],
    ["PDB not yet observed", make("policy/v1", "PodDisruptionBudget", { spec: {}, status: {} }), H.HEALTH_PROGRESSING],
    ["namespace terminating", make("v1", "Namespace", { status: { phase: "Terminating" } }), H.HEALTH_PROGRESSING],
    ["configmap", make("v1", "ConfigMap", { data: {} }), H.HEALTH_HEALTHY],
    [
      "custom resource Ready=False",
      widget({ conditions: [{ type: "Ready", status: "False", reason: "Waiting" }] }),
      H.HEALTH_PROGRESSING,
    ],
    ["custom resource Ready=True", widget({ conditions: [{ type: "Ready", status: "True" }] }), H.HEALTH_HEALTHY],
    ["custom resource Stalled", widget({ conditions: [{ type: "Stalled", status: "True" }] }), H.HEALTH_DEGRADED],
    [
      "custom resource behind its generation",
      widget({ observedGeneration: 1, conditions: [{ type: "Ready", status: "True" }] }),
      H.HEALTH_PROGRESSING,
    ],
    ["custom resource never given a status, API without a status subresource", widget(), H.HEALTH_HEALTHY],
    [
      "being deleted",
      { ...make("v1", "ConfigMap", {}), metadata: { name: "x", deletionTimestamp: "t" } },
      H.HEALTH_PROGRESSING,
    ],
  ])("%s", (_name, obj, health) => {
    expect(assessHealth(obj, ctx()).health).toBe(health);
  });
});

describe("assessHealth: a workload's pods", () => {
  const rolling = deploy({}, { ...deployDone, updatedReplicas: 1, availableReplicas: 1 });
  it.each<[string, KubeObject, KubeObject[] | undefined, Health, RegExp]>([
    ["no pods read", rolling, undefined, H.HEALTH_PROGRESSING, /1 of 2/],
    ["pods fine", rolling, [pod({ phase: "Running" })], H.HEALTH_PROGRESSING, /1 of 2/],
    [
      "a pod crash-looping",
      rolling,
      [crashing(4)],
      H.HEALTH_DEGRADED,
      /pod p: container app is crash-looping \(4 restarts; last exit 1, Error\)/,
    ],
    [
      "a crash-looping pod being deleted",
      rolling,
      [{ ...crashing(4), metadata: { name: "p", deletionTimestamp: "t" } }],
      H.HEALTH_PROGRESSING,
      /1 of 2/,
    ],
    [
      "a complete workload is not judged by its pods",
      deploy({}, deployDone),
      [crashing(4)],
      H.HEALTH_HEALTHY,
      /2 of 2/,
    ],
  ])("%s", (_name, obj, pods, health, message) => {
    const a = assessHealth(obj, ctx({ pods }));
    expect(a.health).toBe(health);
    expect(a.message).toMatch(message);
  });

  it("asks for pods only for a workload still progressing", () => {
    expect(needsPods(rolling, assessHealth(rolling, ctx()))).toBe(true);
    const done = deploy({}, deployDone);
    expect(needsPods(done, assessHealth(done, ctx()))).toBe(false);
    const cm = make("v1", "ConfigMap", {});
    expect(needsPods(cm, { health: H.HEALTH_PROGRESSING, message: "" })).toBe(false);
  });
});

describe("assessHealth: settings", () => {
  const lb = make("v1", "Service", { spec: { type: "LoadBalancer", clusterIP: "10.0.0.1" }, status: {} });
  const ing = make("networking.k8s.io/v1", "Ingress", { spec: {}, status: {} });
  it.each<[string, KubeObject, Partial<typeof DEFAULT_HEALTH_SETTINGS>, Health]>([
    ["LB address not waited for", lb, { loadBalancer: "ignore-address" }, H.HEALTH_HEALTHY],
    [
      "LB without a cluster IP is never ignored",
      make("v1", "Service", { spec: { type: "LoadBalancer" } }),
      { loadBalancer: "ignore-address" },
      H.HEALTH_PROGRESSING,
    ],
    ["ingress address not waited for", ing, { ingress: "ignore-address" }, H.HEALTH_HEALTHY],
    ["a lower crash-loop threshold", crashing(1), { crashLoopRestarts: 1 }, H.HEALTH_DEGRADED],
    ["a higher crash-loop threshold", crashing(4), { crashLoopRestarts: 10 }, H.HEALTH_PROGRESSING],
  ])("%s", (_name, obj, settings, health) => {
    expect(assessHealth(obj, ctx({ settings: { ...DEFAULT_HEALTH_SETTINGS, ...settings } })).health).toBe(health);
  });
});

describe("assessHealth: deadlines", () => {
  const waiting = widget({ conditions: [{ type: "Ready", status: "False" }] });
  const job = (spec: Record<string, unknown>) =>
    make("batch/v1", "Job", { spec, status: { startTime: "t", active: 1 } });
  const applied = NOW - 20 * 60_000;
  const jobRule = compileHealthRules([{ group: "batch", kind: "Job", deadlineSeconds: 3600 }]);
  it.each<[string, KubeObject, Partial<HealthContext>, Health]>([
    ["inside the deadline", waiting, { appliedAtMs: NOW - 5_000, progressDeadlineMs: 600_000 }, H.HEALTH_PROGRESSING],
    ["past the deadline", waiting, { appliedAtMs: applied, progressDeadlineMs: 600_000 }, H.HEALTH_DEGRADED],
    ["no apply time, no deadline", waiting, { progressDeadlineMs: 600_000 }, H.HEALTH_PROGRESSING],
    [
      "the app's longer deadline",
      waiting,
      { appliedAtMs: applied, progressDeadlineMs: 3_600_000 },
      H.HEALTH_PROGRESSING,
    ],
    [
      "a long Job past the app's deadline",
      job({}),
      { appliedAtMs: applied, progressDeadlineMs: 600_000 },
      H.HEALTH_DEGRADED,
    ],
    [
      "a long Job within its kind's deadline",
      job({}),
      { appliedAtMs: applied, progressDeadlineMs: 600_000, rules: jobRule },
      H.HEALTH_PROGRESSING,
    ],
    [
      "a Job with activeDeadlineSeconds keeps its own",
      job({ activeDeadlineSeconds: 7200 }),
      { appliedAtMs: applied, progressDeadlineMs: 600_000 },
      H.HEALTH_PROGRESSING,
    ],
    [
      "healthy stays healthy",
      make("v1", "ConfigMap", {}),
      { appliedAtMs: applied, progressDeadlineMs: 600_000 },
      H.HEALTH_HEALTHY,
    ],
    [
      "suspended is not failed by the deadline",
      make("batch/v1", "Job", { spec: { suspend: true }, status: {} }),
      { appliedAtMs: applied, progressDeadlineMs: 600_000 },
      H.HEALTH_SUSPENDED,
    ],
  ])("%s", (_name, obj, extra, health) => {
    expect(assessHealth(obj, ctx(extra)).health).toBe(health);
  });
});

describe("assessHealth: CEL health rules", () => {
  const rules = compileHealthRules([
    {
      group: "example.com",
      kind: "Gadget",
      current: "status.phase == 'Ready'",
      failed: "status.phase == 'Failed'",
      inProgress: "has(status.resizing) && status.resizing",
    },
    { group: "example.com", kind: "Plain", current: "true" },
  ]);
  const gadget = (status?: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    ...make("example.com/v1", "Gadget", status === undefined ? {} : { status }),
    ...extra,
  });
  it.each<[string, KubeObject, Health, RegExp]>([
    ["current holds", gadget({ phase: "Ready" }), H.HEALTH_HEALTHY, /current holds/],
    ["failed holds", gadget({ phase: "Failed" }), H.HEALTH_DEGRADED, /failed holds/],
    [
      "inProgress wins over current",
      gadget({ phase: "Ready", resizing: true }),
      H.HEALTH_PROGRESSING,
      /inProgress holds/,
    ],
    ["none holds", gadget({ phase: "Provisioning" }), H.HEALTH_PROGRESSING, /current does not hold yet/],
    ["a field not there yet", gadget(), H.HEALTH_PROGRESSING, /cannot be evaluated yet: No such key: phase/],
    [
      "the rule replaces the conventions",
      gadget({ phase: "Ready", conditions: [{ type: "Reconciling", status: "True" }] }),
      H.HEALTH_HEALTHY,
      /current holds/,
    ],
    [
      "generic checks still come first",
      gadget({ phase: "Ready", observedGeneration: 1 }),
      H.HEALTH_PROGRESSING,
      /observe generation 2/,
    ],
    ["a kind without a controller", make("example.com/v1", "Plain", {}), H.HEALTH_HEALTHY, /current holds \(true\)/],
  ])("%s", (_name, obj, health, message) => {
    const a = assessHealth(obj, ctx({ rules, statusSubresource: true }));
    expect(a.health).toBe(health);
    expect(a.message).toMatch(message);
  });

  it("refuses a rule that does not compile, naming it", () => {
    expect(() => compileHealthRules([{ group: "example.com", kind: "Gadget", current: "status.phase ==" }])).toThrow(
      /^health rule 1 \(example\.com\/Gadget\): current: /,
    );
  });

  it("lets the app's rule replace the team's for the same kind", () => {
    const merged = compileHealthRules([
      { group: "example.com", kind: "Gadget", current: "false" },
      { group: "example.com", kind: "Gadget", current: "true" },
    ]);
    expect(assessHealth(gadget({}), ctx({ rules: merged })).health).toBe(H.HEALTH_HEALTHY);
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
