/**
 * A freeze the cluster asks for itself: "don't update me now", said by whoever runs the cluster
 * rather than by the hub's admins. Two ways, the setting first:
 * - the agent setting `FLOTILLA_FREEZE` (flag `--freeze`): its text is the reason;
 * - a ConfigMap in the agent's namespace labelled `flotilla.io/freeze` (any value but "false"):
 *   its `data.reason` is the reason, else it names the ConfigMap. With several, the first by name.
 * The agent sends what it found in every heartbeat; the hub holds the cluster as its
 * environment's `offlineClusters` policy says for an offline one. Deleting the ConfigMap (or
 * relabelling it "false") lifts the freeze with the next heartbeat.
 */
import type { KubeObject } from "./objects.js";

/** The label that marks a ConfigMap as a freeze request. */
export const FREEZE_LABEL = "flotilla.io/freeze";
/** Longest reason sent; the hub cuts there too. */
export const FREEZE_REASON_MAX = 500;

/** What the heartbeat says; undefined: no freeze asked for. */
export interface FreezeRequest {
  reason: string;
  /** "setting", or "configmap <namespace>/<name>". */
  source: string;
}

/** The freeze the setting or the labelled ConfigMaps ask for, or undefined. Pure. */
export function freezeRequest(setting: string, configMaps: readonly KubeObject[]): FreezeRequest | undefined {
  const fromSetting = setting.trim();
  if (fromSetting) return { reason: fromSetting.slice(0, FREEZE_REASON_MAX), source: "setting" };
  const marked = configMaps
    .filter((cm) => {
      const value = cm.metadata.labels?.[FREEZE_LABEL];
      return value !== undefined && value.toLowerCase() !== "false";
    })
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  const first = marked[0];
  if (!first) return undefined;
  const where = `${first.metadata.namespace ?? ""}/${first.metadata.name}`;
  const data = (first as { data?: Record<string, string> }).data;
  const reason = data?.reason?.trim() || `ConfigMap ${where} is labelled ${FREEZE_LABEL}`;
  return { reason: reason.slice(0, FREEZE_REASON_MAX), source: `configmap ${where}` };
}
