/**
 * Validates and applies a rendered set against the API server: a server-side dry run of the
 * whole set first (nothing is applied if any object fails), Namespaces and CRDs before the
 * objects that need them, then server-side apply with bounded concurrency; and prunes.
 *
 * Namespaces the set uses without defining them (the target namespace, or one an object names)
 * are created when missing before the dry run, as Argo CD's `CreateNamespace=true` and Rancher
 * Fleet do. They are the one exception to "nothing applied when validation fails": an empty
 * namespace may stay behind. They are never put in the inventory and never pruned, because
 * deleting a namespace deletes everything in it (Argo CD leaves the namespaces it created too).
 */

import { DEFAULT_NAMESPACE } from "./config.js";
import { AgentError, ApplyError, KubeApiError, type ObjectFailure, PruneError, ValidationError } from "./errors.js";
import { decidePrune, INVENTORY_PREFIX, isInventoryRef, type PruneDecision } from "./inventory.js";
import type { KubeClient } from "./kube-client.js";
import { checkUnique } from "./manifest.js";
import {
  applyOrder,
  crdScopesOf,
  deleteOrder,
  implicitNamespaceObject,
  implicitNamespaces,
  isBootstrap,
  isCrd,
  isNamespace,
  type KubeObject,
  namespaceRef,
  placeInNamespace,
  type Ref,
  refKey,
  refOf,
  toProtoRef,
  withOwnership,
} from "./objects.js";
import { mapSettled } from "./pool.js";

/** How long to wait for a CRD applied in the same set to be Established. */
const CRD_ESTABLISH_TIMEOUT_MS = 60_000;
const CRD_POLL_MS = 250;

/** A set ready to apply: labelled, namespaced, in apply order. */
export interface PreparedSet {
  objects: KubeObject[];
  /** Keys of objects whose dry run waits for a Namespace or CRD of this same set. */
  deferred: Set<string>;
  /** The app the objects are labelled for. */
  app: string;
  /**
   * Namespaces the objects or the target namespace use that no Namespace object of the set
   * defines; {@link Applier.ensureNamespaces} creates the missing ones. Never in the inventory.
   */
  namespaces: string[];
}

function messageOf(err: unknown): string {
  if (err instanceof KubeApiError) return err.apiMessage || `${err.status} ${err.reason}`;
  return err instanceof Error ? err.message : String(err);
}

function failure(obj: KubeObject, err: unknown): ObjectFailure {
  return { ref: toProtoRef(refOf(obj)), message: messageOf(err) };
}

export class Applier {
  constructor(
    private readonly kube: KubeClient,
    private readonly concurrency: number,
    /** The agent's own namespace, where its inventories live; apps may not write those. */
    private readonly inventoryNamespace = DEFAULT_NAMESPACE,
  ) {}

  /**
   * Labels objects for `app`, places namespaced ones lacking a namespace in `targetNamespace`
   * (scope from discovery, or from a CRD in the same set) and sorts them for apply. Kinds the
   * API server does not serve and no CRD here defines are validation failures.
   */
  async prepare(rendered: readonly KubeObject[], app: string, targetNamespace: string): Promise<PreparedSet> {
    const crdScopes = crdScopesOf(rendered);
    const unknown: ObjectFailure[] = [];
    const deferred = new Set<string>();
    const scopes = new Map<string, "namespaced" | "cluster" | undefined>();
    await Promise.all(
      rendered.map(async (obj) => {
        const key = `${obj.apiVersion}|${obj.kind}`;
        if (scopes.has(key)) return;
        scopes.set(key, undefined);
        const m = await this.kube.mapping(obj.apiVersion, obj.kind);
        scopes.set(key, m ? (m.namespaced ? "namespaced" : "cluster") : undefined);
      }),
    );
    const placed: KubeObject[] = [];
    for (const obj of rendered) {
      const ref = refOf(obj);
      const served = scopes.get(`${obj.apiVersion}|${obj.kind}`) !== undefined;
      if (!served && !crdScopes.has(`${ref.group}|${ref.kind}`)) {
        unknown.push({
          ref: toProtoRef(ref),
          message: `no kind ${obj.kind} is served in ${obj.apiVersion}; install its CRD or fix apiVersion/kind`,
        });
        continue;
      }
      const inNs = placeInNamespace(
        withOwnership(obj, app),
        targetNamespace || "default",
        (r) => scopes.get(`${obj.apiVersion}|${r.kind}`),
        crdScopes,
      );
      if (isInventoryRef(refOf(inNs), this.inventoryNamespace)) {
        // An app that could write inventories could make another app forget what it owns, or
        // refuse every new desired state as stale after a restart.
        unknown.push({
          ref: toProtoRef(refOf(inNs)),
          message: `ConfigMaps named ${INVENTORY_PREFIX}* in ${this.inventoryNamespace} are the agent's own inventories; an app may not write them, so rename it or move it to another namespace`,
        });
        continue;
      }
      if (!served) deferred.add(refKey(refOf(inNs)));
      placed.push(inNs);
    }
    checkUnique(placed, (o) => refKey(refOf(o)));
    // Objects in a Namespace this set creates cannot be dry-run before it exists.
    const newNamespaces = new Set<string>();
    await Promise.all(
      placed
        .filter((o) => isNamespace(refOf(o)))
        .map(async (ns) => {
          if (!(await this.kube.get(refOf(ns)))) newNamespaces.add(ns.metadata.name);
        }),
    );
    for (const obj of placed) {
      const ns = obj.metadata.namespace;
      if (ns && newNamespaces.has(ns)) deferred.add(refKey(refOf(obj)));
    }
    const namespaces = implicitNamespaces(placed, targetNamespace);
    if (unknown.length > 0) {
      // Dry-run what we can too, so the report names every failing object at once; objects in
      // a namespace not created yet would only fail for that, so they wait.
      const missing = new Set(await this.#missingNamespaces(namespaces));
      const rest = await this.#dryRun(
        placed.filter((o) => !deferred.has(refKey(refOf(o))) && !missing.has(o.metadata.namespace ?? "")),
      );
      throw new ValidationError([...unknown, ...rest]);
    }
    return { objects: applyOrder(placed), deferred, app, namespaces };
  }

  /**
   * Creates the set's implicit namespaces that do not exist yet (see {@link PreparedSet.namespaces}),
   * labelled as managed by Flotilla. Call it before {@link validate}: objects cannot be dry-run
   * in a namespace that does not exist. Returns the names it created. A namespace the agent may
   * not create (RBAC) is a terminal ValidationError naming it; an unreachable API server is a
   * retryable ApplyError.
   */
  async ensureNamespaces(set: PreparedSet): Promise<string[]> {
    const missing = await this.#missingNamespaces(set.namespaces);
    const results = await mapSettled(missing, this.concurrency, (ns) =>
      this.kube.create(implicitNamespaceObject(ns, set.app)),
    );
    const created: string[] = [];
    const failures: ObjectFailure[] = [];
    let retryable = false;
    results.forEach((r, i) => {
      const ns = missing[i] as string;
      if (r.ok) {
        if (r.value) created.push(ns);
        return;
      }
      retryable ||= r.error instanceof AgentError && r.error.retryable;
      const forbidden = r.error instanceof KubeApiError && r.error.status === 403;
      failures.push({
        ref: toProtoRef(namespaceRef(ns)),
        message: forbidden
          ? `namespace ${ns} does not exist and the agent may not create it (${messageOf(r.error)}); create it, or allow the agent to create namespaces`
          : `cannot create namespace ${ns}: ${messageOf(r.error)}`,
      });
    });
    if (failures.length > 0) throw retryable ? new ApplyError(failures) : new ValidationError(failures);
    return created;
  }

  /** Which of `names` do not exist. One the agent may not read (RBAC) counts as existing: the dry run will tell. */
  async #missingNamespaces(names: readonly string[]): Promise<string[]> {
    const results = await mapSettled(names, this.concurrency, (ns) => this.kube.get(namespaceRef(ns)));
    const missing: string[] = [];
    results.forEach((r, i) => {
      if (r.ok) {
        if (r.value === undefined) missing.push(names[i] as string);
      } else if (!(r.error instanceof KubeApiError && r.error.status === 403)) {
        throw r.error;
      }
    });
    return missing;
  }

  /** Server-side dry run of every object not deferred; throws ValidationError naming each failure. */
  async validate(set: PreparedSet): Promise<void> {
    const failures = await this.#dryRun(set.objects.filter((o) => !set.deferred.has(refKey(refOf(o)))));
    if (failures.length > 0) throw new ValidationError(failures);
  }

  /**
   * Applies the set: Namespaces and CRDs first (awaiting CRDs), then a dry run of the deferred
   * objects (ValidationError, with only Namespaces/CRDs applied), then everything else.
   * `onBootstrapApplied` learns which objects were applied before a possible late failure.
   * Returns the live objects as the API server answered the apply.
   */
  async apply(set: PreparedSet, onBootstrapApplied: (refs: Ref[]) => void = () => {}): Promise<KubeObject[]> {
    const bootstrap = set.objects.filter((o) => isBootstrap(refOf(o)));
    const rest = set.objects.filter((o) => !isBootstrap(refOf(o)));
    const applied: KubeObject[] = [];
    if (bootstrap.length > 0) {
      applied.push(...(await this.#applyAll(bootstrap)));
      onBootstrapApplied(bootstrap.map(refOf));
      await Promise.all(bootstrap.filter((o) => isCrd(refOf(o))).map((crd) => this.#awaitEstablished(crd)));
      const late = rest.filter((o) => set.deferred.has(refKey(refOf(o))));
      const failures = await this.#dryRun(late);
      if (failures.length > 0) throw new ValidationError(failures);
    }
    applied.push(...(await this.#applyAll(rest)));
    return applied;
  }

  /**
   * Re-applies without validating first (self-heal of a set already validated), re-creating
   * its implicit namespaces if they were deleted meanwhile.
   */
  async reapply(set: PreparedSet): Promise<KubeObject[]> {
    await this.ensureNamespaces(set);
    return this.apply({ ...set, deferred: new Set() });
  }

  /** Dry-run applies `obj` over the live object: what the live object would be after our apply. */
  async dryRunOne(obj: KubeObject): Promise<KubeObject> {
    return this.kube.apply(obj, true);
  }

  /**
   * Deletes the candidates that still exist and are still labelled as this app's, namespaces
   * and CRDs last. Returns a decision per candidate; throws PruneError after trying them all
   * if any delete failed.
   */
  async prune(candidates: readonly Ref[], app: string): Promise<PruneDecision[]> {
    const decisions: PruneDecision[] = [];
    const failures: ObjectFailure[] = [];
    const ordered = deleteOrder(candidates);
    // Namespaced objects go first, concurrently; then namespaces and CRDs, which may hold them.
    const groups = [ordered.filter((r) => !isBootstrap(r)), ordered.filter((r) => isBootstrap(r))];
    for (const group of groups) {
      const results = await mapSettled(group, this.concurrency, async (ref) => {
        const decision = decidePrune(ref, await this.kube.get(ref), app);
        if (decision.action === "delete") await this.kube.delete(ref);
        return decision;
      });
      results.forEach((r, i) => {
        const ref = group[i] as Ref;
        if (r.ok) decisions.push(r.value);
        else failures.push({ ref: toProtoRef(ref), message: messageOf(r.error) });
      });
    }
    if (failures.length > 0) throw new PruneError(failures);
    return decisions;
  }

  async #dryRun(objects: readonly KubeObject[]): Promise<ObjectFailure[]> {
    const results = await mapSettled(objects, this.concurrency, (obj) => this.kube.apply(obj, true));
    const failures: ObjectFailure[] = [];
    results.forEach((r, i) => {
      if (!r.ok) failures.push(failure(objects[i] as KubeObject, r.error));
    });
    return failures;
  }

  async #applyAll(objects: readonly KubeObject[]): Promise<KubeObject[]> {
    const results = await mapSettled(objects, this.concurrency, (obj) => this.kube.apply(obj));
    const failures: ObjectFailure[] = [];
    const applied: KubeObject[] = [];
    results.forEach((r, i) => {
      if (r.ok) applied.push(r.value);
      else failures.push(failure(objects[i] as KubeObject, r.error));
    });
    if (failures.length > 0) throw new ApplyError(failures);
    return applied;
  }

  async #awaitEstablished(crd: KubeObject): Promise<void> {
    const deadline = Date.now() + CRD_ESTABLISH_TIMEOUT_MS;
    for (;;) {
      const live = await this.kube.get(refOf(crd));
      const conditions = ((live?.status as { conditions?: { type: string; status: string }[] } | undefined)
        ?.conditions ?? []) as { type: string; status: string }[];
      if (conditions.some((c) => c.type === "Established" && c.status === "True")) return;
      if (Date.now() > deadline) {
        throw new ApplyError([{ ref: toProtoRef(refOf(crd)), message: "CRD was not Established within 60 s" }]);
      }
      await new Promise((r) => setTimeout(r, CRD_POLL_MS));
    }
  }
}
