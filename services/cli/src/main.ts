#!/usr/bin/env node
import { processContext, run } from "./program.js";

process.exitCode = await run(process.argv.slice(2), processContext());
