/**
 * The agent-wide settings of the health rules (from the agent's configuration), with their
 * defaults. Per-app and per-kind settings come with the desired state (see rules.ts).
 */

/**
 * What a Service of type LoadBalancer (or an Ingress) without an address is:
 * - `wait`: Progressing until the load-balancer (or ingress) controller gives it an address,
 *   which on a cluster without such a controller never comes and fails the wave at its deadline;
 * - `ignore-address`: Healthy without an address, for clusters with no such controller
 *   (bare metal without MetalLB, kind, kwok). A LoadBalancer Service still needs its cluster IP.
 */
export const ADDRESS_RULES = ["wait", "ignore-address"] as const;
export type AddressRule = (typeof ADDRESS_RULES)[number];

export interface HealthSettings {
  /** Restarts at which a container in CrashLoopBackOff fails its Pod (and workload) at once. */
  crashLoopRestarts: number;
  /** How long a Pod may be unschedulable before it fails (autoscalers need a minute or two). */
  unschedulableGraceMs: number;
  /** LoadBalancer Services without an address. */
  loadBalancer: AddressRule;
  /** Ingresses without an address. */
  ingress: AddressRule;
}

/** Restarts before a crash loop is a certain failure: one crash may be a dependency not up yet. */
export const DEFAULT_CRASH_LOOP_RESTARTS = 3;
/** Unschedulable for this long fails a Pod. */
export const DEFAULT_UNSCHEDULABLE_GRACE_MS = 120_000;
/** @default "wait": an address is what a LoadBalancer Service is for. */
export const DEFAULT_LOADBALANCER_HEALTH: AddressRule = "wait";
/** @default "wait" */
export const DEFAULT_INGRESS_HEALTH: AddressRule = "wait";

export const DEFAULT_HEALTH_SETTINGS: Readonly<HealthSettings> = Object.freeze({
  crashLoopRestarts: DEFAULT_CRASH_LOOP_RESTARTS,
  unschedulableGraceMs: DEFAULT_UNSCHEDULABLE_GRACE_MS,
  loadBalancer: DEFAULT_LOADBALANCER_HEALTH,
  ingress: DEFAULT_INGRESS_HEALTH,
});
