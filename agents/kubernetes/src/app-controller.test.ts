import {
  DESIRED_STATE,
  type DesiredStateInit,
  ErrorCode,
  generateSigningKey,
  Health,
  KeyRing,
  type ReportInit,
  type SigningKey,
  SourceType,
  SyncPhase,
  seal,
} from "@flotilla/proto";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AppController, type ControllerDeps } from "./app-controller.js";
import { Applier } from "./applier.js";
import { KubeApiError } from "./errors.js";
import { DEFAULT_HEALTH_SETTINGS } from "./health/index.js";
import { emptyInventory, type Inventory } from "./inventory.js";
import type { InventoryStore } from "./inventory-store.js";
import { AgentMetrics } from "./metrics.js";
import { APP_LABEL, type KubeObject, MANAGED_BY_LABEL, refKey } from "./objects.js";
import { Observer } from "./observe.js";
import { FakeGit } from "./testing/fake-git.js";
import { FakeKube } from "./testing/fake-kube.js";

const CLUSTER = "prod-eu-1";
const APP = "web";
const hubKey = generateSigningKey();
const R1 = "1".repeat(40);
const R2 = "2".repeat(40);

const configMaps = (names: string[], namespace = "") =>
  names
    .map(
      (name) =>
        `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n${namespace ? `  namespace: ${namespace}\n` : ""}data:\n  k: v\n`,
    )
    .join("---\n");

/** Git with one manifest file per revision. */
function fakeGit(revisions: Record<string, string>): FakeGit {
  return new FakeGit(Object.fromEntries(Object.entries(revisions).map(([rev, text]) => [rev, { "app.yaml": text }])));
}

/** An API server in memory with namespace "web". */
function fakeKube(): FakeKube {
  const kube = new FakeKube();
  kube.put({ apiVersion: "v1", kind: "Namespace", metadata: { name: "web" } });
  return kube;
}

/** Inventories in memory. */
class MemoryInventories implements InventoryStore {
  saved: Inventory = emptyInventory(APP);
  async load(): Promise<Inventory> {
    return structuredClone(this.saved);
  }
  async loadAll(): Promise<Inventory[]> {
    return [structuredClone(this.saved)];
  }
  async save(inv: Inventory): Promise<void> {
    this.saved = structuredClone(inv);
  }
  async remove(): Promise<void> {
    this.saved = emptyInventory(APP);
  }
}

function sealed(
  generation: number,
  revision: string,
  extra: Partial<DesiredStateInit> = {},
  key: SigningKey = hubKey,
): Uint8Array {
  const desired: DesiredStateInit = {
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
    policy: { team: "web", namespaces: ["web"], clusterResources: [] },
    ...extra,
  };
  return seal(DESIRED_STATE, desired, key);
}

const controllers: AppController[] = [];
afterEach(async () => {
  await Promise.all(controllers.splice(0).map((c) => c.stop()));
});

function setup(revisions: Record<string, string>, kube = fakeKube(), hubKeys = new KeyRing([hubKey.publicKey])) {
  const inventories = new MemoryInventories();
  const reports: ReportInit[] = [];
  const deps: ControllerDeps = {
    cluster: CLUSTER,
    agentVersion: "test",
    agentNamespace: "flotilla-system",
    kube,
    observer: new Observer(kube, 4),
    applier: new Applier(kube, 4),
    git: fakeGit(revisions),
    tools: { helmBin: "helm", kustomizeBin: "kustomize" },
    inventories,
    hubKeys,
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
  const failed = (generation: number) =>
    reports.find((r) => r.phase === SyncPhase.SYNC_PHASE_FAILED && Number(r.observedGeneration) === generation);
  return { c, kube, inventory: () => inventories.saved, reports, synced, failed };
}

const cmKey = (name: string, namespace = "web") => refKey({ group: "", kind: "ConfigMap", namespace, name });

describe("AppController prune", () => {
  it("keeps an object whose prune failed in the inventory and prunes it on the retry", async () => {
    const t = setup({ [R1]: configMaps(["a", "b"]), [R2]: configMaps(["a"]) });
    t.c.offer(sealed(1, R1));
    await vi.waitFor(() => expect(t.synced(1)).toBe(true));
    expect(t.inventory().objects.map((r) => r.name)).toEqual(["a", "b"]);

    t.kube.fail = (op, ref) =>
      op === "delete" && ref.name === "b"
        ? new KubeApiError(503, "ServiceUnavailable", "busy", "DELETE", "b")
        : undefined;
    t.c.offer(sealed(2, R2));
    await vi.waitFor(() =>
      expect(t.reports.some((r) => r.error?.code === ErrorCode.ERROR_CODE_PRUNE_FAILED)).toBe(true),
    );
    // The delete failed: b is still live and still ours, so the inventory must still name it.
    expect(t.inventory().objects.map((r) => r.name)).toEqual(["a", "b"]);

    t.kube.fail = () => undefined;
    await vi.waitFor(() => expect(t.kube.objects.has(cmKey("b"))).toBe(false));
    await vi.waitFor(() => expect(t.inventory().objects.map((r) => r.name)).toEqual(["a"]));
  });
});

describe("AppController and a hub key rotation", () => {
  it("takes the state in force re-signed by the new key without applying or reporting it again", async () => {
    const next = generateSigningKey();
    const t = setup(
      { [R1]: configMaps(["a"]), [R2]: configMaps(["b"]) },
      fakeKube(),
      new KeyRing([hubKey.publicKey, next.publicKey]),
    );
    t.c.offer(sealed(1, R1));
    await vi.waitFor(() => expect(t.synced(1)).toBe(true));
    const reported = t.reports.length;
    t.c.offer(sealed(1, R1, {}, next));
    t.c.offer(sealed(1, R1, {}, next));
    await t.c.refresh();
    expect(t.reports.slice(reported).some((r) => r.phase === SyncPhase.SYNC_PHASE_REJECTED)).toBe(false);
    // The next generation, signed by the new key, goes ahead as usual.
    t.c.offer(sealed(2, R2, {}, next));
    await vi.waitFor(() => expect(t.synced(2)).toBe(true));
  });

  it("still refuses an older generation re-signed by the new key", async () => {
    const next = generateSigningKey();
    const t = setup(
      { [R1]: configMaps(["a"]), [R2]: configMaps(["b"]) },
      fakeKube(),
      new KeyRing([hubKey.publicKey, next.publicKey]),
    );
    t.c.offer(sealed(1, R1));
    await vi.waitFor(() => expect(t.synced(1)).toBe(true));
    t.c.offer(sealed(2, R2));
    await vi.waitFor(() => expect(t.synced(2)).toBe(true));
    t.c.offer(sealed(1, R1, {}, next));
    expect(t.reports.at(-1)?.error?.code).toBe(ErrorCode.ERROR_CODE_GENERATION_STALE);
  });
});

describe("AppController source type", () => {
  it("reports the type it detected for a state that gives none, and none before its first render", async () => {
    const t = setup({ [R1]: configMaps(["a"]) });
    // No type in the source: the agent decides from the files at the path (here plain manifests).
    const d = sealed(1, R1, {
      source: { repoUrl: "https://git.example/web.git", branch: "main", revision: R1, path: "" },
    });
    t.c.offer(d);
    await vi.waitFor(() => expect(t.synced(1)).toBe(true));
    const synced = t.reports.find((r) => r.phase === SyncPhase.SYNC_PHASE_SYNCED);
    expect(synced?.sourceType).toBe(SourceType.SOURCE_TYPE_MANIFESTS);
    expect(t.reports[0]?.sourceType).toBe(SourceType.SOURCE_TYPE_UNSPECIFIED);
  });
});

describe("AppController health rules", () => {
  it("refuses a state whose health rule does not compile, naming the rule, and applies nothing", async () => {
    const t = setup({ [R1]: configMaps(["a"]) });
    t.c.offer(sealed(1, R1, { healthRules: [{ group: "example.com", kind: "Gadget", current: "status.phase ==" }] }));
    await vi.waitFor(() => expect(t.reports.some((r) => r.phase === SyncPhase.SYNC_PHASE_FAILED)).toBe(true));
    const failed = t.reports.find((r) => r.phase === SyncPhase.SYNC_PHASE_FAILED);
    expect(failed?.error?.code).toBe(ErrorCode.ERROR_CODE_VALIDATION_FAILED);
    expect(failed?.error?.message).toMatch(/^health rule 1 \(example\.com\/Gadget\): current: .*nothing applied/);
    expect(failed?.error?.retryable).toBe(false);
    expect(t.kube.objects.has(cmKey("a"))).toBe(false);
  });

  it("judges objects by the app's rule for their kind", async () => {
    const t = setup({ [R1]: configMaps(["a"]) });
    t.c.offer(sealed(1, R1, { healthRules: [{ kind: "ConfigMap", current: "has(self.data.ready)" }] }));
    await vi.waitFor(() => expect(t.synced(1)).toBe(true));
    const last = t.reports.at(-1);
    expect(last?.health).toBe(Health.HEALTH_PROGRESSING);
    expect(last?.resources?.[0]?.message).toMatch(/health rule ConfigMap: current does not hold yet/);
  });
});

describe("AppController refusals", () => {
  it("applies nothing of a revision that breaks the policy, and reports every refused object", async () => {
    const t = setup({
      [R1]: configMaps(["a"]),
      [R2]: `${configMaps(["a", "b"])}---\n${configMaps(["leak"], "kube-system")}---\n${configMaps(["flotilla-inventory-x"], "flotilla-system")}`,
    });
    t.c.offer(sealed(1, R1));
    await vi.waitFor(() => expect(t.synced(1)).toBe(true));
    const writes = () => t.kube.calls.filter((c) => c.startsWith("apply") || c.startsWith("dryRun")).length;
    const writesBefore = writes();

    t.c.offer(sealed(2, R2));
    await vi.waitFor(() => expect(t.failed(2)).toBeDefined());
    const report = t.failed(2);
    expect(report?.error?.code).toBe(ErrorCode.ERROR_CODE_POLICY_VIOLATION);
    expect(report?.error?.retryable).toBe(false);
    expect(report?.error?.objects?.map((o) => `${o.ref?.namespace}/${o.ref?.name}`)).toEqual([
      "kube-system/leak",
      "flotilla-system/flotilla-inventory-x",
    ]);
    expect(report?.error?.objects?.map((o) => o.message?.split(":")[0])).toEqual([
      "refused by rule namespaces",
      "refused by rule agent-namespace",
    ]);
    expect(writes()).toBe(writesBefore);
    expect(t.kube.objects.has(cmKey("b"))).toBe(false);
    expect(t.inventory().appliedGeneration).toBe(1);
    expect(t.inventory().observedGeneration).toBe(2);
  });

  it("refuses an object another app owns, naming it, and leaves the owner's object as it was", async () => {
    const kube = fakeKube();
    const theirs: KubeObject = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: "shared",
        namespace: "web",
        labels: { [MANAGED_BY_LABEL]: "flotilla", [APP_LABEL]: "billing" },
      },
      data: { k: "theirs" },
    };
    kube.put(theirs);
    const t = setup({ [R1]: configMaps(["mine", "shared"]) }, kube);
    t.c.offer(sealed(1, R1));
    await vi.waitFor(() => expect(t.failed(1)).toBeDefined());
    const error = t.failed(1)?.error;
    expect(error?.code).toBe(ErrorCode.ERROR_CODE_OWNERSHIP_CONFLICT);
    expect(error?.message).toMatch(/ConfigMap web\/shared: refused by rule owned-by-app: owned by app billing/);
    expect(kube.objects.get(cmKey("shared"))).toEqual(theirs);
    expect(kube.objects.has(cmKey("mine"))).toBe(false);
  });

  it("names an unknown kind and a failing dry run in one report", async () => {
    const kube = fakeKube();
    kube.fail = (op, ref) =>
      op === "dryRun" && ref.name === "bad"
        ? new KubeApiError(422, "Invalid", "unknown field replicaz", "PATCH", "")
        : undefined;
    const widget = "apiVersion: nope.example.com/v1\nkind: Widget\nmetadata:\n  name: w1\n";
    const t = setup({ [R1]: `${configMaps(["ok", "bad"])}---\n${widget}` }, kube);
    t.c.offer(sealed(1, R1));
    await vi.waitFor(() => expect(t.failed(1)).toBeDefined());
    const error = t.failed(1)?.error;
    expect(error?.code).toBe(ErrorCode.ERROR_CODE_VALIDATION_FAILED);
    expect(error?.objects?.map((o) => `${o.ref?.kind}/${o.ref?.name}: ${o.message}`)).toEqual([
      "Widget/w1: no kind Widget is served in nope.example.com/v1; install its CRD or fix apiVersion/kind",
      "ConfigMap/bad: unknown field replicaz",
    ]);
    expect(kube.objects.has(cmKey("ok"))).toBe(false);
  });

  it("takes over an unlabelled object only when the app adopts", async () => {
    const kube = fakeKube();
    kube.put({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "legacy", namespace: "web" },
      data: { k: "old" },
    });
    const t = setup({ [R1]: configMaps(["legacy"]) }, kube);
    t.c.offer(sealed(1, R1));
    await vi.waitFor(() => expect(t.failed(1)?.error?.code).toBe(ErrorCode.ERROR_CODE_OWNERSHIP_CONFLICT));
    t.c.offer(sealed(2, R1, { adopt: true }));
    await vi.waitFor(() => expect(t.synced(2)).toBe(true));
    expect(kube.objects.get(cmKey("legacy"))?.metadata.labels?.[APP_LABEL]).toBe(APP);
    expect(t.inventory().objects.map((r) => r.name)).toEqual(["legacy"]);
  });
});
