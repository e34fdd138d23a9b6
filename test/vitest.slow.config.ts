import { defineConfig } from "vitest/config";
import { serverTests } from "./vitest.config.js";

// The slow suites: the getting-started guide followed command by command (`npm run test:docs`)
// and the images built and run (`npm run test:images`). Not part of `npm test`.
export default defineConfig({
  test: { ...serverTests, include: ["src/guide/**/*.test.ts", "src/images/**/*.test.ts"] },
});
