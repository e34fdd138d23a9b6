#!/usr/bin/env node
import { loadConfig } from "./config.js";
import { ConfigError, HubError } from "./errors.js";
import { startHub } from "./hub.js";

try {
  const hub = await startHub(loadConfig(process.env, process.argv.slice(2)));
  const shutdown = () => void hub.stop().then(() => process.exit(0));
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);
} catch (err) {
  // Our errors are one line naming what to fix; anything else is a bug worth its stack.
  process.stderr.write(`flotilla-hub: ${err instanceof HubError ? err.message : (err as Error).stack}\n`);
  process.exit(err instanceof ConfigError ? 2 : 1);
}
