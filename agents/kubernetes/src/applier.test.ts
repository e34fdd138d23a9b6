import { describe, expect, it } from "vitest";
import { Applier, type PreparedSet } from "./applier.js";
import { ApplyError, KubeApiError, ValidationError } from "./errors.js";
import type { KubeClient } from "./kube-client.js";
import type { KubeObject, Ref } from "./objects.js";

/** A KubeClient that knows only Namespaces: `existing` exist, creating one may fail with a status. */
function fakeKube(existing: string[], opts: { createStatus?: number; getStatus?: number } = {}) {
  const names = new Set(existing);
  const created: KubeObject[] = [];
  const kube = {
    async get(ref: Ref): Promise<KubeObject | undefined> {
      if (opts.getStatus) throw new KubeApiError(opts.getStatus, "Forbidden", "no", "GET", ref.name);
      return names.has(ref.name) ? { apiVersion: "v1", kind: "Namespace", metadata: { name: ref.name } } : undefined;
    },
    async create(obj: KubeObject): Promise<boolean> {
      if (opts.createStatus) throw new KubeApiError(opts.createStatus, "Nope", "refused", "POST", "/api/v1/namespaces");
      if (names.has(obj.metadata.name)) return false;
      names.add(obj.metadata.name);
      created.push(obj);
      return true;
    },
  };
  return { kube: kube as unknown as KubeClient, created };
}

const set = (namespaces: string[]): PreparedSet => ({ objects: [], deferred: new Set(), app: "web", namespaces });

describe("Applier.ensureNamespaces", () => {
  it("creates the missing ones only, labelled for Flotilla and annotated with the app", async () => {
    const { kube, created } = fakeKube(["default"]);
    expect(await new Applier(kube, 4).ensureNamespaces(set(["default", "guestbook"]))).toEqual(["guestbook"]);
    expect(created.map((o) => [o.metadata.name, o.metadata.labels, o.metadata.annotations])).toEqual([
      ["guestbook", { "app.kubernetes.io/managed-by": "flotilla" }, { "flotilla.dev/created-for-app": "web" }],
    ]);
  });

  it("names a namespace it may not create, as a terminal validation failure", async () => {
    const { kube } = fakeKube([], { createStatus: 403 });
    const err = await new Applier(kube, 4).ensureNamespaces(set(["guestbook"])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).retryable).toBe(false);
    expect((err as ValidationError).message).toMatch(
      /Namespace guestbook: namespace guestbook does not exist.*create it/,
    );
  });

  it("retries when the API server fails", async () => {
    const { kube } = fakeKube([], { createStatus: 503 });
    const err = await new Applier(kube, 4).ensureNamespaces(set(["guestbook"])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplyError);
    expect((err as ApplyError).retryable).toBe(true);
  });

  it("leaves a namespace it may not read to the dry run", async () => {
    const { kube, created } = fakeKube([], { getStatus: 403 });
    expect(await new Applier(kube, 4).ensureNamespaces(set(["team"]))).toEqual([]);
    expect(created).toEqual([]);
  });
});

describe("Applier.prepare", () => {
  /** A KubeClient serving ConfigMaps (namespaced) in namespaces that all exist; every dry run passes. */
  function configMapKube() {
    const applied: KubeObject[] = [];
    const kube = {
      async mapping(_apiVersion: string, kind: string) {
        return kind === "ConfigMap" ? { resource: "configmaps", namespaced: true } : undefined;
      },
      async get(ref: Ref): Promise<KubeObject | undefined> {
        return { apiVersion: "v1", kind: ref.kind, metadata: { name: ref.name } };
      },
      async apply(obj: KubeObject, dryRun?: boolean): Promise<KubeObject> {
        if (!dryRun) applied.push(obj);
        return obj;
      },
    };
    return { kube: kube as unknown as KubeClient, applied };
  }
  const configMap = (namespace: string, name: string): KubeObject => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, namespace },
    data: { app: "{}" },
  });

  it("refuses an app's object that would overwrite an agent inventory, naming it", async () => {
    const { kube, applied } = configMapKube();
    const err = await new Applier(kube, 4, "flotilla-system")
      .prepare([configMap("web", "settings"), configMap("flotilla-system", "flotilla-inventory-billing")], "web", "web")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    const objects = (err as ValidationError).objects;
    expect(objects.map((o) => `${o.ref?.namespace}/${o.ref?.name}`)).toEqual([
      "flotilla-system/flotilla-inventory-billing",
    ]);
    expect(objects[0]?.message).toMatch(/agent's own inventories/);
    expect(applied).toEqual([]);
  });

  it("lets an app write other ConfigMaps, in the agent's namespace too", async () => {
    const { kube } = configMapKube();
    const set = await new Applier(kube, 4, "flotilla-system").prepare(
      [configMap("flotilla-system", "agent-settings"), configMap("web", "flotilla-inventory-notes")],
      "web",
      "web",
    );
    expect(set.objects.map((o) => o.metadata.name).sort()).toEqual(["agent-settings", "flotilla-inventory-notes"]);
  });
});
