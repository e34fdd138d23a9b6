#!/usr/bin/env node
import { loadConfig } from "./config.js";
import { ConfigError } from "./errors.js";
import { startHub } from "./hub.js";

try {
  const hub = await startHub(loadConfig(process.env, process.argv.slice(2)));
  const shutdown = () => void hub.stop().then(() => process.exit(0));
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);
} catch (err) {
  process.stderr.write(`flotilla-hub: ${err instanceof ConfigError ? err.message : (err as Error).stack}\n`);
  process.exit(err instanceof ConfigError ? 2 : 1);
}
