/**
 * The per-app inventory kept in the cluster: which objects the agent applied for an app, at
 * which generation and revision, plus the signed desired state it came from, so a restarted
 * agent can resume (and keep enforcing) without the hub.
 */
import { isNamespace, isOwnedBy, type KubeObject, type Ref, refKey } from "./objects.js";

/** What the agent last did for one app. */
export interface Inventory {
  app: string;
  /** Generation whose objects are applied (0 before the first success). */
  appliedGeneration: number;
  /** Revision of those objects. */
  revision: string;
  rolloutId: string;
  /** Highest generation acted on, including failed ones. */
  observedGeneration: number;
  /** Objects applied at `appliedGeneration`. */
  objects: Ref[];
  /** The sealed desired state of `appliedGeneration`, base64, re-verified on start. */
  desired: string;
  /** When `appliedGeneration` was applied, Unix milliseconds. */
  appliedAtMs: number;
}

export const INVENTORY_PREFIX = "flotilla-inventory-";
const DATA_KEY = "inventory.json";

/** Name of an app's inventory ConfigMap. */
export function inventoryName(app: string): string {
  return `${INVENTORY_PREFIX}${app}`;
}

/** Whether `ref` names an inventory ConfigMap in the agent's namespace `namespace`. */
export function isInventoryRef(ref: Ref, namespace: string): boolean {
  return (
    ref.group === "" && ref.kind === "ConfigMap" && ref.namespace === namespace && ref.name.startsWith(INVENTORY_PREFIX)
  );
}

export function emptyInventory(app: string): Inventory {
  return {
    app,
    appliedGeneration: 0,
    revision: "",
    rolloutId: "",
    observedGeneration: 0,
    objects: [],
    desired: "",
    appliedAtMs: 0,
  };
}

/** The inventory as a ConfigMap in `namespace`. */
export function inventoryToConfigMap(inv: Inventory, namespace: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: inventoryName(inv.app),
      namespace,
      labels: { "app.kubernetes.io/managed-by": "flotilla-agent", "flotilla.dev/inventory": inv.app },
    },
    data: { [DATA_KEY]: JSON.stringify(inv) },
  };
}

/** Reads an inventory ConfigMap; undefined when it is not one of ours or is unreadable. */
export function inventoryFromConfigMap(cm: KubeObject): Inventory | undefined {
  const text = (cm.data as Record<string, string> | undefined)?.[DATA_KEY];
  if (!text) return undefined;
  try {
    const inv = JSON.parse(text) as Inventory;
    if (typeof inv.app !== "string" || !Array.isArray(inv.objects)) return undefined;
    return { ...emptyInventory(inv.app), ...inv };
  } catch {
    return undefined;
  }
}

/**
 * Refs of the previous inventory that the new set lacks, in the previous order. A Namespace
 * in `inUse` (one the new set's objects still live in, though the set no longer defines it)
 * is never a candidate: deleting it would delete the objects just applied.
 */
export function pruneCandidates(
  previous: readonly Ref[],
  next: readonly Ref[],
  inUse: ReadonlySet<string> = new Set(),
): Ref[] {
  const keep = new Set(next.map(refKey));
  return previous.filter((ref) => !keep.has(refKey(ref)) && !(isNamespace(ref) && inUse.has(ref.name)));
}

/** What to do with one prune candidate once its live object has been read. */
export type PruneDecision =
  | { action: "delete"; ref: Ref }
  | { action: "gone"; ref: Ref }
  | { action: "skip"; ref: Ref; reason: string };

/**
 * Decides whether to delete a candidate: only objects that still exist and still carry this
 * app's ownership labels are deleted; another app's or a person's object is left alone.
 */
export function decidePrune(ref: Ref, live: Pick<KubeObject, "metadata"> | undefined, app: string): PruneDecision {
  if (!live) return { action: "gone", ref };
  if (!isOwnedBy(live, app)) {
    return { action: "skip", ref, reason: "not deleted: the live object is not labelled as managed by this app" };
  }
  return { action: "delete", ref };
}
