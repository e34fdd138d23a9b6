import {
  emptyInventory,
  INVENTORY_PREFIX,
  type Inventory,
  inventoryFromConfigMap,
  inventoryName,
  inventoryToConfigMap,
} from "./inventory.js";
import type { KubeApi } from "./kube-client.js";
import type { KubeObject, Ref } from "./objects.js";

const INVENTORY_FIELD_MANAGER = "flotilla-agent";

/** Where the agent keeps what it applied per app: the seam between reconciling and its records. */
export interface InventoryStore {
  /** The app's inventory, or an empty one when it has none. */
  load(app: string): Promise<Inventory>;
  /** Every app with an inventory, for resuming after a restart. */
  loadAll(): Promise<Inventory[]>;
  save(inv: Inventory): Promise<void>;
  remove(app: string): Promise<void>;
}

/** Inventories as ConfigMaps in the agent's namespace (created when missing). */
export class ConfigMapInventoryStore implements InventoryStore {
  #namespaceReady = false;

  constructor(
    private readonly kube: KubeApi,
    readonly namespace: string,
  ) {}

  #ref(app: string): Ref {
    return { group: "", version: "v1", kind: "ConfigMap", namespace: this.namespace, name: inventoryName(app) };
  }

  async load(app: string): Promise<Inventory> {
    const cm = await this.kube.get(this.#ref(app));
    return (cm && inventoryFromConfigMap(cm)) || emptyInventory(app);
  }

  async loadAll(): Promise<Inventory[]> {
    if (!(await this.kube.get({ group: "", version: "v1", kind: "Namespace", namespace: "", name: this.namespace }))) {
      return [];
    }
    const items = await this.kube.list("v1", "ConfigMap", this.namespace, "flotilla.dev/inventory");
    return items
      .filter((cm) => cm.metadata.name.startsWith(INVENTORY_PREFIX))
      .map((cm) => inventoryFromConfigMap(cm))
      .filter((inv): inv is Inventory => inv !== undefined);
  }

  async save(inv: Inventory): Promise<void> {
    await this.#ensureNamespace();
    await this.kube.apply(inventoryToConfigMap(inv, this.namespace), { fieldManager: INVENTORY_FIELD_MANAGER });
  }

  async remove(app: string): Promise<void> {
    await this.kube.delete(this.#ref(app));
  }

  async #ensureNamespace(): Promise<void> {
    if (this.#namespaceReady) return;
    const ns: KubeObject = { apiVersion: "v1", kind: "Namespace", metadata: { name: this.namespace } };
    await this.kube.apply(ns, { fieldManager: INVENTORY_FIELD_MANAGER });
    this.#namespaceReady = true;
  }
}
