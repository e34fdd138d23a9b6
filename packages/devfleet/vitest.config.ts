import { defineConfig } from "vitest/config";

// The harness's own tests start the real servers it manages: one file at a time on this
// 2-core machine, each in its own process so a crash cannot leak servers into the next file.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    pool: "forks",
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 300_000,
    teardownTimeout: 60_000,
  },
});
