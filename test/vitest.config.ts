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

export default defineConfig({
  test: {
    ...serverTests,
    include: ["src/**/*.test.ts"],
    // The slow suites have their own scripts: npm run test:docs, test:images, test:ops
    // (vitest.slow.config.ts), test:faults (vitest.faults.config.ts), test:browser (vitest.browser.config.ts).
    exclude: ["src/guide/**", "src/images/**", "src/ops/**", "src/faults/**", "src/browser/**", "**/node_modules/**"],
  },
});
