#!/usr/bin/env node
import { loadConfig } from "./config.js";
import { ConfigError, HubError } from "./errors.js";
import { startHub } from "./hub.js";

/**
 * Longest a stop may take before the process exits anyway: each step has its own deadline,
 * but a dependency that is gone (Redis, NATS) must never hold the process open.
 */
const STOP_DEADLINE_MS = 15_000;

try {
  const hub = await startHub(loadConfig(process.env, process.argv.slice(2)));
  const shutdown = () => {
    setTimeout(() => {
      process.stderr.write(`flotilla-hub: stop did not finish within ${STOP_DEADLINE_MS} ms; exiting\n`);
      process.exit(1);
    }, STOP_DEADLINE_MS).unref();
    void hub.stop().then(() => process.exit(0));
  };
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);
} catch (err) {
  // Our errors are one line naming what to fix; anything else is a bug worth its stack.
  process.stderr.write(`flotilla-hub: ${err instanceof HubError ? err.message : (err as Error).stack}\n`);
  process.exit(err instanceof ConfigError ? 2 : 1);
}
