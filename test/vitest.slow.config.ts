import { defineConfig } from "vitest/config";
import { serverTests } from "./vitest.config.js";

// The slow suites: the getting-started guide followed command by command (`npm run test:docs`),
// the images built and run (`npm run test:images`), and the operator's tools against real agents
// on Kubernetes fixture clusters (`npm run test:ops`). Not part of `npm test`.
export default defineConfig({
  test: { ...serverTests, include: ["src/guide/**/*.test.ts", "src/images/**/*.test.ts", "src/ops/**/*.test.ts"] },
});
