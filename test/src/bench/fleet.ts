/**
 * Benchmark: the hub at fleet scale. Per size: real nats-server, redis-server, Git smart-HTTP
 * server and the hub's built command; simulated agents from @flotilla/loadgen (heartbeats every
 * 10 s, a signed report sequence per desired state); a first deploy, commit rollouts through a
 * signed webhook (one wave with 1 and 5 reports per revision, then canary 1 % → rest), report
 * and heartbeat bursts, API latency and the hub's exit on SIGTERM. Prints figures; exits 1 when
 * a rollout did not succeed with every cluster healthy at the generation it was written, when a
 * generation went backwards, or when a live cluster was marked Offline.
 *
 * Run: npx turbo run build && npm run bench:fleet -- --clusters 100,1000 [--operator 1000]
 *      [--reports 1,5] [--no-canary] [--agent-shards N] [--agent-verify] [--agent-ack] [--profile DIR] [--out FILE.json]
 *      [--hub SCRIPT] [--hub-node-flags=FLAGS]
 *
 * The simulated agents run in `--agent-shards` worker threads (default 2), so their heartbeat
 * and report timers never wait on this process's event loop, which reads the hub's events and
 * serves Git. Rollout times are printed end to end and by the hub's clock (from its events).
 * They check each desired state's type, key id, cluster, app and generation but, unless
 * `--agent-verify`, not its Ed25519 signature: that check is the agents' CPU, not the hub's,
 * and on a busy 2-core machine it made the simulated agents the bottleneck. Every report and
 * heartbeat they send is signed either way. Likewise they publish the work-phase reports before
 * a verdict (fetching … applying) without waiting for the stream's acknowledgement unless
 * `--agent-ack`: the hub reads them the same, and a JetStream request each made the agents set
 * the pace of five-report rollouts. Verdicts are always acknowledged.
 *
 * `--profile DIR` keeps the hub's CPU profiles and its log (`hub.log`) per size in DIR.
 * `--hub` runs another build of the hub (its `dist/main.js`, inside this repository so its
 * imports resolve), to compare figures before and after a change on the same machine.
 * `--hub-node-flags=FLAGS` gives the hub's `node` these flags (space-separated), to try V8
 * settings side by side with a run without them.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_SHARDS } from "@flotilla/loadgen";
import { describeProfiles } from "./fleet/profile.js";
import { runSize, type SizeResult } from "./fleet/scenario.js";
import { rolloutTable, sizeTable } from "./fleet/table.js";

const { values } = parseArgs({
  options: {
    clusters: { type: "string", default: "100,1000" },
    operator: { type: "string", default: "" },
    reports: { type: "string", default: "1,5" },
    "no-canary": { type: "boolean", default: false },
    "agent-shards": { type: "string", default: String(DEFAULT_SHARDS) },
    "agent-verify": { type: "boolean", default: false },
    "agent-ack": { type: "boolean", default: false },
    profile: { type: "string" },
    hub: { type: "string" },
    "hub-node-flags": { type: "string" },
    out: { type: "string" },
  },
});

const sizes = (text: string) =>
  text
    .split(",")
    .filter(Boolean)
    .map((s) => {
      const n = Number(s.replaceAll("_", ""));
      if (!Number.isInteger(n) || n < 1)
        throw new Error(`--clusters and --operator take counts like 100,1000; got ${s}`);
      return n;
    });

// npm runs the script in the test workspace; paths on the command line are the caller's.
const fromCaller = (path: string) => resolve(process.env.INIT_CWD ?? process.cwd(), path);
const say = (line: string) => process.stdout.write(`${line}\n`);
const runs = [
  ...sizes(values.clusters).map((clusters) => ({ clusters, operator: false })),
  ...sizes(values.operator).map((clusters) => ({ clusters, operator: true })),
];
const agentShards = Number(values["agent-shards"]);
if (!Number.isInteger(agentShards) || agentShards < 1)
  throw new Error(`--agent-shards takes a count of worker threads like 2; got ${values["agent-shards"]}`);
const workDir = await mkdtemp(join(tmpdir(), "flotilla-bench-fleet-"));
const results: SizeResult[] = [];
try {
  for (const run of runs) {
    const profileDir = values.profile
      ? join(values.profile, `${run.clusters}-${run.operator ? "operator" : "shared"}`)
      : undefined;
    if (profileDir) await mkdir(profileDir, { recursive: true });
    say(
      `${run.clusters} clusters (${run.operator ? "operator mode" : "NATS without auth"}), load average ${loadavg()[0]?.toFixed(2)}`,
    );
    const result = await runSize({
      ...run,
      reportsPerRevision: sizes(values.reports),
      canary: !values["no-canary"],
      agentShards,
      agentVerify: values["agent-verify"],
      agentAck: values["agent-ack"],
      workDir,
      ...(profileDir ? { profileDir } : {}),
      ...(values.hub ? { hubScript: fromCaller(values.hub) } : {}),
      ...(values["hub-node-flags"] !== undefined
        ? { hubNodeFlags: values["hub-node-flags"].split(" ").filter(Boolean) }
        : {}),
      say,
    });
    results.push(result);
    if (profileDir) say(await describeProfiles(profileDir));
  }
} finally {
  await rm(workDir, { recursive: true, force: true });
}

say("");
say(rolloutTable(results));
say("");
say(sizeTable(results));
if (values.out) await writeFile(fromCaller(values.out), `${JSON.stringify(results, null, 2)}\n`);
const problems = results.flatMap((r) => r.problems.map((p) => `${r.clusters} clusters: ${p}`));
for (const p of problems) say(`PROBLEM ${p}`);
process.exitCode = problems.length > 0 ? 1 : 0;
