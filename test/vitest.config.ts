import { defineConfig } from "vitest/config";

// Every test here starts real servers: run files one at a time on this 2-core machine,
// each in its own process so a crash cannot leak servers into the next file.
export default defineConfig({
  test: {
    include: ["src/**/*.test.ts"],
    pool: "forks",
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 300_000,
    teardownTimeout: 60_000,
  },
});
