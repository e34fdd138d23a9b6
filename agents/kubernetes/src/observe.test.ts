import { describe, expect, it } from "vitest";
import { KubeApiError } from "./errors.js";
import { APP_LABEL, type KubeObject, MANAGED_BY_LABEL, namespaceRef, type Ref, refKey } from "./objects.js";
import { LIST_THRESHOLD, Observer } from "./observe.js";
import { scopeKey } from "./plan.js";
import { FakeKube } from "./testing/fake-kube.js";

const cm = (name: string, namespace?: string): KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: namespace ? { name, namespace } : { name },
});
const cmRef = (name: string, namespace: string): Ref => ({
  group: "",
  version: "v1",
  kind: "ConfigMap",
  namespace,
  name,
});
const gadget: KubeObject = { apiVersion: "gadgets.example.com/v1", kind: "Gadget", metadata: { name: "g" } };

describe("Observer", () => {
  it("reports scopes, and the headers of the set, its namespaces and the previous inventory", async () => {
    const kube = new FakeKube();
    kube.put({ apiVersion: "v1", kind: "Namespace", metadata: { name: "web" } });
    kube.put({
      ...cm("a", "web"),
      metadata: { name: "a", namespace: "web", labels: { [MANAGED_BY_LABEL]: "flotilla", [APP_LABEL]: "web" } },
    });
    const facts = await new Observer(kube, 4).observe([cm("a"), gadget], "web", [cmRef("old", "web")]);
    expect([...facts.scopes.entries()]).toEqual([[scopeKey("v1", "ConfigMap"), "namespaced"]]);
    expect(Object.fromEntries(facts.live)).toEqual({
      [refKey(cmRef("a", "web"))]: {
        state: "present",
        meta: { labels: { [MANAGED_BY_LABEL]: "flotilla", [APP_LABEL]: "web" }, annotations: {} },
      },
      [refKey(namespaceRef("web"))]: { state: "present", meta: { labels: {}, annotations: {} } },
      [refKey(cmRef("old", "web"))]: { state: "absent" },
    });
    // Only metadata is read, and nothing of a kind the API server does not serve.
    expect(kube.calls.every((c) => c.startsWith("getMetadata "))).toBe(true);
    expect(kube.calls.some((c) => c.includes("Gadget"))).toBe(false);
  });

  it("lists a kind once per namespace when the set has many of it there", async () => {
    const kube = new FakeKube();
    const many = Array.from({ length: LIST_THRESHOLD }, (_, i) => cm(`c${i}`));
    kube.put(cm("c0", "web"));
    const facts = await new Observer(kube, 4).observe([...many, cm("x", "web-2")], "web", []);
    expect(kube.calls.filter((c) => c.startsWith("listMetadata"))).toEqual(["listMetadata ConfigMap web"]);
    expect(kube.calls.filter((c) => c.startsWith("getMetadata ConfigMap"))).toEqual(["getMetadata ConfigMap web-2/x"]);
    expect(facts.live.get(refKey(cmRef("c0", "web")))?.state).toBe("present");
    expect(facts.live.get(refKey(cmRef("c1", "web")))?.state).toBe("absent");
  });

  it("reads one by one when it may not list, and marks what it may not read", async () => {
    const kube = new FakeKube();
    kube.fail = (op, ref) =>
      op === "list" || (op === "get" && ref.name === "secret-ish")
        ? new KubeApiError(403, "Forbidden", "no", "GET", "")
        : undefined;
    const many = [...Array.from({ length: LIST_THRESHOLD - 1 }, (_, i) => cm(`c${i}`)), cm("secret-ish")];
    const facts = await new Observer(kube, 4).observe(many, "web", []);
    expect(kube.calls.filter((c) => c.startsWith("getMetadata ConfigMap"))).toHaveLength(LIST_THRESHOLD);
    expect(facts.live.get(refKey(cmRef("secret-ish", "web")))).toEqual({ state: "unreadable" });
    expect(facts.live.get(refKey(cmRef("c0", "web")))).toEqual({ state: "absent" });
  });

  it("fails the reconcile, retryably, when the API server fails a read", async () => {
    const kube = new FakeKube();
    kube.fail = (op) => (op === "get" ? new KubeApiError(503, "ServiceUnavailable", "busy", "GET", "") : undefined);
    const err = await new Observer(kube, 4).observe([cm("a")], "web", []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).retryable).toBe(true);
  });
});
