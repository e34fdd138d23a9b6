/**
 * Reading an object's status the way the Kubernetes API conventions write it, and the
 * verdicts the health rules return. Everything here is a pure function of the object.
 */
import { Health } from "@flotilla/proto";
import type { KubeObject } from "../objects.js";

/** Health of one object and why, in one line a person can act on. */
export interface Assessment {
  health: Health;
  message: string;
}

/** One entry of `status.conditions`. */
export interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
  observedGeneration?: number;
  lastTransitionTime?: string;
}

export type Json = Record<string, unknown>;

export const healthy = (message = ""): Assessment => ({ health: Health.HEALTH_HEALTHY, message });
export const progressing = (message: string): Assessment => ({ health: Health.HEALTH_PROGRESSING, message });
export const degraded = (message: string): Assessment => ({ health: Health.HEALTH_DEGRADED, message });
export const suspended = (message: string): Assessment => ({ health: Health.HEALTH_SUSPENDED, message });
export const unknown = (message: string): Assessment => ({ health: Health.HEALTH_UNKNOWN, message });

/** `obj.spec` or `obj.status` as an object (empty when absent). */
export function section(obj: KubeObject, key: "spec" | "status"): Json {
  const v = obj[key];
  return typeof v === "object" && v !== null ? (v as Json) : {};
}

/** A nested object field, empty when absent. */
export function field(parent: Json, key: string): Json {
  const v = parent[key];
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : {};
}

/** A number field, `fallback` when absent or not a number. */
export function num(v: unknown, fallback = 0): number {
  return typeof v === "number" ? v : fallback;
}

export function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

export function conditions(status: Json): Condition[] {
  return Array.isArray(status.conditions) ? (status.conditions as Condition[]) : [];
}

export function condition(status: Json, type: string): Condition | undefined {
  return conditions(status).find((c) => c.type === type);
}

export function isTrue(c: Condition | undefined): boolean {
  return c?.status === "True";
}

export function isFalse(c: Condition | undefined): boolean {
  return c?.status === "False";
}

/** ` (reason: message)`, or as much of it as the condition has. */
export function because(c: Condition | undefined): string {
  const parts = [c?.reason, c?.message].filter((p): p is string => !!p);
  return parts.length > 0 ? `: ${parts.join(": ")}` : "";
}

/** The object's API group, empty for the core group. */
export function groupOf(obj: Pick<KubeObject, "apiVersion">): string {
  const slash = obj.apiVersion.indexOf("/");
  return slash < 0 ? "" : obj.apiVersion.slice(0, slash);
}

/** `group/kind` (`/Service` for the core group): the key of per-kind rules. */
export function kindKey(group: string, kind: string): string {
  return `${group}/${kind}`;
}

/** Milliseconds since the epoch of an RFC 3339 time; undefined when absent or unparsable. */
export function timeMs(v: unknown): number | undefined {
  if (typeof v !== "string" || v === "") return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}
