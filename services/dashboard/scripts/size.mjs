// Prints the gzipped size of the built dashboard (every asset the page loads) and fails the build
// past the budget, so a dependency that bloats the bundle is noticed where it is added.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const BUDGET_BYTES = 300 * 1024;
const dir = new URL("../dist/ui/assets/", import.meta.url).pathname;
let total = 0;
for (const name of readdirSync(dir)) {
  const size = gzipSync(readFileSync(join(dir, name)), { level: 9 }).length;
  total += size;
  console.log(`dashboard: ${name} ${(size / 1024).toFixed(1)} KiB gzipped`);
}
console.log(`dashboard: bundle ${(total / 1024).toFixed(1)} KiB gzipped (budget ${BUDGET_BYTES / 1024} KiB)`);
if (total > BUDGET_BYTES) {
  console.error(`dashboard: the bundle is over its budget of ${BUDGET_BYTES / 1024} KiB gzipped`);
  process.exit(1);
}
