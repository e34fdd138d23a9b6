import { type EffectivePolicy, ErrorCode } from "@flotilla/proto";
import { describe, expect, it } from "vitest";
import { ManifestError, RefusedError } from "./errors.js";
import type { PruneDecision } from "./inventory.js";
import {
  APP_LABEL,
  CREATED_FOR_ANNOTATION,
  type KubeObject,
  MANAGED_BY_LABEL,
  type ObjectMeta,
  type Ref,
  refKey,
  refOf,
} from "./objects.js";
import { type LiveState, type Plan, type PlanInput, plan, refusedError, type Scope, scopeKey } from "./plan.js";

const APP = "web";
const AGENT_NS = "flotilla-system";
const WEB_POLICY: EffectivePolicy = { team: "web", namespaces: ["web", "web-*"], clusterResources: [] };

const SCOPES = new Map<string, Scope>([
  [scopeKey("v1", "Namespace"), "cluster"],
  [scopeKey("v1", "ConfigMap"), "namespaced"],
  [scopeKey("v1", "Secret"), "namespaced"],
  [scopeKey("apps/v1", "Deployment"), "namespaced"],
  [scopeKey("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"), "cluster"],
  [scopeKey("apiextensions.k8s.io/v1", "CustomResourceDefinition"), "cluster"],
]);

const meta = (name: string, namespace?: string): KubeObject["metadata"] =>
  namespace === undefined ? { name } : { name, namespace };
const cm = (name: string, namespace?: string): KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: meta(name, namespace),
  data: { k: "v" },
});
const secret = (name: string, namespace?: string): KubeObject => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: meta(name, namespace),
});
const deploy = (name: string, namespace?: string): KubeObject => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: meta(name, namespace),
  spec: {},
});
const ns = (name: string): KubeObject => ({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
const crb = (name: string): KubeObject => ({
  apiVersion: "rbac.authorization.k8s.io/v1",
  kind: "ClusterRoleBinding",
  metadata: { name },
  roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
});
const crd = (scope: "Namespaced" | "Cluster"): KubeObject => ({
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "gadgets.gadgets.example.com" },
  spec: { group: "gadgets.example.com", scope, names: { kind: "Gadget", plural: "gadgets" } },
});
const gadget = (name: string, namespace?: string): KubeObject => ({
  apiVersion: "gadgets.example.com/v1",
  kind: "Gadget",
  metadata: meta(name, namespace),
});
const widget = (name: string): KubeObject => ({
  apiVersion: "widgets.example.com/v1",
  kind: "Widget",
  metadata: { name },
});

type Meta = Pick<ObjectMeta, "labels" | "annotations">;
/** Live metadata of an object applied by Flotilla for `app`. */
const ownedBy = (app: string): Meta => ({ labels: { [MANAGED_BY_LABEL]: "flotilla", [APP_LABEL]: app } });
/** Live metadata of a Namespace Flotilla created because `app` used it. */
const createdFor = (app: string): Meta => ({
  labels: { [MANAGED_BY_LABEL]: "flotilla" },
  annotations: { [CREATED_FOR_ANNOTATION]: app },
});
/** Live metadata of something a person made. */
const unlabelled: Meta = { labels: { team: "a" } };

/** A live object: the object (for its ref) and its metadata, or "unreadable". */
type Live = [KubeObject, Meta | "unreadable"];

const ref = (obj: KubeObject): Ref => refOf(obj);

/** `Kind ns/name`, or `Kind name` for cluster-scoped objects. */
function show(r: Pick<Ref, "kind" | "namespace" | "name">): string {
  return r.namespace ? `${r.kind} ${r.namespace}/${r.name}` : `${r.kind} ${r.name}`;
}

interface Summary {
  namespaces: string[];
  create: string[];
  apply: string[];
  deferred: string[];
  inventory: string[];
  prune: string[];
  retain: string[];
  refused: string[];
}

/** Every field of a plan, in a form a table can spell out. */
function summarize(p: Plan): Summary {
  const byKey = new Map(p.apply.map((o) => [refKey(refOf(o)), show(refOf(o))]));
  return {
    namespaces: p.namespaces,
    create: p.createNamespaces,
    apply: p.apply.map((o) => show(refOf(o))),
    deferred: p.deferred.map((k) => byKey.get(k) ?? `? ${k}`),
    inventory: p.inventory.map(show),
    prune: p.prune.map((d: PruneDecision) => `${d.action} ${show(d.ref)}`),
    retain: p.retain.map(show),
    refused: p.refusals.map((r) => `${show(r.ref)}: ${r.rule}`),
  };
}

interface Case {
  name: string;
  rendered: KubeObject[];
  live?: Live[];
  inventory?: KubeObject[];
  policy?: EffectivePolicy;
  target?: string;
  adopt?: boolean;
  prune?: boolean;
  want: Partial<Summary>;
}

function inputOf(c: Case): PlanInput {
  const live = new Map<string, LiveState>();
  for (const [obj, m] of c.live ?? []) {
    live.set(refKey(ref(obj)), m === "unreadable" ? { state: "unreadable" } : { state: "present", meta: m });
  }
  return {
    app: APP,
    targetNamespace: c.target ?? "web",
    agentNamespace: AGENT_NS,
    policy: c.policy ?? WEB_POLICY,
    adopt: c.adopt ?? false,
    prune: c.prune ?? true,
    rendered: c.rendered,
    inventory: (c.inventory ?? []).map(ref),
    facts: { scopes: SCOPES, live },
  };
}

const EMPTY: Summary = {
  namespaces: [],
  create: [],
  apply: [],
  deferred: [],
  inventory: [],
  prune: [],
  retain: [],
  refused: [],
};

/** The web namespace exists (made by a person): most cases start there. */
const WEB_EXISTS: Live = [ns("web"), unlabelled];

const TAKEOVER_POLICY: EffectivePolicy = { team: "b", namespaces: ["b", "b-*"], clusterResources: [] };

const cases: Case[] = [
  // --- order and placement
  {
    name: "an empty set still needs its target namespace, created when missing",
    rendered: [],
    want: { namespaces: ["web"], create: ["web"] },
  },
  {
    name: "an existing target namespace is used as it is, whoever made it",
    rendered: [cm("a")],
    live: [WEB_EXISTS],
    want: { namespaces: ["web"], apply: ["ConfigMap web/a"], inventory: ["ConfigMap web/a"] },
  },
  {
    name: "namespaced objects without a namespace go to the target namespace",
    rendered: [cm("a"), deploy("d", "web-x")],
    live: [WEB_EXISTS, [ns("web-x"), unlabelled]],
    want: {
      namespaces: ["web", "web-x"],
      apply: ["ConfigMap web/a", "Deployment web-x/d"],
      inventory: ["ConfigMap web/a", "Deployment web-x/d"],
    },
  },
  {
    name: "Namespaces first, then CRDs, then the rest in rendered order",
    rendered: [cm("z"), gadget("g"), crd("Namespaced"), deploy("d"), ns("web-new")],
    live: [WEB_EXISTS],
    policy: { ...WEB_POLICY, clusterResources: ["CustomResourceDefinition.apiextensions.k8s.io"] },
    want: {
      namespaces: ["web"],
      apply: [
        "Namespace web-new",
        "CustomResourceDefinition gadgets.gadgets.example.com",
        "ConfigMap web/z",
        "Gadget web/g",
        "Deployment web/d",
      ],
      deferred: ["Gadget web/g"],
      inventory: [
        "Namespace web-new",
        "CustomResourceDefinition gadgets.gadgets.example.com",
        "ConfigMap web/z",
        "Gadget web/g",
        "Deployment web/d",
      ],
    },
  },
  {
    name: "a cluster-scoped object loses a namespace it names",
    rendered: [{ ...ns("web-a"), metadata: { name: "web-a", namespace: "web" } }],
    live: [WEB_EXISTS],
    want: { namespaces: ["web"], apply: ["Namespace web-a"], inventory: ["Namespace web-a"] },
  },
  {
    name: "without a target namespace, objects go to default (which the policy must allow)",
    rendered: [cm("a")],
    target: "",
    policy: { team: "web", namespaces: ["default"], clusterResources: [] },
    live: [[ns("default"), unlabelled]],
    want: { namespaces: ["default"], apply: ["ConfigMap default/a"], inventory: ["ConfigMap default/a"] },
  },
  {
    name: "objects in a Namespace of the set that does not exist yet wait for it before their dry run",
    rendered: [cm("a", "web-new"), ns("web-new"), cm("b")],
    live: [WEB_EXISTS],
    want: {
      namespaces: ["web"],
      apply: ["Namespace web-new", "ConfigMap web-new/a", "ConfigMap web/b"],
      deferred: ["ConfigMap web-new/a"],
      inventory: ["Namespace web-new", "ConfigMap web-new/a", "ConfigMap web/b"],
    },
  },
  {
    name: "a custom resource whose CRD is in the set waits for it, placed by the CRD's scope",
    rendered: [gadget("g"), crd("Namespaced")],
    live: [WEB_EXISTS],
    policy: { ...WEB_POLICY, clusterResources: ["*.apiextensions.k8s.io"] },
    want: {
      namespaces: ["web"],
      apply: ["CustomResourceDefinition gadgets.gadgets.example.com", "Gadget web/g"],
      deferred: ["Gadget web/g"],
      inventory: ["CustomResourceDefinition gadgets.gadgets.example.com", "Gadget web/g"],
    },
  },
  {
    name: "a kind neither served nor defined by a CRD of the set is refused",
    rendered: [widget("w"), cm("a")],
    live: [WEB_EXISTS],
    want: { refused: ["Widget w: unknown-kind"] },
  },
  // --- namespaces
  {
    name: "a Namespace the set defines and that does not exist is the app's: in its inventory",
    rendered: [ns("web-a"), cm("a", "web-a")],
    live: [WEB_EXISTS],
    want: {
      namespaces: ["web"],
      apply: ["Namespace web-a", "ConfigMap web-a/a"],
      deferred: ["ConfigMap web-a/a"],
      inventory: ["Namespace web-a", "ConfigMap web-a/a"],
    },
  },
  {
    name: "a Namespace the app created earlier stays in its inventory",
    rendered: [ns("web-a")],
    live: [WEB_EXISTS, [ns("web-a"), ownedBy("web")]],
    inventory: [ns("web-a")],
    want: { namespaces: ["web"], apply: ["Namespace web-a"], inventory: ["Namespace web-a"] },
  },
  {
    name: "a Namespace labelled for the app but missing from its inventory is applied and never listed",
    rendered: [ns("web-a")],
    live: [WEB_EXISTS, [ns("web-a"), ownedBy("web")]],
    want: { namespaces: ["web"], apply: ["Namespace web-a"] },
  },
  {
    name: "a Namespace Flotilla created for this app may be defined by it, and is never listed",
    rendered: [ns("web")],
    live: [[ns("web"), createdFor("web")]],
    want: { apply: ["Namespace web"] },
  },
  {
    name: "a Namespace Flotilla created for another app is refused, naming it",
    rendered: [ns("web-shared")],
    live: [WEB_EXISTS, [ns("web-shared"), createdFor("billing")]],
    want: { refused: ["Namespace web-shared: owned-by-app"] },
  },
  {
    name: "an existing Namespace nobody created through Flotilla is refused without adopt",
    rendered: [ns("web")],
    live: [WEB_EXISTS],
    want: { refused: ["Namespace web: not-created-by-flotilla"] },
  },
  {
    name: "with adopt, an existing Namespace is applied but never enters the inventory",
    rendered: [ns("web")],
    live: [WEB_EXISTS],
    adopt: true,
    want: { apply: ["Namespace web"] },
  },
  {
    name: "a Namespace another app owns is refused even inside the policy",
    rendered: [ns("web-a")],
    live: [WEB_EXISTS, [ns("web-a"), ownedBy("billing")]],
    want: { refused: ["Namespace web-a: owned-by-app"] },
  },
  {
    name: "a target namespace outside the policy is refused as a Namespace",
    rendered: [ns("web-x")],
    target: "shop",
    want: { refused: ["Namespace shop: namespaces"] },
  },
  {
    name: "a target namespace outside the policy is named once, with the objects placed in it",
    rendered: [cm("a"), cm("b")],
    target: "shop",
    want: { refused: ["ConfigMap shop/a: namespaces", "ConfigMap shop/b: namespaces"] },
  },
  {
    name: "an implicit namespace the agent may not read is assumed to exist",
    rendered: [cm("a")],
    live: [[ns("web"), "unreadable"]],
    want: { namespaces: ["web"], apply: ["ConfigMap web/a"], inventory: ["ConfigMap web/a"] },
  },
  // --- prune
  {
    name: "an object the revision dropped and the app still owns is deleted",
    rendered: [cm("a")],
    live: [WEB_EXISTS, [cm("a", "web"), ownedBy("web")], [cm("old", "web"), ownedBy("web")]],
    inventory: [cm("a", "web"), cm("old", "web")],
    want: {
      namespaces: ["web"],
      apply: ["ConfigMap web/a"],
      inventory: ["ConfigMap web/a"],
      prune: ["delete ConfigMap web/old"],
    },
  },
  {
    name: "a dropped object already gone is noted, not deleted",
    rendered: [],
    live: [WEB_EXISTS],
    inventory: [cm("old", "web")],
    want: { namespaces: ["web"], prune: ["gone ConfigMap web/old"] },
  },
  {
    name: "a dropped object that another app now owns is left alone",
    rendered: [],
    live: [WEB_EXISTS, [cm("old", "web"), ownedBy("billing")]],
    inventory: [cm("old", "web")],
    want: { namespaces: ["web"], prune: ["skip ConfigMap web/old"] },
  },
  {
    name: "a dropped object whose labels a person removed is left alone",
    rendered: [],
    live: [WEB_EXISTS, [cm("old", "web"), unlabelled]],
    inventory: [cm("old", "web")],
    want: { namespaces: ["web"], prune: ["skip ConfigMap web/old"] },
  },
  {
    name: "a dropped object the agent may not read is left alone",
    rendered: [],
    live: [WEB_EXISTS, [cm("old", "web"), "unreadable"]],
    inventory: [cm("old", "web")],
    want: { namespaces: ["web"], prune: ["skip ConfigMap web/old"] },
  },
  {
    name: "with prune off, dropped objects stay listed for a later prune",
    rendered: [cm("a")],
    live: [WEB_EXISTS, [cm("old", "web"), ownedBy("web")]],
    inventory: [cm("old", "web")],
    prune: false,
    want: {
      namespaces: ["web"],
      apply: ["ConfigMap web/a"],
      inventory: ["ConfigMap web/a"],
      retain: ["ConfigMap web/old"],
    },
  },
  {
    name: "a dropped Namespace the set's objects still live in is kept and forgotten, never deleted",
    rendered: [cm("a", "web-a")],
    live: [WEB_EXISTS, [ns("web-a"), ownedBy("web")]],
    inventory: [ns("web-a")],
    want: { namespaces: ["web", "web-a"], apply: ["ConfigMap web-a/a"], inventory: ["ConfigMap web-a/a"] },
  },
  {
    name: "a dropped Namespace the app created and no longer uses is deleted (the applier deletes it after the objects)",
    rendered: [],
    live: [WEB_EXISTS, [ns("web-a"), ownedBy("web")], [cm("x", "web-a"), ownedBy("web")]],
    inventory: [ns("web-a"), cm("x", "web-a")],
    want: { namespaces: ["web"], prune: ["delete Namespace web-a", "delete ConfigMap web-a/x"] },
  },
  {
    name: "an object kept by the revision is never a prune candidate",
    rendered: [cm("a"), cm("b")],
    live: [WEB_EXISTS, [cm("a", "web"), ownedBy("web")], [cm("b", "web"), ownedBy("web")]],
    inventory: [cm("a", "web"), cm("b", "web")],
    want: {
      namespaces: ["web"],
      apply: ["ConfigMap web/a", "ConfigMap web/b"],
      inventory: ["ConfigMap web/a", "ConfigMap web/b"],
    },
  },
  // --- ownership
  {
    name: "an object the app applied before is applied again",
    rendered: [deploy("api")],
    live: [WEB_EXISTS, [deploy("api", "web"), ownedBy("web")]],
    inventory: [deploy("api", "web")],
    want: { namespaces: ["web"], apply: ["Deployment web/api"], inventory: ["Deployment web/api"] },
  },
  {
    name: "an object another app owns is refused, and nothing else is applied",
    rendered: [cm("a"), deploy("api")],
    live: [WEB_EXISTS, [deploy("api", "web"), ownedBy("billing")]],
    want: { refused: ["Deployment web/api: owned-by-app"] },
  },
  {
    name: "an existing object nobody created through Flotilla is refused without adopt",
    rendered: [deploy("api")],
    live: [WEB_EXISTS, [deploy("api", "web"), unlabelled]],
    want: { refused: ["Deployment web/api: not-created-by-flotilla"] },
  },
  {
    name: "with adopt, an existing unlabelled object is taken over and listed",
    rendered: [deploy("api")],
    live: [WEB_EXISTS, [deploy("api", "web"), unlabelled]],
    adopt: true,
    want: { namespaces: ["web"], apply: ["Deployment web/api"], inventory: ["Deployment web/api"] },
  },
  {
    name: "adopt never takes an object another app owns",
    rendered: [deploy("api")],
    live: [WEB_EXISTS, [deploy("api", "web"), ownedBy("billing")]],
    adopt: true,
    want: { refused: ["Deployment web/api: owned-by-app"] },
  },
  {
    name: "an app label without Flotilla's managed-by label is not Flotilla's",
    rendered: [cm("a")],
    live: [WEB_EXISTS, [cm("a", "web"), { labels: { [APP_LABEL]: "web" } }]],
    want: { refused: ["ConfigMap web/a: not-created-by-flotilla"] },
  },
  {
    name: "an object the agent may not read is left to the dry run",
    rendered: [cm("a")],
    live: [WEB_EXISTS, [cm("a", "web"), "unreadable"]],
    want: { namespaces: ["web"], apply: ["ConfigMap web/a"], inventory: ["ConfigMap web/a"] },
  },
  {
    name: "a refusal also stops every prune",
    rendered: [deploy("api")],
    live: [WEB_EXISTS, [deploy("api", "web"), ownedBy("billing")], [cm("old", "web"), ownedBy("web")]],
    inventory: [cm("old", "web")],
    want: { refused: ["Deployment web/api: owned-by-app"] },
  },
  // --- policy
  {
    name: "anything in the agent's own namespace is refused, whatever the policy allows",
    rendered: [secret("flotilla-agent-bootstrap", AGENT_NS), cm("flotilla-inventory-billing", AGENT_NS)],
    live: [WEB_EXISTS],
    policy: { team: "web", namespaces: ["*"], clusterResources: ["*"] },
    want: {
      refused: [
        "Secret flotilla-system/flotilla-agent-bootstrap: agent-namespace",
        "ConfigMap flotilla-system/flotilla-inventory-billing: agent-namespace",
      ],
    },
  },
  {
    name: "the agent's Namespace object itself is refused",
    rendered: [ns(AGENT_NS)],
    policy: { team: "web", namespaces: ["*"], clusterResources: [] },
    live: [WEB_EXISTS],
    want: { refused: ["Namespace flotilla-system: agent-namespace"] },
  },
  {
    name: "a target namespace that is the agent's own refuses every object placed there",
    rendered: [cm("a")],
    target: AGENT_NS,
    policy: { team: "web", namespaces: ["*"], clusterResources: [] },
    want: { refused: ["ConfigMap flotilla-system/a: agent-namespace"] },
  },
  {
    name: "a namespaced object outside the team's namespaces is refused",
    rendered: [cm("a"), cm("leak", "kube-system")],
    live: [WEB_EXISTS],
    want: { refused: ["ConfigMap kube-system/leak: namespaces"] },
  },
  {
    name: "a cluster-scoped kind the team may not hold is refused",
    rendered: [crb("admin")],
    live: [WEB_EXISTS],
    want: { refused: ["ClusterRoleBinding admin: cluster-resources"] },
  },
  {
    name: "a cluster-scoped kind the team's globs allow is applied",
    rendered: [crb("web-reader")],
    live: [WEB_EXISTS],
    policy: { ...WEB_POLICY, clusterResources: ["*.rbac.authorization.k8s.io"] },
    want: {
      namespaces: ["web"],
      apply: ["ClusterRoleBinding web-reader"],
      inventory: ["ClusterRoleBinding web-reader"],
    },
  },
  {
    name: "a custom resource of a cluster-scoped CRD of the set is a cluster kind to the policy",
    rendered: [crd("Cluster"), gadget("g")],
    live: [WEB_EXISTS],
    policy: { ...WEB_POLICY, clusterResources: ["CustomResourceDefinition.apiextensions.k8s.io"] },
    want: { refused: ["Gadget g: cluster-resources"] },
  },
  {
    name: "policy checks come before ownership: another team's namespace is named for the policy",
    rendered: [cm("x", "team-a")],
    live: [WEB_EXISTS, [cm("x", "team-a"), ownedBy("a")]],
    want: { refused: ["ConfigMap team-a/x: namespaces"] },
  },
  {
    name: "the takeover revision: four objects refused with their rules, nothing applied",
    rendered: [
      cm("b-config"),
      ns("team-a"),
      crb("b-is-admin"),
      secret("flotilla-agent-bootstrap", AGENT_NS),
      cm("coredns-patch", "kube-system"),
    ],
    target: "b",
    policy: TAKEOVER_POLICY,
    live: [
      [ns("b"), createdFor("b-app")],
      [ns("team-a"), ownedBy("a")],
    ],
    inventory: [cm("b-old", "b")],
    want: {
      refused: [
        "Namespace team-a: namespaces",
        "ClusterRoleBinding b-is-admin: cluster-resources",
        "Secret flotilla-system/flotilla-agent-bootstrap: agent-namespace",
        "ConfigMap kube-system/coredns-patch: namespaces",
      ],
    },
  },
  {
    name: "a desired state without a policy (an older hub) allows only its target namespace",
    rendered: [cm("a"), cm("b", "web-x"), crb("r")],
    live: [WEB_EXISTS],
    policy: { team: "", namespaces: ["web"], clusterResources: [] },
    want: { refused: ["ConfigMap web-x/b: namespaces", "ClusterRoleBinding r: cluster-resources"] },
  },
];

describe("plan", () => {
  it("has a table of at least 30 cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  it.each(cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    expect(summarize(plan(inputOf(c)))).toEqual({ ...EMPTY, ...c.want });
  });

  it("labels every applied object for the app and keeps the rest of it as rendered", () => {
    const p = plan(inputOf({ name: "", rendered: [cm("a")], live: [WEB_EXISTS], want: {} }));
    expect(p.apply).toEqual([
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "a", namespace: "web", labels: { [MANAGED_BY_LABEL]: "flotilla", [APP_LABEL]: "web" } },
        data: { k: "v" },
      },
    ]);
  });

  it("is pure: the input is not changed and the same input plans the same", () => {
    const c: Case = {
      name: "",
      rendered: [ns("web-a"), cm("a"), deploy("d", "web-a")],
      live: [WEB_EXISTS, [cm("old", "web"), ownedBy("web")]],
      inventory: [cm("old", "web")],
      want: {},
    };
    const input = inputOf(c);
    const before = structuredClone(input);
    const first = plan(input);
    expect(plan(input)).toEqual(first);
    expect(input).toEqual(before);
  });

  it("names the owner, the policy and what to do in each refusal", () => {
    const p = plan(
      inputOf({
        name: "",
        rendered: [deploy("api"), cm("x", "kube-system"), crb("admin")],
        live: [WEB_EXISTS, [deploy("api", "web"), ownedBy("billing")]],
        want: {},
      }),
    );
    expect(p.refusals.map((r) => r.message)).toEqual([
      expect.stringMatching(
        /^refused by rule owned-by-app: owned by app billing; .*remove it from this app or from billing$/,
      ),
      expect.stringMatching(
        /^refused by rule namespaces: namespace kube-system is not allowed by team web's policy \(namespaces: web, web-\*\)/,
      ),
      expect.stringMatching(
        /^refused by rule cluster-resources: cluster-scoped kind ClusterRoleBinding\.rbac\.authorization\.k8s\.io is not allowed by team web's policy \(clusterResources: none\)/,
      ),
    ]);
  });

  it("refuses a set that names one object twice", () => {
    expect(() => plan(inputOf({ name: "", rendered: [cm("a"), cm("a", "web")], want: {} }))).toThrow(ManifestError);
  });
});

describe("refusedError", () => {
  const refusal = (rule: Plan["refusals"][number]["rule"]) => ({
    ref: ref(cm("a", "web")),
    rule,
    message: `refused by rule ${rule}`,
  });

  it.each([
    [
      "a policy rule, whatever else",
      ["owned-by-app", "namespaces", "unknown-kind"],
      ErrorCode.ERROR_CODE_POLICY_VIOLATION,
    ],
    ["the agent's namespace", ["agent-namespace"], ErrorCode.ERROR_CODE_POLICY_VIOLATION],
    ["ownership without policy", ["unknown-kind", "not-created-by-flotilla"], ErrorCode.ERROR_CODE_OWNERSHIP_CONFLICT],
    ["an unknown kind alone", ["unknown-kind"], ErrorCode.ERROR_CODE_VALIDATION_FAILED],
  ] as const)("reports %s with its code, terminally", (_what, rules, code) => {
    const err = refusedError(rules.map(refusal));
    expect(err).toBeInstanceOf(RefusedError);
    expect(err.code).toBe(code);
    expect(err.retryable).toBe(false);
    expect(err.objects).toHaveLength(rules.length);
    expect(err.message).toMatch(/^\d+ object\(s\) refused, nothing applied: ConfigMap web\/a: refused by rule/);
  });
});
