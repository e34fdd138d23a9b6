/**
 * Carries out a plan (see `plan.ts`) against the API server: creates the namespaces it lists,
 * server-side dry runs every object first (nothing is applied if any fails), applies Namespaces
 * and CRDs before the objects that need them, then the rest with bounded concurrency; and prunes.
 *
 * Namespaces the set uses without defining them are created when missing before the dry run, as
 * Argo CD's `CreateNamespace=true` and Rancher Fleet do. They are the one exception to "nothing
 * applied when validation fails": an empty namespace may stay behind. They are never put in the
 * inventory and never pruned, because deleting a namespace deletes everything in it (Argo CD
 * leaves the namespaces it created too).
 */

import { AgentError, ApplyError, KubeApiError, type ObjectFailure, PruneError, ValidationError } from "./errors.js";
import { decidePrune, type PruneDecision } from "./inventory.js";
import type { KubeApi } from "./kube-client.js";
import {
  deleteOrder,
  implicitNamespaceObject,
  isBootstrap,
  isCrd,
  type KubeObject,
  namespaceRef,
  type Ref,
  refKey,
  refOf,
  toProtoRef,
} from "./objects.js";
import type { Plan } from "./plan.js";
import { mapSettled } from "./pool.js";

/** How long to wait for a CRD applied in the same set to be Established. */
const CRD_ESTABLISH_TIMEOUT_MS = 60_000;
const CRD_POLL_MS = 250;

/** The part of a plan the applier carries out. */
export type ApplySet = Pick<Plan, "apply" | "deferred">;

function messageOf(err: unknown): string {
  if (err instanceof KubeApiError) return err.apiMessage || `${err.status} ${err.reason}`;
  return err instanceof Error ? err.message : String(err);
}

function failure(obj: KubeObject, err: unknown): ObjectFailure {
  return { ref: toProtoRef(refOf(obj)), message: messageOf(err) };
}

export class Applier {
  constructor(
    private readonly kube: KubeApi,
    private readonly concurrency: number,
  ) {}

  /**
   * Creates the namespaces `names` for `app` unless they exist, labelled as managed by Flotilla
   * and annotated with the app. Call it before {@link validate}: objects cannot be dry-run in a
   * namespace that does not exist. Returns the names it created. A namespace the agent may not
   * create (RBAC) is a terminal ValidationError naming it; an unreachable API server is a
   * retryable ApplyError.
   */
  async createNamespaces(names: readonly string[], app: string): Promise<string[]> {
    const results = await mapSettled(names, this.concurrency, (ns) =>
      this.kube.create(implicitNamespaceObject(ns, app)),
    );
    const created: string[] = [];
    const failures: ObjectFailure[] = [];
    let retryable = false;
    results.forEach((r, i) => {
      const ns = names[i] as string;
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

  /** Server-side dry run of every object not deferred; throws ValidationError naming each failure. */
  async validate(set: ApplySet): Promise<void> {
    const deferred = new Set(set.deferred);
    const failures = await this.#dryRun(set.apply.filter((o) => !deferred.has(refKey(refOf(o)))));
    if (failures.length > 0) throw new ValidationError(failures);
  }

  /**
   * Applies the set: Namespaces and CRDs first (awaiting CRDs), then a dry run of the deferred
   * objects (ValidationError, with only Namespaces/CRDs applied), then everything else.
   * `onBootstrapApplied` learns which objects were applied before a possible late failure.
   * Returns the live objects as the API server answered the apply.
   */
  async apply(set: ApplySet, onBootstrapApplied: (refs: Ref[]) => void = () => {}): Promise<KubeObject[]> {
    const deferred = new Set(set.deferred);
    const bootstrap = set.apply.filter((o) => isBootstrap(refOf(o)));
    const rest = set.apply.filter((o) => !isBootstrap(refOf(o)));
    const applied: KubeObject[] = [];
    if (bootstrap.length > 0) {
      applied.push(...(await this.#applyAll(bootstrap)));
      onBootstrapApplied(bootstrap.map(refOf));
      await Promise.all(bootstrap.filter((o) => isCrd(refOf(o))).map((crd) => this.#awaitEstablished(crd)));
      const late = rest.filter((o) => deferred.has(refKey(refOf(o))));
      const failures = await this.#dryRun(late);
      if (failures.length > 0) throw new ValidationError(failures);
    }
    applied.push(...(await this.#applyAll(rest)));
    return applied;
  }

  /**
   * Re-applies `objects` without validating first (self-heal of a set already validated),
   * re-creating the namespaces it needs if they were deleted meanwhile.
   */
  async reapply(objects: readonly KubeObject[], namespaces: readonly string[], app: string): Promise<KubeObject[]> {
    await this.createNamespaces(namespaces, app);
    return this.apply({ apply: [...objects], deferred: [] });
  }

  /** Dry-run applies `obj` over the live object: what the live object would be after our apply. */
  async dryRunOne(obj: KubeObject): Promise<KubeObject> {
    return this.kube.apply(obj, { dryRun: true });
  }

  /**
   * Carries out prune decisions, namespaces and CRDs last. A planned delete is decided again on
   * the object as it is now (it may have gone, or changed hands, since the plan): only an object
   * that still exists and is still labelled as this app's is deleted. Returns the final decision
   * per candidate; throws PruneError after trying them all if any delete failed.
   */
  async prune(planned: readonly PruneDecision[], app: string): Promise<PruneDecision[]> {
    const decisions: PruneDecision[] = planned.filter((d) => d.action !== "delete");
    const failures: ObjectFailure[] = [];
    const ordered = deleteOrder(planned.filter((d) => d.action === "delete").map((d) => d.ref));
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
    const results = await mapSettled(objects, this.concurrency, (obj) => this.kube.apply(obj, { dryRun: true }));
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
