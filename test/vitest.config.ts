import { defineConfig } from "vitest/config";

/**
 * Every test here starts real servers: run files one at a time on this 2-core machine, each in
 * its own process so a crash cannot leak servers into the next file.
 */
export const serverTests = {
  pool: "forks",
  fileParallelism: false,
  testTimeout: 300_000,
  hookTimeout: 300_000,
  teardownTimeout: 60_000,
} as const;

/**
 * npm test runs two e2e files at once: most of a file's time is spent waiting on servers (API
 * servers starting, bakes, heartbeats, polls), so two overlap well on two cores.
 * FLOTILLA_E2E_WORKERS=1 runs them one at a time again.
 */
const workers = Number(process.env.FLOTILLA_E2E_WORKERS ?? 2);

export default defineConfig({
  test: {
    ...serverTests,
    fileParallelism: workers > 1,
    maxWorkers: workers,
    include: ["src/**/*.test.ts"],
    // The slow suites have their own scripts: npm run test:docs, test:images, test:ops
    // (vitest.slow.config.ts), test:faults (vitest.faults.config.ts), test:browser (vitest.browser.config.ts).
    exclude: ["src/guide/**", "src/images/**", "src/ops/**", "src/faults/**", "src/browser/**", "**/node_modules/**"],
  },
});
