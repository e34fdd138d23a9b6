/**
 * Benchmark: the simulated agents alone, without a hub. A real nats-server; this process plays
 * the hub's part: it writes one hub-signed desired state per cluster as fast as the bucket takes
 * them (signed before the clock starts) and counts the reports that land in the status bucket.
 * Per round it prints the desired states the agents took in per second, the reports per second
 * that reached the bucket, how long after the last desired write the last report came, and this
 * process's CPU (the writer's, the counter's and the agents' threads together).
 *
 * Run: npx turbo run build && npm run bench:agents -- [--clusters 10000] [--rounds 3]
 *      [--agent-shards 2] [--agent-verify]
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { startNats } from "@flotilla/devfleet";
import { DEFAULT_SHARDS, ShardedFleet } from "@flotilla/loadgen";
import {
  DESIRED_BUCKET,
  DESIRED_STATE,
  generateSigningKey,
  publicKeyToPem,
  STATUS_BUCKET,
  seal,
  signingKeyToPem,
  stateKey,
} from "@flotilla/proto";
import { connect, KvWatchInclude } from "nats";

const { values } = parseArgs({
  options: {
    clusters: { type: "string", default: "10000" },
    rounds: { type: "string", default: "3" },
    "agent-shards": { type: "string", default: String(DEFAULT_SHARDS) },
    "agent-verify": { type: "boolean", default: false },
  },
});
const count = (name: string, text: string) => {
  const n = Number(text.replaceAll("_", ""));
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} takes a positive count like 3; got ${text}`);
  return n;
};
const clusters = count("clusters", values.clusters);
const rounds = count("rounds", values.rounds);
const shards = count("agent-shards", values["agent-shards"]);
const say = (line: string) => process.stdout.write(`${line}\n`);
const load = () => loadavg()[0]?.toFixed(2);

const nats = await startNats();
const nc = await connect({ ...nats.clientOptions(), noAsyncTraces: true });
const js = nc.jetstream();
const desired = await js.views.kv(DESIRED_BUCKET, { history: 5 });
const status = await js.views.kv(STATUS_BUCKET, { history: 1 });
const hubKey = generateSigningKey();
const agentKey = signingKeyToPem(generateSigningKey());
const names = Array.from({ length: clusters }, (_, i) => `sim-${i}`);
const bundles = names.map((cluster) => ({
  cluster,
  natsUrl: nats.url,
  hubPublicKey: publicKeyToPem(hubKey.publicKey),
  agentSigningKey: agentKey,
  natsCreds: "",
}));
say(
  `${clusters} simulated clusters in ${shards} thread(s), desired signatures ${values["agent-verify"] ? "verified" : "not verified"}, load average ${load()}`,
);
const fleet = await ShardedFleet.start({
  natsUrl: nats.url,
  bundles,
  shards,
  verifyDesired: values["agent-verify"],
  tls: nats.clientOptions().tls,
});
let reports = 0;
let lastReportAt = 0;
const watch = await status.watch({ key: ">", include: KvWatchInclude.UpdatesOnly });
const counting = (async () => {
  for await (const _ of watch) {
    reports++;
    lastReportAt = performance.now();
  }
})();
try {
  for (let round = 1; round <= rounds; round++) {
    const revision = round.toString(16).padStart(40, "0");
    const signed = names.map((cluster) =>
      seal(
        DESIRED_STATE,
        {
          cluster,
          app: "web",
          generation: round,
          rolloutId: `r${round}`,
          source: { repoUrl: "http://git.invalid/web.git", revision },
        },
        hubKey,
      ),
    );
    await fleet.openWindow();
    const before = (await fleet.counts()).reportsSent;
    const cpu = process.cpuUsage();
    const start = performance.now();
    reports = 0;
    await Promise.all(names.map((cluster, i) => desired.put(stateKey(cluster, "web"), signed[i]!)));
    const written = performance.now();
    const deadline = Date.now() + 120_000;
    while ((await fleet.counts()).reportsSent - before < clusters || reports < clusters) {
      if (Date.now() > deadline)
        throw new Error(`round ${round}: only ${reports} of ${clusters} reports arrived in 120 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const window = await fleet.window();
    const used = process.cpuUsage(cpu);
    const inRate = window.count / (((window.lastAtMs ?? 0) - (window.firstAtMs ?? 0)) / 1000);
    say(
      `  round ${round}: desired written in ${((written - start) / 1000).toFixed(2)} s; taken in ${Math.round(inRate)} /s; ` +
        `reports ${Math.round(reports / ((lastReportAt - start) / 1000))} /s, the last ${((lastReportAt - written) / 1000).toFixed(2)} s after the last write; ` +
        `process CPU ${((used.user + used.system) / 1e6).toFixed(2)} s; load ${load()}`,
    );
  }
  const c = await fleet.counts();
  say(
    `  refused ${c.desiredRefused}, generation regressions ${c.generationRegressions}, report failures ${c.reportFailures}, heartbeat ticks late up to ${(c.heartbeatLateMaxMs / 1000).toFixed(1)} s`,
  );
} finally {
  watch.stop();
  await fleet.stop();
  await counting;
  await nc.close();
  await nats.stop();
}
