/**
 * @flotilla/dashboard — the fleet dashboard the hub serves at `/ui/`. The UI's sources are in
 * `src/ui` and Vite builds them into `dist/ui`; this entry point only tells the hub where that
 * build is, so the hub's image carries the assets with the rest of its `dist/` folders.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The path under which the hub serves the dashboard, and the base Vite builds it for. */
export const DASHBOARD_PATH = "/ui/";

/** The folder holding the built dashboard (`index.html` and `assets/`). */
export const dashboardRoot: string = fileURLToPath(new URL("./ui/", import.meta.url));

/** Whether the dashboard was built: a hub run from sources without `npm run build` has none. */
export function dashboardBuilt(root: string = dashboardRoot): boolean {
  return existsSync(`${root}index.html`);
}
