/**
 * The dashboard's routes live in the URL's fragment (`#/rollouts/<id>`), so the hub serves one
 * file for every view and a link to a view works after a reload.
 */
import { signal } from "@preact/signals";

export type Route =
  | { view: "fleet" }
  | { view: "rollouts" }
  | { view: "rollout"; id: string }
  | { view: "cluster"; name: string }
  | { view: "app"; name: string };

/** The route a fragment names; anything unknown is the fleet view. */
export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const [first, second] = parts;
  if (first === "rollouts" && second) return { view: "rollout", id: second };
  if (first === "rollouts") return { view: "rollouts" };
  if (first === "clusters" && second) return { view: "cluster", name: second };
  if (first === "apps" && second) return { view: "app", name: second };
  return { view: "fleet" };
}

export const href = {
  fleet: () => "#/",
  rollouts: () => "#/rollouts",
  rollout: (id: string) => `#/rollouts/${encodeURIComponent(id)}`,
  cluster: (name: string) => `#/clusters/${encodeURIComponent(name)}`,
  app: (name: string) => `#/apps/${encodeURIComponent(name)}`,
};

export const route = signal<Route>(parseRoute(typeof location === "undefined" ? "" : location.hash));
if (typeof window !== "undefined") {
  window.addEventListener("hashchange", () => {
    route.value = parseRoute(location.hash);
  });
}
