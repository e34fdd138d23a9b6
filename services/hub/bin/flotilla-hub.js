#!/usr/bin/env -S node --max-semi-space-size=64
// A committed entry point, so npm links the command even before the first build. The flag (a
// 64 MiB young generation) is the hub's everywhere: see HUB_NODE_FLAGS in @flotilla/devfleet.
import "../dist/main.js";
