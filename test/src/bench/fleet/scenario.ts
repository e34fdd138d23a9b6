/**
 * One fleet size of the benchmark: real nats-server, redis-server, Git smart-HTTP server and
 * the hub's built command; N simulated agents from @flotilla/loadgen; a first deploy and commit
 * rollouts through a signed webhook; then bursts, API latency and the hub's stop on SIGTERM.
 */
import { createHmac } from "node:crypto";
import { copyFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import type { RolloutView } from "@flotilla/api";
import {
  type FixtureRepo,
  type HubCommand,
  type HubProcess,
  startGitServer,
  startHubProcess,
  startNats,
  startRedis,
} from "@flotilla/devfleet";
import { createOperatorSetup, GITHUB_SIGNATURE_HEADER } from "@flotilla/hub";
import { type ClusterSpec, registerClusters, ShardedFleet } from "@flotilla/loadgen";
import { STATUS_BUCKET } from "@flotilla/proto";
import { connect, credsAuthenticator } from "nats";
import { HubEventStream } from "./events.js";
import { cpuSeconds, peakRssBytes, threadCpuSeconds, threadCpuSpent } from "./process-stats.js";

const APP = "bench";
const ENVIRONMENT = "prod";
const WEBHOOK_SECRET = "bench-webhook-secret-0123456789";
/** Longest wait for one rollout; the policy's progress deadline (600 s) fails it before that. */
const ROLLOUT_TIMEOUT_MS = 900_000;
/** Longest wait for every cluster to turn Ready, per thousand clusters. */
const READY_TIMEOUT_PER_THOUSAND_MS = 60_000;
/** Requests per latency figure (the median is reported). */
const LATENCY_SAMPLES = 21;
/** Reports per cluster in the report burst: a real agent's sequence for one revision. */
const REPORT_BURST = 5;
/**
 * Longest the hub is held stopped while a report backlog goes into the stream: well inside
 * its leader lease (5 s), so the drain measures ingest, not an election. What the stream has
 * not stored by then arrives while the hub drains, which only lowers the figure.
 */
const BACKLOG_HOLD_MAX_MS = 2_000;
/** How long the hub gets to exit after SIGTERM before it is killed. */
const STOP_GRACE_MS = 60_000;

/** A rollout policy the benchmark runs. */
export type PolicyName = "one wave" | "canary 1% → rest";

/** What one size runs. */
export interface SizeOptions {
  clusters: number;
  /** NATS in operator mode: every simulated cluster connects with its own credentials. */
  operator: boolean;
  /** One one-wave commit rollout per entry, with that many reports per revision. */
  reportsPerRevision: readonly number[];
  /** Also a commit rollout with a canary wave of 1 % of the clusters, then the rest. */
  canary: boolean;
  /** Where the servers keep their files. */
  workDir: string;
  /** Writes a V8 CPU profile of the hub here (`node --cpu-prof`), and its log once it stopped. */
  profileDir?: string;
  /** Worker threads the simulated agents run in (their timers then never wait on this process). */
  agentShards: number;
  /** Whether the simulated agents verify each desired state's signature (see `verifyDesired`). */
  agentVerify: boolean;
  /** Simulated agents wait for the stream's ack of work-phase reports too, as real agents do. */
  agentAck: boolean;
  /** Runs this script as the hub instead of the built `flotilla-hub` (e.g. a copy of an older build, to compare). */
  hubScript?: string;
  /** Flags for the hub's `node` (V8 settings to try, such as `--max-semi-space-size=64`). */
  hubNodeFlags?: readonly string[];
  say: (line: string) => void;
}

/** One rollout's figures. */
export interface RolloutResult {
  name: string;
  policy: PolicyName;
  reportsPerRevision: number;
  /** Trigger (webhook, or the app's apply for the first deploy) to RolloutSucceeded. */
  seconds: number;
  /** Trigger to the rollout's creation. */
  createdSeconds: number;
  /**
   * By the hub's clock (its events' times), from the rollout's creation: when its last desired
   * state was written, when the last report before its end was stored, and its end. Apart from
   * the delay of the benchmark's own event loop, which reads the events.
   */
  hub: { lastWriteSeconds: number; lastReportSeconds: number; endSeconds: number };
  desiredWrites: number;
  desiredWritesPerSecond: number;
  reportsIngested: number;
  hubCpuSeconds: number;
  /** Empty when the rollout succeeded with every cluster healthy at the generation it was written. */
  problems: string[];
}

/** One size's figures. */
export interface SizeResult {
  clusters: number;
  mode: "shared" | "operator";
  loadBefore: number;
  loadAfter: number;
  registrationSeconds: number;
  rollouts: RolloutResult[];
  /** Report burst, end to end: sent by the agents → the hub's last report event seen here. */
  reportBurstPerSecond: number;
  /** Report burst by the hub's clock: reports stored from its first report event to its last. */
  reportBurstHubPerSecond: number;
  /** The hub's CPU time (all its threads) in the report burst, per report sent. */
  reportCpuMicros: number;
  /**
   * A backlog drained: reports stored in the stream while the hub was held (SIGSTOP), over the
   * time from its release to its last report event. The hub's ingest capacity with both cores
   * its own, the load generator and nats-server done.
   */
  reportBacklogPerSecond: number;
  /** Reports of the backlog the stream had stored when the hub was released. */
  reportBacklogHeld: number;
  heartbeatBurstPerSecond: number;
  /** Ready → Offline transitions of clusters whose simulated agent never stopped. */
  falseOffline: number;
  falseOfflineClusters: number;
  clustersListP50Ms: number;
  clustersListBytes: number;
  /** `GET /v1/clusters?limit=500`: the first page. */
  clustersPageP50Ms: number;
  fleetStatusP50Ms: number;
  hubPeakRssBytes: number;
  sigtermSeconds: number;
  /** The hub had to be killed: it did not exit within the grace period. */
  sigtermKilled: boolean;
  generationRegressions: number;
  /** Warnings and errors the hub logged, counted by message (lease losses, NATS cuts, ...). */
  hubWarnings: Record<string, number>;
  problems: string[];
}

/** Pino's level of `warn`; errors and worse are above it. */
const PINO_WARN = 40;

/** Counts the warnings and errors of a hub's JSON log by message. */
async function warningsOf(logPath: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const text = await readFile(logPath, "utf8").catch(() => "");
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string };
      if ((entry.level ?? 0) < PINO_WARN) continue;
      const msg = entry.msg ?? "(no message)";
      counts[msg] = (counts[msg] ?? 0) + 1;
    } catch {
      // A line cut by the kill is no warning.
    }
  }
  return counts;
}

function files(version: string): Record<string, string> {
  return {
    "deploy/config.yaml": `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bench\ndata:\n  version: "${version}"\n`,
  };
}

function policyYaml(policy: PolicyName): string {
  const waves =
    policy === "one wave"
      ? `[{ name: all, selector: {}, maxConcurrency: "100%", bakeSeconds: 0 }]`
      : `[{ name: canary, selector: { tier: canary }, maxConcurrency: "100%", bakeSeconds: 0 }, { name: rest, selector: {}, maxConcurrency: "100%", bakeSeconds: 0 }]`;
  return `apiVersion: flotilla.dev/v1
kind: Environment
metadata: { name: ${ENVIRONMENT} }
spec:
  policy: { waves: ${waves}, progressDeadlineSeconds: 600, offlineClusters: block }
`;
}

function teamYaml(): string {
  return `apiVersion: flotilla.dev/v1
kind: Team
metadata: { name: bench }
spec: { description: the fleet benchmark }
`;
}

function repoAndAppYaml(repo: FixtureRepo, git: { username: string; password: string }): string {
  return `apiVersion: flotilla.dev/v1
kind: Repo
metadata: { name: ${APP} }
spec:
  team: bench
  url: ${repo.url}
  branches: { ${ENVIRONMENT}: main }
  pollIntervalSeconds: 3600
  credentials: { username: ${git.username}, password: ${git.password} }
  webhookSecret: ${WEBHOOK_SECRET}
---
apiVersion: flotilla.dev/v1
kind: App
metadata: { name: ${APP} }
spec: { repo: ${APP}, path: deploy, source: manifests, namespace: ${APP} }
`;
}

/** Starts `script` as the hub: the listen, Redis and NATS addresses go in its flags. */
function hubCommand(script: string, natsUrl: string, redisUrl: string): (listen: string) => HubCommand {
  return (listen) => ({ script, args: ["--listen", listen, "--redis-url", redisUrl, "--nats-url", natsUrl] });
}

/** Cluster names sort in registration order; the first 1 % (at least one) are canaries. */
function clusterSpecs(count: number): ClusterSpec[] {
  const canaries = Math.max(1, Math.ceil(count / 100));
  const width = String(count).length;
  return Array.from({ length: count }, (_, i): ClusterSpec => {
    const labels: Record<string, string> = { env: ENVIRONMENT };
    if (i < canaries) labels.tier = "canary";
    return { name: `sim-${String(i).padStart(width, "0")}`, labels };
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

async function latency(hub: HubProcess, path: string): Promise<{ p50Ms: number; bytes: number }> {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const started = performance.now();
    const res = await hub.api.request("GET", path);
    times.push(performance.now() - started);
    if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${res.text.slice(0, 200)}`);
    bytes = Buffer.byteLength(res.text);
  }
  return { p50Ms: median(times), bytes };
}

/** Whether every cluster of the rollout is healthy at the generation its simulated agent last acted on. */
async function verify(hub: HubProcess, fleet: ShardedFleet, id: string): Promise<string[]> {
  const res = await hub.api.request<RolloutView>("GET", `/v1/rollouts/${id}`);
  const r = res.json;
  if (!r) return [`GET /v1/rollouts/${id} answered ${res.status}`];
  const problems: string[] = [];
  if (r.state !== "Succeeded") problems.push(`rollout ${id} ended ${r.state}: ${r.failure?.reason ?? ""}`);
  let wrong = 0;
  let example = "";
  const progress = await fleet.progress(APP);
  for (const c of r.waves.flatMap((w) => w.clusters)) {
    const seen = progress.get(c.name);
    if (c.state === "healthy" && seen && seen.generation === c.generation && seen.revision === r.to.revision) continue;
    wrong++;
    example ||= `${c.name} is ${c.state} at generation ${c.generation}; its agent acted on ${seen?.generation} (${seen?.revision.slice(0, 7) ?? "nothing"})`;
  }
  if (wrong > 0) problems.push(`${wrong} cluster(s) not healthy at the written generation, e.g. ${example}`);
  return problems;
}

interface Harness {
  hub: HubProcess;
  fleet: ShardedFleet;
  events: HubEventStream;
  repo: FixtureRepo;
  say: (line: string) => void;
}

/** Ready → Offline transitions seen so far. */
function offlineSoFar(events: HubEventStream): number {
  return [...events.offline.values()].reduce((a, b) => a + b, 0);
}

/** Runs one rollout from `trigger` to its end and measures it. */
async function measureRollout(
  h: Harness,
  name: string,
  policy: PolicyName,
  trigger: () => Promise<void>,
): Promise<RolloutResult> {
  const { hub, fleet, events } = h;
  const reportsPerRevision = fleet.behaviour.reportsPerRevision;
  await fleet.openWindow();
  const reportsBefore = events.count("report");
  const cpuBefore = await cpuSeconds(hub.process.pid);
  const created = events.nextRollout(["Created"], 120_000);
  // A trigger slower than that wait must fail this size (and stop its servers), not the process.
  created.catch(() => {});
  const started = performance.now();
  await trigger();
  const createdEvent = await created;
  const id = createdEvent.rolloutId;
  const createdSeconds = (performance.now() - started) / 1000;
  const offlineBefore = offlineSoFar(events);
  const end = await events.end(id, ROLLOUT_TIMEOUT_MS);
  const seconds = (performance.now() - started) / 1000;
  const offline = offlineSoFar(events) - offlineBefore;
  const hubCpuSeconds = (await cpuSeconds(hub.process.pid)) - cpuBefore;
  const window = await fleet.window();
  const spanS = ((window.lastAtMs ?? 0) - (window.firstAtMs ?? 0)) / 1000;
  const fromCreated = (atMs: number | undefined) => Math.max(0, ((atMs ?? 0) - createdEvent.atMs) / 1000);
  const hubTimes = {
    lastWriteSeconds: fromCreated(events.writesOf(id)?.lastAtMs),
    lastReportSeconds: fromCreated(events.lastReportAtMs),
    endSeconds: fromCreated(end.atMs),
  };
  const problems = end.event === "RolloutSucceeded" ? [] : [`${id}: ${end.event} ${end.message ?? ""}`];
  problems.push(...(await verify(hub, fleet, id)));
  const result: RolloutResult = {
    name,
    policy,
    reportsPerRevision,
    seconds,
    createdSeconds,
    hub: hubTimes,
    desiredWrites: window.count,
    desiredWritesPerSecond: spanS > 0 ? window.count / spanS : window.count,
    reportsIngested: events.count("report") - reportsBefore,
    hubCpuSeconds,
    problems,
  };
  h.say(
    `  ${name} (${policy}, ${reportsPerRevision} report(s)/revision): ${seconds.toFixed(2)} s ` +
      `(created after ${createdSeconds.toFixed(2)} s; by the hub's clock from creation: last write ` +
      `${hubTimes.lastWriteSeconds.toFixed(2)} s, last report ${hubTimes.lastReportSeconds.toFixed(2)} s, ` +
      `end ${hubTimes.endSeconds.toFixed(2)} s), ` +
      `${result.desiredWritesPerSecond.toFixed(0)} writes/s, hub CPU ${hubCpuSeconds.toFixed(2)} s` +
      (offline > 0 ? `, ${offline} false Offline meanwhile` : "") +
      (problems.length ? `; PROBLEMS: ${problems.join("; ")}` : ""),
  );
  return result;
}

async function commitRollout(h: Harness, version: number, policy: PolicyName): Promise<RolloutResult> {
  const sha = await h.repo.commit("main", files(`v${version}`), `v${version}`);
  const body = JSON.stringify({ ref: "refs/heads/main", after: sha });
  const signature = `sha256=${createHmac("sha256", WEBHOOK_SECRET).update(body).digest("hex")}`;
  return measureRollout(h, `commit v${version}`, policy, async () => {
    const res = await h.hub.api.request("POST", `/v1/webhooks/git/${APP}`, body, {
      token: null,
      headers: { [GITHUB_SIGNATURE_HEADER]: signature, "x-github-event": "push" },
    });
    if (res.status !== 202) throw new Error(`the webhook answered ${res.status}: ${res.text}`);
  });
}

/** Runs one size from start to stop; never throws for a failed rollout, only for a broken harness. */
export async function runSize(o: SizeOptions): Promise<SizeResult> {
  const dir = await mkdtemp(join(o.workDir, `fleet-${o.clusters}-`));
  const stops: (() => Promise<unknown>)[] = [];
  // With --profile, phases are marked on the monotonic clock CPU profiles are stamped with.
  const mark = (what: string) => {
    if (o.profileDir) o.say(`  [profile mark ${Number(process.hrtime.bigint() / 1000n)} µs] ${what}`);
  };
  const loadBefore = loadavg()[0] ?? 0;
  try {
    const setup = o.operator ? await createOperatorSetup() : undefined;
    const nats = await startNats({ dir, ...(setup ? { operator: setup } : {}) });
    stops.push(() => nats.stop());
    const redis = await startRedis({ dir });
    stops.push(() => redis.stop());
    const git = await startGitServer({ dir });
    stops.push(() => git.stop());
    const repo = await git.createRepo(APP, { main: files("v0") });
    const hub = await startHubProcess({
      dir: join(dir, "hub"),
      natsUrl: nats.url,
      natsTls: nats.tls,
      redisUrl: redis.url,
      ...(setup ? { operatorSetup: setup } : {}),
      waitFor: "leader",
      ...(o.hubScript ? { command: hubCommand(o.hubScript, nats.url, redis.url) } : {}),
      env: git.clientEnv,
      nodeArgs: [...(o.hubNodeFlags ?? []), ...(o.profileDir ? ["--cpu-prof", `--cpu-prof-dir=${o.profileDir}`] : [])],
    });
    stops.push(() => hub.stop());
    const events = await HubEventStream.open(hub.url, hub.token, ["rollout", "cluster-state", "report"]);
    stops.push(() => events.close());
    await hub.api.apply(`${teamYaml()}---\n${policyYaml("one wave")}`);

    let started = performance.now();
    const bundles = await registerClusters(hub.api, clusterSpecs(o.clusters));
    const registrationSeconds = (performance.now() - started) / 1000;
    const fleet = await ShardedFleet.start({
      natsUrl: nats.url,
      bundles,
      shards: o.agentShards,
      verifyDesired: o.agentVerify,
      // Work-phase reports unacknowledged unless --agent-ack: the hub reads them the same.
      behaviour: { ackWorkReports: o.agentAck },
    });
    stops.push(() => fleet.stop());
    o.say(`  ${o.clusters} clusters registered in ${registrationSeconds.toFixed(1)} s; waiting for them to be Ready`);
    const readyBy = Date.now() + Math.max(60_000, (o.clusters / 1000) * READY_TIMEOUT_PER_THOUSAND_MS);
    while (events.ready.size < o.clusters) {
      if (Date.now() > readyBy) throw new Error(`only ${events.ready.size} of ${o.clusters} clusters turned Ready`);
      await new Promise((r) => setTimeout(r, 200));
    }

    const h: Harness = { hub, fleet, events, repo, say: o.say };
    const rollouts: RolloutResult[] = [];
    rollouts.push(await measureRollout(h, "first deploy", "one wave", () => hub.api.apply(repoAndAppYaml(repo, git))));
    let version = 1;
    for (const reports of o.reportsPerRevision) {
      await fleet.setBehaviour({ reportsPerRevision: reports });
      rollouts.push(await commitRollout(h, version++, "one wave"));
    }
    await fleet.setBehaviour({ reportsPerRevision: 1 });
    if (o.canary) {
      await hub.api.apply(policyYaml("canary 1% → rest"));
      rollouts.push(await commitRollout(h, version++, "canary 1% → rest"));
    }

    // A report burst: every cluster sends a real agent's five reports at once; done when the
    // hub has stored every cluster's last one (the verdict, phase synced).
    const offlineBeforeBursts = offlineSoFar(events);
    const verdictsBefore = events.count("report:synced");
    const reportsBefore = events.count("report");
    // Sealed first: the agents' signing runs on their own machines in a real fleet, not on the hub's cores.
    await sealBurst(fleet, o.clusters);
    events.markReports();
    mark("report burst starts");
    const burstCpuBefore = await cpuSeconds(hub.process.pid);
    const burstThreadsBefore = await threadCpuSeconds(hub.process.pid);
    const natsCpuBefore = nats.pid === undefined ? 0 : await cpuSeconds(nats.pid);
    const benchCpuBefore = process.cpuUsage();
    started = Date.now();
    // Published without waiting for the stream's acknowledgements: the stream stores and the hub
    // reads them exactly as acknowledged writes, and the load generator's JetStream requests
    // (~120 µs of CPU each here) would take the cores the hub's ingest is measured on.
    await fleet.sendBurst(false);
    const reportsDoneAt = await events.reach("report:synced", verdictsBefore + o.clusters, 120_000);
    const reportBurstPerSecond = (REPORT_BURST * o.clusters) / Math.max(0.001, (reportsDoneAt - started) / 1000);
    // By the hub's clock: the burst's reports over the time from its first report event to its
    // last (the hub coalesces a cluster's reports that arrive together, so it emits fewer events).
    const burstEvents = events.count("report") - reportsBefore;
    const hubBurstS = (events.lastReportAtMs - (events.firstReportSinceMarkAtMs ?? events.lastReportAtMs)) / 1000;
    const reportBurstHubPerSecond = (REPORT_BURST * o.clusters) / Math.max(0.001, hubBurstS);
    // The hub's CPU (every thread: the main one and the verification threads) per report sent.
    const reportCpuMicros =
      (((await cpuSeconds(hub.process.pid)) - burstCpuBefore) * 1e6) / (REPORT_BURST * o.clusters);
    o.say(`  report burst: hub CPU ${reportCpuMicros.toFixed(0)} µs per report sent`);
    // Who else spent the two cores meanwhile: the hub's threads, nats-server, this process
    // (the simulated agents' worker threads sign and send every report).
    const perThread = threadCpuSpent(burstThreadsBefore, await threadCpuSeconds(hub.process.pid));
    const natsCpu = nats.pid === undefined ? 0 : (await cpuSeconds(nats.pid)) - natsCpuBefore;
    const benchCpu = process.cpuUsage(benchCpuBefore);
    o.say(
      `  report burst CPU: hub ${perThread.map(([n, sec]) => `${n} ${sec.toFixed(2)} s`).join(", ")}; ` +
        `nats-server ${natsCpu.toFixed(2)} s; load generator ${((benchCpu.user + benchCpu.system) / 1e6).toFixed(2)} s`,
    );
    o.say(
      `  report burst: ${REPORT_BURST * o.clusters} reports (${burstEvents} report events) in ${hubBurstS.toFixed(2)} s ` +
        `by the hub's clock (${Math.round(reportBurstHubPerSecond)} /s); ${((reportsDoneAt - started) / 1000).toFixed(2)} s end to end`,
    );

    // A backlog: the hub held (SIGSTOP) while every cluster's five reports go into the stream,
    // then released; the figure is the rate at which it stores them.
    mark("report burst done; backlog starts");
    // In operator mode the stream is read as the hub's own NATS user.
    const backlogNats = {
      ...nats.clientOptions(),
      ...(setup ? { authenticator: credsAuthenticator(new TextEncoder().encode(setup.hubUser.creds)) } : {}),
    };
    const backlog = await measureBacklog(o, fleet, events, hub, backlogNats);
    mark("backlog drained");
    o.say(
      `  report backlog: ${backlog.held} of ${REPORT_BURST * o.clusters} reports stored while the hub was held; ` +
        `drained in ${backlog.seconds.toFixed(2)} s (${Math.round(backlog.perSecond)} /s)`,
    );

    // A heartbeat burst: every cluster beats at once, on top of the beats already spread over time.
    const beats = await HubEventStream.open(hub.url, hub.token, ["heartbeat"]);
    started = Date.now();
    await fleet.beatAll();
    const beatsDoneAt = await beats.reach("heartbeat", o.clusters, 120_000);
    const heartbeatBurstPerSecond = o.clusters / Math.max(0.001, (beatsDoneAt - started) / 1000);
    await beats.close();

    const offlineInBursts = offlineSoFar(events) - offlineBeforeBursts;
    if (offlineInBursts > 0) o.say(`  ${offlineInBursts} false Offline during the report and heartbeat bursts`);
    const clustersList = await latency(hub, "/v1/clusters");
    const clustersPage = await latency(hub, "/v1/clusters?limit=500");
    const fleetStatus = await latency(hub, "/v1/fleet/status");
    const hubPeakRssBytes = await peakRssBytes(hub.process.pid);
    const falseOffline = [...events.offline.values()].reduce((a, b) => a + b, 0);
    const falseOfflineClusters = events.offline.size;
    await events.close();

    started = performance.now();
    await hub.process.stop(STOP_GRACE_MS);
    const sigtermSeconds = (performance.now() - started) / 1000;
    const sigtermKilled = hub.process.exitStatus?.signal === "SIGKILL";
    const hubWarnings = await warningsOf(join(dir, "hub", "hub.log"));
    // Beside the profile, the log tells when each step ran.
    if (o.profileDir) await copyFile(join(dir, "hub", "hub.log"), join(o.profileDir, "hub.log")).catch(() => {});
    for (const [msg, n] of Object.entries(hubWarnings)) o.say(`  hub logged ${n}× "${msg}"`);
    const counts = await fleet.counts();
    o.say(
      `  simulated agents (${fleet.shardCount} worker thread(s)): heartbeat ticks ran up to ${(counts.heartbeatLateMaxMs / 1000).toFixed(1)} s late`,
    );

    const problems = rollouts.flatMap((r) => r.problems);
    if (counts.generationRegressions > 0) {
      problems.push(`${counts.generationRegressions} desired state(s) went back a generation`);
    }
    if (falseOffline > 0) problems.push(`${falseOffline} false Offline transition(s)`);
    return {
      clusters: o.clusters,
      mode: o.operator ? "operator" : "shared",
      loadBefore,
      loadAfter: loadavg()[0] ?? 0,
      registrationSeconds,
      rollouts,
      reportBurstPerSecond,
      reportBurstHubPerSecond,
      reportCpuMicros,
      reportBacklogPerSecond: backlog.perSecond,
      reportBacklogHeld: backlog.held,
      heartbeatBurstPerSecond,
      falseOffline,
      falseOfflineClusters,
      clustersListP50Ms: clustersList.p50Ms,
      clustersListBytes: clustersList.bytes,
      clustersPageP50Ms: clustersPage.p50Ms,
      fleetStatusP50Ms: fleetStatus.p50Ms,
      hubPeakRssBytes,
      sigtermSeconds,
      sigtermKilled,
      generationRegressions: counts.generationRegressions,
      hubWarnings,
      problems,
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

/** Seals every cluster's report sequence for a burst (not sent yet); returns how many, all of them or it throws. */
async function sealBurst(fleet: ShardedFleet, clusters: number): Promise<number> {
  const total = REPORT_BURST * clusters;
  const sealed = await fleet.prepareBurst(REPORT_BURST);
  if (sealed !== total) throw new Error(`the burst sealed ${sealed} reports, not ${total}`);
  return total;
}

/**
 * Holds the hub (SIGSTOP) while every cluster's report sequence goes into the status stream,
 * releases it when the stream holds them all (or after {@link BACKLOG_HOLD_MAX_MS}), and
 * times the hub from its release to the report event of the last verdict.
 */
async function measureBacklog(
  o: { clusters: number },
  fleet: ShardedFleet,
  events: HubEventStream,
  hub: HubProcess,
  natsOptions: Parameters<typeof connect>[0],
): Promise<{ held: number; seconds: number; perSecond: number }> {
  const total = await sealBurst(fleet, o.clusters);
  const nc = await connect({ ...natsOptions, name: "flotilla-bench-backlog" });
  try {
    const jsm = await nc.jetstreamManager();
    const stream = `KV_${STATUS_BUCKET}`;
    const lastSeq = async () => (await jsm.streams.info(stream)).state.last_seq;
    const before = await lastSeq();
    const verdictsBefore = events.count("report:synced");
    const pid = hub.process.pid;
    const heldAt = Date.now();
    process.kill(pid, "SIGSTOP");
    let held = 0;
    let releasedAt: number;
    try {
      await fleet.sendBurst(false);
      while (held < total && Date.now() - heldAt < BACKLOG_HOLD_MAX_MS) {
        held = (await lastSeq()) - before;
        if (held < total) await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      process.kill(pid, "SIGCONT");
      releasedAt = Date.now();
    }
    await events.reach("report:synced", verdictsBefore + o.clusters, 120_000);
    // The hub's clock (same host): its last report event of the backlog.
    const seconds = Math.max(0.001, (events.lastReportAtMs - releasedAt) / 1000);
    return { held, seconds, perSecond: total / seconds };
  } finally {
    await nc.close();
  }
}
