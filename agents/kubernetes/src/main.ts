#!/usr/bin/env node
import { startAgent } from "./agent.js";
import { loadConfig } from "./config.js";
import { ConfigError } from "./errors.js";

/** Longest a stop may take before the process exits anyway: a NATS that is gone must not hold it open. */
const STOP_DEADLINE_MS = 15_000;

try {
  const agent = await startAgent(loadConfig(process.argv.slice(2), process.env));
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      setTimeout(() => {
        process.stderr.write(`flotilla-agent: stop did not finish within ${STOP_DEADLINE_MS} ms; exiting\n`);
        process.exit(1);
      }, STOP_DEADLINE_MS).unref();
      agent.stop().finally(() => process.exit(0));
    });
  }
} catch (err) {
  // Bad settings are one line, not a stack trace.
  process.stderr.write(`flotilla-agent: ${err instanceof ConfigError ? err.message : String(err)}\n`);
  process.exit(err instanceof ConfigError ? 2 : 1);
}
