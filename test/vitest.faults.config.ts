import { defineConfig } from "vitest/config";
import { serverTests } from "./vitest.config.js";

// The fault suite (`npm run test:faults`): every fault injected into a rollout on real NATS
// (three nodes), Redis (Sentinel) and hub replicas, with a table of figures. Not in `npm test`,
// which runs the reduced set in src/e2e/faults.test.ts.
export default defineConfig({
  test: { ...serverTests, include: ["src/faults/**/*.test.ts"], testTimeout: 1_200_000 },
});
