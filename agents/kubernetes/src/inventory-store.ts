import {
  emptyInventory,
  INVENTORY_PREFIX,
  type Inventory,
  inventoryFromConfigMap,
  inventoryName,
  inventoryToConfigMap,
} from "./inventory.js";
import type { KubeClient } from "./kube-client.js";
import type { Ref } from "./objects.js";

const INVENTORY_FIELD_MANAGER = "flotilla-agent";

/** Inventories as ConfigMaps in the agent's namespace (created when missing). */
export class InventoryStore {
  #namespaceReady = false;

  constructor(
    private readonly kube: KubeClient,
    readonly namespace: string,
  ) {}

  #ref(app: string): Ref {
    return { group: "", version: "v1", kind: "ConfigMap", namespace: this.namespace, name: inventoryName(app) };
  }

  /** The app's inventory, or an empty one when it has none. */
  async load(app: string): Promise<Inventory> {
    const cm = await this.kube.get(this.#ref(app));
    return (cm && inventoryFromConfigMap(cm)) || emptyInventory(app);
  }

  /** Every app with an inventory, for resuming after a restart. */
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
    const cm = inventoryToConfigMap(inv, this.namespace);
    const query = new URLSearchParams({ fieldManager: INVENTORY_FIELD_MANAGER, force: "true" });
    const path = await this.kube.pathOf(this.#ref(inv.app));
    await this.kube.request("PATCH", `${path}?${query}`, cm, "application/apply-patch+yaml");
  }

  async remove(app: string): Promise<void> {
    await this.kube.delete(this.#ref(app));
  }

  async #ensureNamespace(): Promise<void> {
    if (this.#namespaceReady) return;
    const ns = { apiVersion: "v1", kind: "Namespace", metadata: { name: this.namespace } };
    const path = await this.kube.pathOf({
      group: "",
      version: "v1",
      kind: "Namespace",
      namespace: "",
      name: this.namespace,
    });
    const query = new URLSearchParams({ fieldManager: INVENTORY_FIELD_MANAGER });
    await this.kube.request("PATCH", `${path}?${query}`, ns, "application/apply-patch+yaml");
    this.#namespaceReady = true;
  }
}
