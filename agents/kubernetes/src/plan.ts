/**
 * The plan of one reconcile, computed as a value: from the rendered objects, the app's previous
 * inventory, what the API server told us (which kinds it serves and how, and the headers of the
 * live objects involved) and the team's policy, it decides which namespaces to create, which
 * objects to apply in which order, which to prune, and which to refuse. No I/O happens here:
 * `observe.ts` gathers the facts, `applier.ts` carries the plan out.
 *
 * Rules, checked in this order for every rendered object; the first that fails is the refusal:
 *
 * 1. **Served kind.** A kind the API server does not serve and no CRD of the set defines cannot
 *    be placed or applied (`unknown-kind`).
 * 2. **The agent's own namespace** holds its bootstrap Secret and its inventories; no app may
 *    write anything there, nor hold that Namespace object (`agent-namespace`), whatever its policy.
 * 3. **Policy namespaces.** A namespaced object's namespace, and a Namespace object's name, must
 *    match one of the team's namespace globs (`namespaces`).
 * 4. **Policy cluster resources.** Any other cluster-scoped object's `Kind.group` must match one
 *    of the team's cluster resource globs (`cluster-resources`).
 * 5. **Ownership**, read from the live object's labels. An object another app owns is refused,
 *    naming that app (`owned-by-app`); so is a Namespace Flotilla created for another app. A live
 *    object no Flotilla app created is refused unless the app opts into adoption
 *    (`not-created-by-flotilla`). An object the agent may not read is left to the dry run.
 *
 * A plan with any refusal applies, creates and prunes nothing.
 *
 * Namespaces: those the set uses without defining them (the target namespace, or one an object
 * names) must exist; the missing ones are created, labelled as created for the app, and are
 * never in the inventory, so never pruned. A Namespace object of the set enters the inventory
 * only when this app created it: it does not exist yet, or the previous inventory already holds
 * it. An adopted one, or one created earlier for this app implicitly, is applied but never pruned.
 *
 * Prune: objects of the previous inventory that the set no longer has, except a Namespace the
 * set's objects still live in. Only a live object that still carries this app's labels is deleted.
 */
import { type EffectivePolicy, kindGroup, matchesAnyGlob } from "@flotilla/proto";
import { RefusedError } from "./errors.js";
import { decidePrune, type PruneDecision, pruneCandidates } from "./inventory.js";
import { checkUnique } from "./manifest.js";
import {
  applyOrder,
  crdScopesOf,
  implicitNamespaces,
  isNamespace,
  type KubeObject,
  namespaceRef,
  type ObjectMeta,
  ownershipOf,
  type Ref,
  refKey,
  refOf,
  toProtoRef,
  withOwnership,
} from "./objects.js";

/** Whether a kind lives in namespaces or at cluster level. */
export type Scope = "namespaced" | "cluster";

/** What the API server said about one object before the plan. */
export type LiveState =
  | { readonly state: "absent" }
  | { readonly state: "present"; readonly meta: Pick<ObjectMeta, "labels" | "annotations"> }
  /** The agent may not read it (RBAC): the dry run will tell whether it may write it. */
  | { readonly state: "unreadable" };

/** What the API server told the agent, as {@link observe} gathers it. */
export interface ClusterFacts {
  /** Scope of every served `apiVersion|kind` the set uses (see {@link scopeKey}); unserved kinds have no entry. */
  readonly scopes: ReadonlyMap<string, Scope>;
  /** Live state by {@link refKey}; an object without an entry counts as absent. */
  readonly live: ReadonlyMap<string, LiveState>;
}

/** Everything a plan is computed from. */
export interface PlanInput {
  app: string;
  /** Namespace of namespaced objects that name none ("" means `default`). */
  targetNamespace: string;
  /** The agent's own namespace: its bootstrap Secret and inventories live there. */
  agentNamespace: string;
  policy: EffectivePolicy;
  /** Take over live objects no Flotilla app created. */
  adopt: boolean;
  /** Delete what the previous inventory has and the set lacks. */
  prune: boolean;
  /** The objects as rendered: not yet placed in namespaces nor labelled. */
  rendered: readonly KubeObject[];
  /** The previous inventory's objects. */
  inventory: readonly Ref[];
  facts: ClusterFacts;
}

/** Why an object is refused. */
export type RefusalRule =
  | "unknown-kind"
  | "agent-namespace"
  | "namespaces"
  | "cluster-resources"
  | "owned-by-app"
  | "not-created-by-flotilla";

/** Rules that come from the team's policy (or the agent's own namespace): a policy violation. */
export const POLICY_RULES: ReadonlySet<RefusalRule> = new Set(["agent-namespace", "namespaces", "cluster-resources"]);
/** Rules about who owns a live object: an ownership conflict. */
export const OWNERSHIP_RULES: ReadonlySet<RefusalRule> = new Set(["owned-by-app", "not-created-by-flotilla"]);

/** One refused object: the rule it breaks and a line saying what to do. */
export interface Refusal {
  ref: Ref;
  rule: RefusalRule;
  message: string;
}

/** What one reconcile does, in order. */
export interface Plan {
  /** Namespaces the objects need that the set does not define (sorted); they must exist. */
  namespaces: string[];
  /** Those of {@link namespaces} that do not exist yet: created before the dry run. */
  createNamespaces: string[];
  /** Objects placed and labelled for the app, in apply order (Namespaces, CRDs, the rest as rendered). */
  apply: KubeObject[];
  /** Keys of objects whose dry run waits until the Namespaces or CRDs of this set are applied. */
  deferred: string[];
  /** Objects the app owns once applied: what its inventory lists. */
  inventory: Ref[];
  /** Previous objects the set dropped, with what to do with each (prune is on). */
  prune: PruneDecision[];
  /** Previous objects the set dropped that stay listed because prune is off, so a later prune finds them. */
  retain: Ref[];
  /** Objects refused; when any, the plan applies nothing. */
  refusals: Refusal[];
}

/** Key of a kind in {@link ClusterFacts.scopes}. */
export function scopeKey(apiVersion: string, kind: string): string {
  return `${apiVersion}|${kind}`;
}

/** A rendered object with its namespace set (or stripped) by scope; `scope` undefined for unknown kinds. */
export interface Placed {
  obj: KubeObject;
  scope: Scope | undefined;
  /** Whether the API server already serves the kind (false for a kind a CRD of this set defines). */
  served: boolean;
}

/**
 * Places each rendered object: namespaced ones without a namespace go to the target namespace
 * (`default` when none), cluster-scoped ones lose any namespace. The scope comes from discovery,
 * or from a CRD of the same set.
 */
export function place(
  rendered: readonly KubeObject[],
  targetNamespace: string,
  scopes: ReadonlyMap<string, Scope>,
): Placed[] {
  const crdScopes = crdScopesOf(rendered);
  return rendered.map((obj) => {
    const ref = refOf(obj);
    const served = scopes.get(scopeKey(obj.apiVersion, obj.kind));
    const scope = served ?? crdScopes.get(`${ref.group}|${ref.kind}`);
    if (scope === "cluster" && obj.metadata.namespace !== undefined) {
      const { namespace: _dropped, ...metadata } = obj.metadata;
      return { obj: { ...obj, metadata: metadata as KubeObject["metadata"] }, scope, served: served !== undefined };
    }
    if (scope === "namespaced" && !obj.metadata.namespace) {
      return {
        obj: { ...obj, metadata: { ...obj.metadata, namespace: targetNamespace || "default" } },
        scope,
        served: served !== undefined,
      };
    }
    return { obj, scope, served: served !== undefined };
  });
}

/** Computes the plan. Pure: the same input always gives the same plan. */
export function plan(input: PlanInput): Plan {
  const placed = place(input.rendered, input.targetNamespace, input.facts.scopes);
  checkUnique(
    placed.map((p) => p.obj),
    (o) => refKey(refOf(o)),
  );
  const liveOf = (ref: Ref): LiveState => input.facts.live.get(refKey(ref)) ?? { state: "absent" };
  const previous = new Set(input.inventory.map(refKey));
  const refusals: Refusal[] = [];
  const accepted: { obj: KubeObject; served: boolean; owned: boolean }[] = [];
  for (const p of placed) {
    const ref = refOf(p.obj);
    const refusal = p.scope === undefined ? unknownKind(ref, p.obj) : policyRefusal(input, ref, p.scope);
    const decision = refusal ?? ownership(input, ref, liveOf(ref), previous.has(refKey(ref)));
    if ("rule" in decision) refusals.push(decision);
    else accepted.push({ obj: p.obj, served: p.served, owned: decision.owned });
  }
  const placedObjects = placed.map((p) => p.obj);
  const namespaces = implicitNamespaces(placedObjects, input.targetNamespace);
  const refusedNamespaces = new Set(refusals.map((r) => r.ref.namespace).filter((ns) => ns !== ""));
  for (const ns of namespaces) {
    // The target namespace the objects would be created in must be allowed too; say so once.
    if (refusedNamespaces.has(ns)) continue;
    const refusal = namespacePolicyRefusal(input, namespaceRef(ns), ns);
    if (refusal) refusals.push(refusal);
  }
  if (refusals.length > 0) {
    return {
      namespaces: [],
      createNamespaces: [],
      apply: [],
      deferred: [],
      inventory: [],
      prune: [],
      retain: [],
      refusals,
    };
  }

  const createNamespaces = namespaces.filter((ns) => liveOf(namespaceRef(ns)).state === "absent");
  const newNamespaces = new Set(
    accepted
      .filter((a) => isNamespace(refOf(a.obj)) && liveOf(refOf(a.obj)).state === "absent")
      .map((a) => a.obj.metadata.name),
  );
  const deferred = accepted
    .filter((a) => !a.served || newNamespaces.has(a.obj.metadata.namespace ?? ""))
    .map((a) => refKey(refOf(a.obj)));
  const apply = applyOrder(accepted.map((a) => a.obj)).map((obj) => withOwnership(obj, input.app));
  const inventory = applyOrder(accepted.filter((a) => a.owned).map((a) => a.obj)).map(refOf);
  const candidates = pruneCandidates(input.inventory, apply.map(refOf), new Set(namespaces));
  return {
    namespaces,
    createNamespaces,
    apply,
    deferred,
    inventory,
    prune: input.prune ? candidates.map((ref) => decidePruneOf(ref, liveOf(ref), input.app)) : [],
    retain: input.prune ? [] : candidates,
    refusals: [],
  };
}

function decidePruneOf(ref: Ref, live: LiveState, app: string): PruneDecision {
  if (live.state === "absent") return decidePrune(ref, undefined, app);
  // An object we may not read is not known to be ours: leave it.
  if (live.state === "unreadable") return { action: "skip", ref, reason: "not deleted: the agent may not read it" };
  return decidePrune(ref, { metadata: { name: ref.name, ...live.meta } }, app);
}

function unknownKind(ref: Ref, obj: KubeObject): Refusal {
  return {
    ref,
    rule: "unknown-kind",
    message: `no kind ${obj.kind} is served in ${obj.apiVersion}; install its CRD or fix apiVersion/kind`,
  };
}

/** Whose rules an object breaks: "team web's" or, without a policy, the app's own target namespace. */
function whose(policy: EffectivePolicy): string {
  return policy.team ? `team ${policy.team}'s policy` : "the desired state (it carries no team policy)";
}

function list(patterns: readonly string[]): string {
  return patterns.length > 0 ? patterns.join(", ") : "none";
}

function namespacePolicyRefusal(input: PlanInput, ref: Ref, namespace: string): Refusal | undefined {
  if (namespace === input.agentNamespace) {
    return {
      ref,
      rule: "agent-namespace",
      message: `refused by rule agent-namespace: namespace ${namespace} is the agent's own (its bootstrap Secret and inventories); no app may write there, so move the object to the app's namespace`,
    };
  }
  if (!matchesAnyGlob(input.policy.namespaces, namespace)) {
    return {
      ref,
      rule: "namespaces",
      message: `refused by rule namespaces: namespace ${namespace} is not allowed by ${whose(input.policy)} (namespaces: ${list(input.policy.namespaces)}); move the object or widen the team's namespaces`,
    };
  }
  return undefined;
}

function policyRefusal(input: PlanInput, ref: Ref, scope: Scope): Refusal | undefined {
  if (isNamespace(ref)) return namespacePolicyRefusal(input, ref, ref.name);
  if (scope === "namespaced") return namespacePolicyRefusal(input, ref, ref.namespace);
  const kind = kindGroup(ref.kind, ref.group);
  if (!matchesAnyGlob(input.policy.clusterResources, kind)) {
    return {
      ref,
      rule: "cluster-resources",
      message: `refused by rule cluster-resources: cluster-scoped kind ${kind} is not allowed by ${whose(input.policy)} (clusterResources: ${list(input.policy.clusterResources)}); remove the object or have the team's clusterResources allow it`,
    };
  }
  return undefined;
}

/**
 * Whether the app may apply over the live object, and whether the object is the app's own once
 * applied (enters the inventory); or the refusal.
 */
function ownership(input: PlanInput, ref: Ref, live: LiveState, inPrevious: boolean): Refusal | { owned: boolean } {
  const namespace = isNamespace(ref);
  if (live.state === "absent") return { owned: true };
  // Not readable: nothing is known of its owner, and a Namespace is not known to be ours to prune.
  if (live.state === "unreadable") return { owned: !namespace };
  const o = ownershipOf(live.meta);
  if (o.by === "app" && o.app === input.app) return { owned: !namespace || inPrevious };
  if (o.by === "app") {
    return {
      ref,
      rule: "owned-by-app",
      message: `refused by rule owned-by-app: owned by app ${o.app}; an object belongs to one app, so remove it from this app or from ${o.app}`,
    };
  }
  if (o.by === "created-for") {
    if (o.app === input.app) return { owned: false };
    return {
      ref,
      rule: "owned-by-app",
      message: `refused by rule owned-by-app: namespace created by Flotilla for app ${o.app}; deploy into it without defining the Namespace, or define it in ${o.app}`,
    };
  }
  if (input.adopt) return { owned: !namespace };
  return {
    ref,
    rule: "not-created-by-flotilla",
    message:
      "refused by rule not-created-by-flotilla: it exists and no Flotilla app created it; set adopt: true on the app to take it over, or delete or rename it",
  };
}

/** The error a plan with refusals ends its reconcile with, naming every refused object and its rule. */
export function refusedError(refusals: readonly Refusal[]): RefusedError {
  return new RefusedError(
    refusals.map((r) => ({ ref: toProtoRef(r.ref), message: r.message })),
    {
      policy: refusals.some((r) => POLICY_RULES.has(r.rule)),
      ownership: refusals.some((r) => OWNERSHIP_RULES.has(r.rule)),
    },
  );
}
