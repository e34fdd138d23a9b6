#!/usr/bin/env node
import { startAgent } from "./agent.js";
import { loadConfig } from "./config.js";
import { ConfigError } from "./errors.js";

try {
  const agent = await startAgent(loadConfig(process.argv.slice(2), process.env));
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      agent.stop().finally(() => process.exit(0));
    });
  }
} catch (err) {
  // Bad settings are one line, not a stack trace.
  process.stderr.write(`flotilla-agent: ${err instanceof ConfigError ? err.message : String(err)}\n`);
  process.exit(err instanceof ConfigError ? 2 : 1);
}
