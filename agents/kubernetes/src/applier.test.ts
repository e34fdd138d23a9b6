import { describe, expect, it } from "vitest";
import { Applier } from "./applier.js";
import { ApplyError, KubeApiError, PruneError, ValidationError } from "./errors.js";
import { APP_LABEL, type KubeObject, MANAGED_BY_LABEL, type Ref, refKey, refOf } from "./objects.js";
import { FakeKube } from "./testing/fake-kube.js";

const labelled = (obj: KubeObject, app: string): KubeObject => ({
  ...obj,
  metadata: { ...obj.metadata, labels: { [MANAGED_BY_LABEL]: "flotilla", [APP_LABEL]: app } },
});
const cm = (name: string, namespace = "web"): KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace },
  data: { k: "v" },
});
const ns = (name: string): KubeObject => ({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
const forbidden = () => new KubeApiError(403, "Forbidden", "refused", "POST", "/api/v1/namespaces");
const busy = () => new KubeApiError(503, "ServiceUnavailable", "busy", "POST", "/api/v1/namespaces");

describe("Applier.createNamespaces", () => {
  it("creates the missing ones only, labelled for Flotilla and annotated with the app", async () => {
    const kube = new FakeKube();
    kube.put(ns("default"));
    expect(await new Applier(kube, 4).createNamespaces(["default", "guestbook"], "web")).toEqual(["guestbook"]);
    const created = kube.objects.get(refKey(refOf(ns("guestbook"))));
    expect([created?.metadata.labels, created?.metadata.annotations]).toEqual([
      { "app.kubernetes.io/managed-by": "flotilla" },
      { "flotilla.dev/created-for-app": "web" },
    ]);
  });

  it("names a namespace it may not create, as a terminal validation failure", async () => {
    const kube = new FakeKube();
    kube.fail = (op) => (op === "create" ? forbidden() : undefined);
    const err = await new Applier(kube, 4).createNamespaces(["guestbook"], "web").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).retryable).toBe(false);
    expect((err as ValidationError).message).toMatch(
      /Namespace guestbook: namespace guestbook does not exist.*create it/,
    );
  });

  it("retries when the API server fails", async () => {
    const kube = new FakeKube();
    kube.fail = (op) => (op === "create" ? busy() : undefined);
    const err = await new Applier(kube, 4).createNamespaces(["guestbook"], "web").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplyError);
    expect((err as ApplyError).retryable).toBe(true);
  });
});

describe("Applier.validate and apply", () => {
  it("dry-runs everything but the deferred objects, and names every failure", async () => {
    const kube = new FakeKube();
    kube.fail = (op, ref) =>
      op === "dryRun" && ref.name !== "ok"
        ? new KubeApiError(422, "Invalid", `bad ${ref.name}`, "PATCH", "")
        : undefined;
    const set = { apply: [cm("ok"), cm("bad1"), cm("bad2"), cm("later")], deferred: [refKey(refOf(cm("later")))] };
    const err = await new Applier(kube, 4).validate(set).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).objects.map((o) => o.message)).toEqual(["bad bad1", "bad bad2"]);
    expect(kube.calls.filter((c) => c.startsWith("apply"))).toEqual([]);
  });

  it("applies Namespaces first, then dry-runs the objects that waited for them, then the rest", async () => {
    const kube = new FakeKube();
    const set = { apply: [ns("web-a"), cm("a", "web-a"), cm("b")], deferred: [refKey(refOf(cm("a", "web-a")))] };
    const bootstrapped: Ref[][] = [];
    await new Applier(kube, 1).apply(set, (refs) => bootstrapped.push(refs));
    expect(kube.calls).toEqual([
      "apply Namespace /web-a",
      "dryRun ConfigMap web-a/a",
      "apply ConfigMap web-a/a",
      "apply ConfigMap web/b",
    ]);
    expect(bootstrapped.map((refs) => refs.map((r) => r.name))).toEqual([["web-a"]]);
  });

  it("stops after the Namespaces when an object that waited for them fails its dry run", async () => {
    const kube = new FakeKube();
    kube.fail = (op, ref) =>
      op === "dryRun" ? new KubeApiError(422, "Invalid", `bad ${ref.name}`, "PATCH", "") : undefined;
    const set = { apply: [ns("web-a"), cm("a", "web-a"), cm("b")], deferred: [refKey(refOf(cm("a", "web-a")))] };
    const err = await new Applier(kube, 1).apply(set).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect(kube.has(refOf(cm("b")))).toBe(false);
  });
});

describe("Applier.prune", () => {
  it("decides again on the live object: deletes only what is still the app's", async () => {
    const kube = new FakeKube();
    kube.put(labelled(cm("mine"), "web"));
    kube.put(labelled(cm("taken"), "billing"));
    const decisions = await new Applier(kube, 4).prune(
      [
        { action: "delete", ref: refOf(cm("mine")) },
        { action: "delete", ref: refOf(cm("taken")) },
        { action: "delete", ref: refOf(cm("vanished")) },
        { action: "skip", ref: refOf(cm("other")), reason: "not ours" },
      ],
      "web",
    );
    expect(decisions.map((d) => `${d.action} ${d.ref.name}`).sort()).toEqual([
      "delete mine",
      "gone vanished",
      "skip other",
      "skip taken",
    ]);
    expect(kube.has(refOf(cm("mine")))).toBe(false);
    expect(kube.has(refOf(cm("taken")))).toBe(true);
  });

  it("deletes namespaced objects before their Namespace, and reports failed deletes after trying all", async () => {
    const kube = new FakeKube();
    kube.put(labelled(ns("web-a"), "web"));
    kube.put(labelled(cm("a", "web-a"), "web"));
    kube.put(labelled(cm("b", "web-a"), "web"));
    kube.fail = (op, ref) => (op === "delete" && ref.name === "a" ? busy() : undefined);
    const err = await new Applier(kube, 1)
      .prune(
        [ns("web-a"), cm("a", "web-a"), cm("b", "web-a")].map((o) => ({ action: "delete" as const, ref: refOf(o) })),
        "web",
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PruneError);
    expect(kube.calls.filter((c) => c.startsWith("delete"))).toEqual([
      "delete ConfigMap web-a/a",
      "delete ConfigMap web-a/b",
      "delete Namespace /web-a",
    ]);
  });
});
