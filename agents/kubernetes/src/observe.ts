/**
 * Gathers the facts a plan needs from the API server: how each kind of the set is served, and
 * the headers (labels, annotations) of every live object the plan decides about: the set's
 * objects, the namespaces it uses and the previous inventory's objects.
 *
 * Cost: a reconcile of N objects adds reads to the N dry runs and N applies, so headers are read
 * metadata-only, and a kind with many objects in one namespace is listed once instead of read
 * object by object.
 */
import { KubeApiError } from "./errors.js";
import type { KubeApi } from "./kube-client.js";
import {
  apiVersionOf,
  implicitNamespaces,
  type KubeObject,
  namespaceRef,
  type ObjectMeta,
  type Ref,
  refKey,
  refOf,
} from "./objects.js";
import { type ClusterFacts, type LiveState, place, type Scope, scopeKey } from "./plan.js";
import { mapSettled } from "./pool.js";

/** Objects of one kind in one namespace from which a single list beats reading each. */
export const LIST_THRESHOLD = 8;

/** Reads the facts of {@link ClusterFacts} for one rendered set. */
export class Observer {
  constructor(
    private readonly kube: KubeApi,
    private readonly concurrency: number,
  ) {}

  /**
   * Discovery for every kind of `rendered`, then the live headers of its placed objects, of the
   * namespaces they use and of `previous` (the last inventory).
   */
  async observe(
    rendered: readonly KubeObject[],
    targetNamespace: string,
    previous: readonly Ref[],
  ): Promise<ClusterFacts> {
    const scopes = await this.#discover(rendered);
    const placed = place(rendered, targetNamespace, scopes).filter((p) => p.served);
    const objects = placed.map((p) => p.obj);
    const refs = new Map<string, Ref>();
    for (const ref of [
      ...objects.map(refOf),
      ...implicitNamespaces(objects, targetNamespace).map(namespaceRef),
      ...previous,
    ]) {
      refs.set(refKey(ref), ref);
    }
    return { scopes, live: await this.readLive([...refs.values()]) };
  }

  async #discover(rendered: readonly KubeObject[]): Promise<Map<string, Scope>> {
    const kinds = new Map<string, { apiVersion: string; kind: string }>();
    for (const obj of rendered)
      kinds.set(scopeKey(obj.apiVersion, obj.kind), { apiVersion: obj.apiVersion, kind: obj.kind });
    const entries = [...kinds.entries()];
    const results = await Promise.all(entries.map(([, k]) => this.kube.mapping(k.apiVersion, k.kind)));
    const scopes = new Map<string, Scope>();
    entries.forEach(([key], i) => {
      const m = results[i];
      if (m) scopes.set(key, m.namespaced ? "namespaced" : "cluster");
    });
    return scopes;
  }

  /** Live state of each ref: listed per kind and namespace when there are many, read one by one otherwise. */
  async readLive(refs: readonly Ref[]): Promise<Map<string, LiveState>> {
    const groups = new Map<string, Ref[]>();
    for (const ref of refs) {
      const key = `${apiVersionOf(ref)}|${ref.kind}|${ref.namespace}`;
      const group = groups.get(key);
      if (group) group.push(ref);
      else groups.set(key, [ref]);
    }
    const live = new Map<string, LiveState>();
    const single: Ref[] = [];
    const listed = [...groups.values()].filter((g) => g.length >= LIST_THRESHOLD);
    for (const g of groups.values()) if (g.length < LIST_THRESHOLD) single.push(...g);
    const lists = await Promise.all(
      listed.map((g) => {
        const first = g[0] as Ref;
        return this.kube.listMetadata(apiVersionOf(first), first.kind, first.namespace).catch((err: unknown) => {
          // Allowed to read objects but not to list them: read them one by one.
          if (err instanceof KubeApiError && err.status === 403) return null;
          throw err;
        });
      }),
    );
    listed.forEach((g, i) => {
      const items = lists[i];
      if (items === null) {
        single.push(...g);
        return;
      }
      const byName = new Map((items ?? []).map((m) => [m.name, m]));
      for (const ref of g) live.set(refKey(ref), stateOf(byName.get(ref.name)));
    });
    const reads = await mapSettled(single, this.concurrency, (ref) => this.kube.getMetadata(ref));
    reads.forEach((r, i) => {
      const ref = single[i] as Ref;
      if (r.ok) live.set(refKey(ref), stateOf(r.value));
      else if (r.error instanceof KubeApiError && r.error.status === 403)
        live.set(refKey(ref), { state: "unreadable" });
      else throw r.error;
    });
    return live;
  }
}

function stateOf(meta: ObjectMeta | undefined): LiveState {
  if (!meta) return { state: "absent" };
  return { state: "present", meta: { labels: meta.labels ?? {}, annotations: meta.annotations ?? {} } };
}
