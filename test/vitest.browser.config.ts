import { defineConfig } from "vitest/config";
import { serverTests } from "./vitest.config.js";

// The dashboard on real Kubernetes clusters in a real browser (`npm run test:browser`); the
// small variant with simulated agents is src/e2e/dashboard.test.ts, in `npm test`.
export default defineConfig({
  test: { ...serverTests, testTimeout: 600_000, hookTimeout: 600_000, include: ["src/browser/**/*.test.ts"] },
});
