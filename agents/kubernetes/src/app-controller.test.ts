import {
  DESIRED_STATE,
  type DesiredStateInit,
  ErrorCode,
  generateSigningKey,
  Health,
  KeyRing,
  type ReportInit,
  SourceType,
  SyncPhase,
  seal,
} from "@flotilla/proto";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AppController, type ControllerDeps } from "./app-controller.js";
import { Applier } from "./applier.js";
import { KubeApiError } from "./errors.js";
import type { GitSource } from "./git-source.js";
import { DEFAULT_HEALTH_SETTINGS } from "./health/index.js";
import { emptyInventory, type Inventory } from "./inventory.js";
import type { InventoryStore } from "./inventory-store.js";
import type { KubeClient } from "./kube-client.js";
import type { ManifestFile } from "./manifest.js";
import { AgentMetrics } from "./metrics.js";
import { type KubeObject, type Ref, refKey, refOf } from "./objects.js";

const CLUSTER = "prod-eu-1";
const APP = "web";
const hubKey = generateSigningKey();
const R1 = "1".repeat(40);
const R2 = "2".repeat(40);

/** An API server in memory with namespace "web"; deletes of names in `failDeletes` answer 503. */
function fakeKube() {
  const objects = new Map<string, KubeObject>([
    [
      refKey({ group: "", kind: "Namespace", namespace: "", name: "web" }),
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "web" } },
    ],
  ]);
  const failDeletes = new Set<string>();
  const kube = {
    async mapping(apiVersion: string, kind: string) {
      if (apiVersion !== "v1") return undefined;
      if (kind === "Namespace") return { resource: "namespaces", namespaced: false, statusSubresource: true };
      return kind === "ConfigMap" ? { resource: "configmaps", namespaced: true, statusSubresource: false } : undefined;
    },
    async get(ref: Ref) {
      return objects.get(refKey(ref));
    },
    async apply(obj: KubeObject, dryRun = false) {
      if (!dryRun) objects.set(refKey(refOf(obj)), obj);
      return obj;
    },
    async delete(ref: Ref) {
      if (failDeletes.has(ref.name)) throw new KubeApiError(503, "ServiceUnavailable", "busy", "DELETE", ref.name);
      objects.delete(refKey(ref));
    },
  };
  return { kube: kube as unknown as KubeClient, objects, failDeletes };
}

/** Git with one manifest file per revision. */
function fakeGit(revisions: Record<string, string[]>): GitSource {
  const git = {
    async ensureCommit() {
      return { fetched: false };
    },
    async readFiles(_url: string, revision: string): Promise<ManifestFile[]> {
      const names = revisions[revision] ?? [];
      const content = names
        .map((name) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  k: v\n`)
        .join("---\n");
      return [{ path: "app.yaml", content }];
    },
  };
  return git as unknown as GitSource;
}

function sealed(generation: number, revision: string, extra: Partial<DesiredStateInit> = {}): Uint8Array {
  const desired: DesiredStateInit = {
    ...extra,
    cluster: CLUSTER,
    app: APP,
    generation,
    environment: "prod",
    source: {
      repoUrl: "https://git.example/web.git",
      branch: "main",
      revision,
      path: "",
      type: SourceType.SOURCE_TYPE_MANIFESTS,
    },
    targetNamespace: "web",
    prune: true,
  };
  return seal(DESIRED_STATE, desired, hubKey);
}

const controllers: AppController[] = [];
afterEach(async () => {
  await Promise.all(controllers.splice(0).map((c) => c.stop()));
});

function setup(revisions: Record<string, string[]>) {
  const { kube, objects, failDeletes } = fakeKube();
  let saved: Inventory = emptyInventory(APP);
  const inventories = {
    async save(inv: Inventory) {
      saved = structuredClone(inv);
    },
    async remove() {
      saved = emptyInventory(APP);
    },
  } as unknown as InventoryStore;
  const reports: ReportInit[] = [];
  const deps: ControllerDeps = {
    cluster: CLUSTER,
    agentVersion: "test",
    kube,
    applier: new Applier(kube, 4),
    git: fakeGit(revisions),
    tools: { helmBin: "helm", kustomizeBin: "kustomize" },
    inventories,
    hubKeys: new KeyRing([hubKey.publicKey]),
    sink: { report: (_app, r) => reports.push(r) },
    metrics: new AgentMetrics(),
    log: pino({ level: "silent" }),
    concurrency: 4,
    healthPollMs: 60_000,
    healthIdlePollMs: 60_000,
    driftIntervalMs: 60_000,
    progressDeadlineMs: 60_000,
    health: DEFAULT_HEALTH_SETTINGS,
    retryBackoffMs: 20,
    maxRetryBackoffMs: 20,
  };
  const c = new AppController(APP, deps, emptyInventory(APP));
  controllers.push(c);
  const synced = (generation: number) =>
    reports.some((r) => r.phase === SyncPhase.SYNC_PHASE_SYNCED && Number(r.observedGeneration) === generation);
  return { c, objects, failDeletes, inventory: () => saved, reports, synced };
}

describe("AppController prune", () => {
  it("keeps an object whose prune failed in the inventory and prunes it on the retry", async () => {
    const t = setup({ [R1]: ["a", "b"], [R2]: ["a"] });
    t.c.offer(sealed(1, R1));
    await vi.waitFor(() => expect(t.synced(1)).toBe(true));
    expect(t.inventory().objects.map((r) => r.name)).toEqual(["a", "b"]);

    t.failDeletes.add("b");
    t.c.offer(sealed(2, R2));
    await vi.waitFor(() =>
      expect(t.reports.some((r) => r.error?.code === ErrorCode.ERROR_CODE_PRUNE_FAILED)).toBe(true),
    );
    // The delete failed: b is still live and still ours, so the inventory must still name it.
    expect(t.inventory().objects.map((r) => r.name)).toEqual(["a", "b"]);

    t.failDeletes.clear();
    await vi.waitFor(() =>
      expect(t.objects.has(refKey({ group: "", kind: "ConfigMap", namespace: "web", name: "b" }))).toBe(false),
    );
    await vi.waitFor(() => expect(t.inventory().objects.map((r) => r.name)).toEqual(["a"]));
  });
});

describe("AppController health rules", () => {
  it("refuses a state whose health rule does not compile, naming the rule, and applies nothing", async () => {
    const t = setup({ [R1]: ["a"] });
    t.c.offer(sealed(1, R1, { healthRules: [{ group: "example.com", kind: "Gadget", current: "status.phase ==" }] }));
    await vi.waitFor(() => expect(t.reports.some((r) => r.phase === SyncPhase.SYNC_PHASE_FAILED)).toBe(true));
    const failed = t.reports.find((r) => r.phase === SyncPhase.SYNC_PHASE_FAILED);
    expect(failed?.error?.code).toBe(ErrorCode.ERROR_CODE_VALIDATION_FAILED);
    expect(failed?.error?.message).toMatch(/^health rule 1 \(example\.com\/Gadget\): current: .*nothing applied/);
    expect(failed?.error?.retryable).toBe(false);
    expect(t.objects.has(refKey({ group: "", kind: "ConfigMap", namespace: "web", name: "a" }))).toBe(false);
  });

  it("judges objects by the app's rule for their kind", async () => {
    const t = setup({ [R1]: ["a"] });
    t.c.offer(sealed(1, R1, { healthRules: [{ kind: "ConfigMap", current: "has(self.data.ready)" }] }));
    await vi.waitFor(() => expect(t.synced(1)).toBe(true));
    const last = t.reports.at(-1);
    expect(last?.health).toBe(Health.HEALTH_PROGRESSING);
    expect(last?.resources?.[0]?.message).toMatch(/health rule ConfigMap: current does not hold yet/);
  });
});
