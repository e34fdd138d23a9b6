/**
 * An API server in memory behind the agent's {@link KubeApi}, for unit tests: serves the kinds it
 * is given, stores what is applied (labels included) and can be told to fail an operation.
 * Not part of the build (see tsconfig.build.json).
 */
import { KubeApiError } from "../errors.js";
import type { ApplyOptions, KubeApi, Mapping } from "../kube-client.js";
import {
  apiVersionOf,
  type KubeObject,
  type ObjectMeta,
  type Ref,
  refKey,
  refOf,
  splitApiVersion,
} from "../objects.js";

/** A kind the fake serves. */
export interface FakeKind {
  apiVersion: string;
  kind: string;
  namespaced: boolean;
}

export const CORE_KINDS: FakeKind[] = [
  { apiVersion: "v1", kind: "Namespace", namespaced: false },
  { apiVersion: "v1", kind: "ConfigMap", namespaced: true },
  { apiVersion: "v1", kind: "Secret", namespaced: true },
  { apiVersion: "apps/v1", kind: "Deployment", namespaced: true },
  { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", namespaced: false },
  { apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", namespaced: false },
];

/** An operation the fake may be told to fail. */
export type FakeOp = "get" | "list" | "apply" | "dryRun" | "create" | "delete";

export class FakeKube implements KubeApi {
  readonly objects = new Map<string, KubeObject>();
  /** Every call, as `op Kind ns/name`, for tests that count reads. */
  readonly calls: string[] = [];
  /** Decides whether an operation fails: return the error to throw. */
  fail: (op: FakeOp, ref: Ref) => KubeApiError | undefined = () => undefined;
  readonly #kinds: FakeKind[];

  constructor(kinds: FakeKind[] = CORE_KINDS) {
    this.#kinds = [...kinds];
  }

  /** Stores `obj` as if it were live. */
  put(obj: KubeObject): void {
    this.objects.set(refKey(refOf(obj)), obj);
  }

  has(ref: Pick<Ref, "group" | "kind" | "namespace" | "name">): boolean {
    return this.objects.has(refKey(ref));
  }

  #check(op: FakeOp, ref: Ref): void {
    const err = this.fail(op, ref);
    if (err) throw err;
  }

  async version(): Promise<string> {
    return "v1.34.0";
  }

  async mapping(apiVersion: string, kind: string): Promise<Mapping | undefined> {
    const k = this.#kinds.find((x) => x.apiVersion === apiVersion && x.kind === kind);
    return k ? { resource: `${kind.toLowerCase()}s`, namespaced: k.namespaced, statusSubresource: false } : undefined;
  }

  async get(ref: Ref): Promise<KubeObject | undefined> {
    this.calls.push(`get ${ref.kind} ${ref.namespace}/${ref.name}`);
    this.#check("get", ref);
    return this.objects.get(refKey(ref));
  }

  async getMetadata(ref: Ref): Promise<ObjectMeta | undefined> {
    this.calls.push(`getMetadata ${ref.kind} ${ref.namespace}/${ref.name}`);
    this.#check("get", ref);
    return this.objects.get(refKey(ref))?.metadata;
  }

  async listMetadata(apiVersion: string, kind: string, namespace: string): Promise<ObjectMeta[] | undefined> {
    this.calls.push(`listMetadata ${kind} ${namespace}`);
    const ref = { ...splitApiVersion(apiVersion), kind, namespace, name: "" };
    this.#check("list", ref);
    if (!(await this.mapping(apiVersion, kind))) return undefined;
    return [...this.objects.values()]
      .filter((o) => o.apiVersion === apiVersion && o.kind === kind && (o.metadata.namespace ?? "") === namespace)
      .map((o) => o.metadata);
  }

  async list(apiVersion: string, kind: string, namespace = ""): Promise<KubeObject[]> {
    this.calls.push(`list ${kind} ${namespace}`);
    return [...this.objects.values()].filter(
      (o) => o.apiVersion === apiVersion && o.kind === kind && (!namespace || o.metadata.namespace === namespace),
    );
  }

  async apply(obj: KubeObject, options: ApplyOptions = {}): Promise<KubeObject> {
    const ref = refOf(obj);
    this.calls.push(`${options.dryRun ? "dryRun" : "apply"} ${ref.kind} ${ref.namespace}/${ref.name}`);
    this.#check(options.dryRun ? "dryRun" : "apply", ref);
    if (!(await this.mapping(obj.apiVersion, obj.kind))) {
      throw new KubeApiError(404, "NotFound", `no kind ${obj.kind}`, "PATCH", apiVersionOf(ref));
    }
    if (!options.dryRun) this.put(obj);
    return obj;
  }

  async create(obj: KubeObject): Promise<boolean> {
    const ref = refOf(obj);
    this.calls.push(`create ${ref.kind} ${ref.namespace}/${ref.name}`);
    this.#check("create", ref);
    if (this.has(ref)) return false;
    this.put(obj);
    return true;
  }

  async delete(ref: Ref): Promise<void> {
    this.calls.push(`delete ${ref.kind} ${ref.namespace}/${ref.name}`);
    this.#check("delete", ref);
    this.objects.delete(refKey(ref));
  }
}
