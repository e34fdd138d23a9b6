/**
 * The world a fault case runs in, all real processes but the agents: a three-node NATS
 * JetStream cluster (buckets R3, `sync_interval: always`), Redis (alone, or a primary, a replica
 * and three sentinels), a Git smart-HTTP server, toxiproxy, two hub replicas as their built
 * command, and simulated agents from @flotilla/loadgen (signed reports and heartbeats over real
 * NATS, counting any generation that goes backwards). One cluster, `edge`, reaches NATS only
 * through a toxiproxy link, so a case can slow, reset or cut it.
 *
 * The figures a case prints come from what the hub recorded (the rollout's waves), from what
 * reached the desired-state bucket (a watch that verifies every value) and from what the
 * simulated agents acted on; nothing here asserts on how long anything took.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClusterDetail, RolloutSummary, RolloutView } from "@flotilla/api";
import {
  binPath,
  type FixtureRepo,
  type GitServer,
  type HubProcess,
  isAlive,
  type NatsCluster,
  newAdminToken,
  newEncryptionKey,
  type RedisSentinelSet,
  type RedisServer,
  startGitServer,
  startHubProcess,
  startNatsCluster,
  startRedis,
  startRedisSentinel,
  startToxiproxy,
  type ToxicProxy,
  type Toxiproxy,
  until,
} from "@flotilla/devfleet";
import { type ClusterSpec, registerClusters, SimulatedFleet } from "@flotilla/loadgen";
import { DESIRED_BUCKET, DESIRED_STATE, isHubKeySetKey, KeyRing, open, publicKeyFromPem } from "@flotilla/proto";
import { connect, type KvEntry, type NatsConnection, type QueuedIterator } from "nats";

/** The app every case rolls out. */
export const APP = "web";
/** Lease TTL of both replicas: short, so a takeover fits in a test. */
export const LEASE_TTL_MS = 2_000;
/** How long a case waits for a rollout to settle before it counts it as not completed. */
export const ROLLOUT_WAIT_MS = 120_000;
/** The simulated cluster whose NATS link runs through toxiproxy. */
export const EDGE = "edge";

/** One write that reached the desired-state bucket, verified with the hub's key. */
export interface Written {
  cluster: string;
  generation: number;
  revision: string;
  rolloutId: string;
  atMs: number;
}

/** What one fault case measured: a row of the printed table. */
export interface FaultFigures {
  fault: string;
  rollouts: number;
  completed: number;
  /** Writes to a later wave before the wave before it completed (canary Healthy + bake). */
  orderViolations: number;
  /** Writes beyond one per cluster per rollout step, as seen in the bucket. */
  duplicateWrites: number;
  /** Desired states the hub recorded that the agent never acted on, and agents' last reports missing from the hub's status. */
  lostWrites: number;
  /** Generations an agent saw go backwards. */
  generationRegressions: number;
  /** Fault → the system visibly reacting (a new leader, a new primary, Offline...), in seconds; "-" when it had nothing to notice. */
  detectSeconds: string;
  /** Fault → the rollout it hit settled, in seconds. */
  recoverSeconds: string;
  /** Anything else the case checks (writes by a woken leader, Offline and back...). */
  notes: string;
}

/** Options of {@link startWorld}. */
export interface WorldOptions {
  /** Simulated clusters besides `edge`: the first is the canary. @default 6 */
  clusters?: number;
  /** Redis behind Sentinel (a primary, a replica, three sentinels) rather than one server. @default false */
  sentinel?: boolean;
  /** What the environment does with Offline clusters. @default "skip" */
  offlineClusters?: "skip" | "block";
  /** Bake of the canary wave. @default 2 */
  canaryBakeSeconds?: number;
  /** Time a simulated agent takes from a desired state to its verdict. @default 600 */
  reportDelayMs?: number;
}

/** Whether `scripts/fixtures.sh` has built toxiproxy-server (every link case needs it). */
export function toxiproxyBuilt(): boolean {
  try {
    binPath("toxiproxy-server");
    return true;
  } catch {
    return false;
  }
}

/** The Environment every case rolls through: a canary wave, then the rest two at a time. */
function environmentYaml(offlineClusters: "skip" | "block", canaryBakeSeconds: number): string {
  return `apiVersion: flotilla.dev/v1
kind: Environment
metadata: { name: prod }
spec:
  policy:
    waves:
      - { name: canary, selector: { tier: canary }, maxConcurrency: 1, bakeSeconds: ${canaryBakeSeconds} }
      - { name: main, selector: {}, maxConcurrency: 2, bakeSeconds: 0 }
    progressDeadlineSeconds: 120
    autoRollback: false
    offlineClusters: ${offlineClusters}
`;
}

const secs = (ms: number) => (ms / 1000).toFixed(1);

/** Seconds between two instants, or "-" when either is missing. */
export function seconds(fromMs: number | undefined, toMs: number | undefined): string {
  return fromMs === undefined || toMs === undefined ? "-" : secs(toMs - fromMs);
}

function files(version: string): Record<string, string> {
  return {
    "deploy/config.yaml": `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  v: "${version}"\n`,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Everything a case needs, and the checks every case shares. */
export class World {
  readonly written: Written[] = [];
  /** Set when a case failed: {@link stop} then keeps the world's directory (every log) and prints where. */
  failed = false;
  readonly hubs: (HubProcess | undefined)[] = [undefined, undefined];
  #version = 0;
  #onWrite: ((w: Written) => void) | undefined;
  #retiredRegressions = 0;
  #startEdge: (() => Promise<SimulatedFleet>) | undefined;
  #watch: QueuedIterator<KvEntry> | undefined;
  #nc: NatsConnection | undefined;

  private constructor(
    readonly dir: string,
    readonly nats: NatsCluster,
    readonly redis: { url: string; sentinel?: RedisSentinelSet; server?: RedisServer },
    readonly git: GitServer,
    readonly repo: FixtureRepo,
    readonly toxiproxy: Toxiproxy | undefined,
    readonly links: { edge: ToxicProxy; git: ToxicProxy } | undefined,
    readonly canaryBakeSeconds: number,
    readonly token: string,
    readonly encryptionKey: string,
    readonly clusterNames: readonly string[],
    public fleet: SimulatedFleet | undefined = undefined,
    public edge: SimulatedFleet | undefined = undefined,
  ) {}

  static async start(options: WorldOptions = {}): Promise<World> {
    const dir = await mkdtemp(join(tmpdir(), "flotilla-faults-"));
    const nats = await startNatsCluster({ dir });
    const sentinel = options.sentinel ? await startRedisSentinel({ dir }) : undefined;
    const server = options.sentinel ? undefined : await startRedis({ dir });
    const git = await startGitServer({ dir });
    const repo = await git.createRepo("web", { main: files("v0") });
    // Without toxiproxy (not built yet) the edge reaches NATS and the hub reaches Git directly,
    // and the cases that cut a link cannot run.
    const toxiproxy = toxiproxyBuilt() ? await startToxiproxy({ dir }) : undefined;
    const links = toxiproxy
      ? {
          edge: await toxiproxy.proxy("edge-nats", (nats.nodes[0]?.url ?? "").replace("nats://", "")),
          git: await toxiproxy.proxy("git", new URL(git.baseUrl).host),
        }
      : undefined;
    const count = options.clusters ?? 6;
    const names = Array.from({ length: count }, (_, i) => (i === 0 ? "canary" : `c${i}`));
    const world = new World(
      dir,
      nats,
      sentinel ? { url: sentinel.url, sentinel } : { url: server?.url ?? "", ...(server ? { server } : {}) },
      git,
      repo,
      toxiproxy,
      links,
      options.canaryBakeSeconds ?? 2,
      newAdminToken(),
      newEncryptionKey(),
      [...names, EDGE],
    );
    try {
      // Both at once: whichever wins the lease leads.
      await Promise.all([world.startHub(0), world.startHub(1)]);
      await world.waitLeader();
      const specs: ClusterSpec[] = world.clusterNames.map((name) => ({
        name,
        labels: name === "canary" ? { env: "prod", tier: "canary" } : ({ env: "prod" } as Record<string, string>),
      }));
      const bundles = await registerClusters(world.api, specs);
      world.fleet = await SimulatedFleet.start({
        natsUrl: nats.url,
        bundles: bundles.filter((b) => b.cluster !== EDGE),
        heartbeatIntervalMs: 500,
        behaviour: { reportsPerRevision: 3, reportDelayMs: options.reportDelayMs ?? 600 },
      });
      world.#startEdge = () =>
        SimulatedFleet.start({
          natsUrl: links ? `nats://127.0.0.1:${links.edge.port}` : nats.url,
          ignoreClusterUpdates: true,
          bundles: bundles.filter((b) => b.cluster === EDGE),
          heartbeatIntervalMs: 500,
          behaviour: { reportsPerRevision: 3, reportDelayMs: options.reportDelayMs ?? 600 },
        });
      world.edge = await world.#startEdge();
      await world.api.waitClustersReady(world.clusterNames, 60_000);
      await world.#watchBucket();
      await world.api.apply(`${environmentYaml(options.offlineClusters ?? "skip", world.canaryBakeSeconds)}---
apiVersion: flotilla.dev/v1
kind: Team
metadata: { name: t }
spec: { policy: { namespaces: [web] } }
---
apiVersion: flotilla.dev/v1
kind: Repo
metadata: { name: web }
spec:
  team: t
  url: ${links ? repo.url.replace(new URL(repo.url).host, `127.0.0.1:${links.git.port}`) : repo.url}
  branches: { prod: main }
  pollIntervalSeconds: 0.5
  credentials: { username: ${git.username}, password: ${git.password} }
---
apiVersion: flotilla.dev/v1
kind: App
metadata: { name: ${APP} }
spec: { repo: web, path: deploy, namespace: web }
`);
      await world.waitSettled(await repo.head("main"));
      return world;
    } catch (err) {
      process.stderr.write(await world.logTails());
      await world.stop();
      throw err;
    }
  }

  /** The toxiproxy link `name` (the edge cluster's to NATS, the hubs' to Git); throws when toxiproxy is not built. */
  link(name: "edge" | "git"): ToxicProxy {
    const link = this.links?.[name];
    if (!link) throw new Error("toxiproxy-server is not built (scripts/setup builds it): no link to cut");
    return link;
  }

  /** Applies the environment again with another `offlineClusters` policy (rollouts created from then on use it). */
  async setOfflinePolicy(policy: "skip" | "block"): Promise<void> {
    await this.api.apply(environmentYaml(policy, this.canaryBakeSeconds));
  }

  /** The admin API of whichever replica runs. */
  get api() {
    const hub = this.hubs.find((h) => h?.process.alive());
    if (!hub) throw new Error("no hub replica runs");
    return hub.api;
  }

  /** Starts replica `i` (again) with the shared token and key, on the same directory. */
  async startHub(
    i: number,
    waitFor: "ready" | "leader" = "ready",
    env: Record<string, string> = {},
  ): Promise<HubProcess> {
    const hub = await startHubProcess({
      dir: join(this.dir, `hub-${i}`),
      replica: `hub-${i}`,
      natsUrl: this.nats.url,
      natsTls: this.nats.tls,
      redisUrl: this.redis.url,
      token: this.token,
      encryptionKey: this.encryptionKey,
      waitFor,
      env: {
        ...this.git.clientEnv,
        FLOTILLA_NATS_REPLICAS: "3",
        FLOTILLA_HUB_LEASE_TTL: `${LEASE_TTL_MS}ms`,
        FLOTILLA_HEARTBEAT_INTERVAL: "500ms",
        FLOTILLA_HUB_OFFLINE_AFTER_MISSED: "4",
        FLOTILLA_HUB_POLL_INTERVAL: "500ms",
        ...(this.redis.sentinel
          ? {
              FLOTILLA_REDIS_SENTINELS: this.redis.sentinel.sentinels.map((s) => `${s.host}:${s.port}`).join(","),
              FLOTILLA_REDIS_SENTINEL_MASTER: this.redis.sentinel.masterName,
            }
          : {}),
        ...env,
      },
    });
    this.hubs[i] = hub;
    return hub;
  }

  /** Index of the replica that leads now, asking each one's `/readyz`. */
  async leader(): Promise<number | undefined> {
    for (const [i, hub] of this.hubs.entries()) {
      if (!hub?.process.alive()) continue;
      const res = await fetch(`${hub.url}/readyz`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
      if (res?.status === 200 && ((await res.json()) as { leader?: boolean }).leader) return i;
    }
    return undefined;
  }

  /** Indices of every replica that says it leads now (two at once would be a split brain). */
  async leaders(): Promise<number[]> {
    const answers = await Promise.all(
      this.hubs.map(async (hub, i) => {
        if (!hub?.process.alive()) return undefined;
        const res = await fetch(`${hub.url}/readyz`, { signal: AbortSignal.timeout(1_000) }).catch(() => undefined);
        return res?.status === 200 && ((await res.json()) as { leader?: boolean }).leader ? i : undefined;
      }),
    );
    return answers.filter((i): i is number => i !== undefined);
  }

  /**
   * Samples who leads every `everyMs` until stopped: the longest stretch with no replica
   * leading, and how long two said they led at once (both by the test's clock, so upper bounds
   * of what the replicas did between two samples).
   */
  sampleLeaders(everyMs = 50): { stop(): Promise<{ longestGapMs: number; overlapMs: number; samples: number }> } {
    let running = true;
    let longestGapMs = 0;
    let overlapMs = 0;
    let samples = 0;
    const loop = (async () => {
      let gapSince: number | undefined;
      let last = Date.now();
      while (running) {
        const who = await this.leaders();
        const now = Date.now();
        samples++;
        if (who.length === 0) gapSince ??= last;
        else if (gapSince !== undefined) {
          longestGapMs = Math.max(longestGapMs, now - gapSince);
          gapSince = undefined;
        }
        if (who.length > 1) overlapMs += now - last;
        last = now;
        await sleep(everyMs);
      }
      if (gapSince !== undefined) longestGapMs = Math.max(longestGapMs, Date.now() - gapSince);
    })();
    return {
      async stop() {
        running = false;
        await loop;
        return { longestGapMs, overlapMs, samples };
      },
    };
  }

  /** Waits for a replica other than `not` (if given) to lead; returns its index. */
  async waitLeader(not?: number, timeoutMs = 60_000): Promise<number> {
    return until(
      `a hub replica${not === undefined ? "" : ` other than hub-${not}`} to lead`,
      async () => {
        const i = await this.leader();
        return i !== undefined && i !== not ? { i } : undefined;
      },
      timeoutMs,
      100,
    ).then((r) => r.i);
  }

  async #watchBucket(): Promise<void> {
    const info = (await this.api.request<{ hubPublicKey: string }>("GET", "/v1/hub")).json;
    const ring = new KeyRing([publicKeyFromPem(info?.hubPublicKey ?? "")]);
    this.#nc = await connect({ ...this.nats.clientOptions(), maxReconnectAttempts: -1 });
    const kv = await this.#nc.jetstream().views.kv(DESIRED_BUCKET);
    this.#watch = await kv.watch({ key: ">" });
    const iter = this.#watch;
    void (async () => {
      for await (const e of iter) {
        if (e.operation !== "PUT" || isHubKeySetKey(e.key)) continue;
        const m = open(DESIRED_STATE, e.value, ring).message;
        const written: Written = {
          cluster: e.key.split(".")[0] ?? "",
          generation: Number(m.generation),
          revision: m.source?.revision ?? "",
          rolloutId: m.rolloutId,
          atMs: Date.now(),
        };
        this.written.push(written);
        this.#onWrite?.(written);
      }
    })();
  }

  /**
   * Calls `fn` synchronously for each desired state the bucket watch sees from now on (a fault
   * aimed at the moment a write lands), until {@link offWrite}.
   */
  onWrite(fn: (w: Written) => void): void {
    this.#onWrite = fn;
  }

  offWrite(): void {
    this.#onWrite = undefined;
  }

  /** Pushes a new commit; the hub's poll (every 0.5 s) starts its rollout. */
  async push(): Promise<string> {
    this.#version++;
    return this.repo.commit("main", files(`v${this.#version}`), `v${this.#version}`);
  }

  /** The rollout to `revision`, once the hub has created it. */
  async rollout(revision: string): Promise<RolloutView | undefined> {
    const list = await this.api
      .request<{ items: RolloutSummary[] }>("GET", `/v1/rollouts?app=${APP}&environment=prod`)
      .catch(() => undefined);
    const id = list?.json?.items.find((r) => r.to.revision === revision)?.id;
    if (!id) return undefined;
    return (await this.api.request<RolloutView>("GET", `/v1/rollouts/${id}`).catch(() => undefined))?.json;
  }

  /** The newest rollout of the app. */
  async lastRollout(): Promise<RolloutView | undefined> {
    const list = await this.api.request<{ items: RolloutSummary[] }>("GET", `/v1/rollouts?app=${APP}&environment=prod`);
    const id = list.json?.items[0]?.id;
    return id ? (await this.api.request<RolloutView>("GET", `/v1/rollouts/${id}`)).json : undefined;
  }

  /**
   * Waits until the rollout to `revision` has written at least `writes` clusters, or has settled
   * first (clusters it skipped as Offline are never written, so a settled rollout may have
   * fewer). On a timeout the error says where each cluster stands, as the hub explains it.
   */
  async waitWrites(revision: string, writes: number): Promise<RolloutView> {
    let last: RolloutView | undefined;
    return until(
      `the rollout to ${revision.slice(0, 7)} to write ${writes} clusters`,
      async () => {
        const r = await this.rollout(revision).catch(() => undefined);
        if (r) last = r;
        const n = r?.waves.flatMap((w) => w.clusters).filter((c) => c.generation !== undefined).length ?? 0;
        return r && (n >= writes || r.settled) ? r : undefined;
      },
      ROLLOUT_WAIT_MS,
      100,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; ${last ? standings(last) : "the rollout was never created"}`);
    });
  }

  /** Waits for the rollout to `revision` to settle; undefined when it did not within {@link ROLLOUT_WAIT_MS}. */
  async waitSettled(revision: string, timeoutMs = ROLLOUT_WAIT_MS): Promise<RolloutView | undefined> {
    return until(
      `the rollout to ${revision.slice(0, 7)} to settle`,
      async () => {
        const r = await this.rollout(revision).catch(() => undefined);
        return r?.settled && r.state !== "Progressing" ? r : undefined;
      },
      timeoutMs,
      200,
    ).catch(() => undefined);
  }

  /**
   * Order violations of a settled rollout: a cluster of a later wave written before the wave
   * before it completed, by the hub's record and by what reached the bucket.
   */
  orderViolations(r: RolloutView): number {
    let violations = 0;
    for (let w = 1; w < r.waves.length; w++) {
      const before = r.waves[w - 1];
      const completed = before?.completedAtMs;
      const firstOfBefore = Math.max(
        ...(before?.clusters ?? []).map(
          (c) => this.written.find((x) => x.cluster === c.name && x.rolloutId === r.id)?.atMs ?? 0,
        ),
      );
      for (const c of r.waves[w]?.clusters ?? []) {
        if (c.dispatchedAtMs === undefined) continue;
        if (completed === undefined || c.dispatchedAtMs < completed) violations++;
        const reached = this.written.find((x) => x.cluster === c.name && x.rolloutId === r.id);
        if (reached && reached.atMs < firstOfBefore) violations++;
      }
    }
    return violations;
  }

  /** Writes of a rollout beyond one per cluster, as the bucket saw them. */
  duplicateWrites(r: RolloutView): number {
    const per = new Map<string, number>();
    for (const w of this.written) if (w.rolloutId === r.id) per.set(w.cluster, (per.get(w.cluster) ?? 0) + 1);
    return [...per.values()].reduce((sum, n) => sum + Math.max(0, n - 1), 0);
  }

  #fleetOf(cluster: string): SimulatedFleet | undefined {
    return cluster === EDGE ? this.edge : this.fleet;
  }

  /**
   * Lost writes, once the fleet has had time to converge: each cluster whose desired state in
   * the hub's record is not the generation its agent acted on, and each whose agent's verdict
   * for that generation is not the report in the hub's status.
   */
  async lostWrites(timeoutMs = 30_000): Promise<{ lost: number; detail: string[] }> {
    let detail: string[] = [];
    await until(
      "every agent to hold the hub's last desired state and the hub its last report",
      async () => {
        detail = [];
        for (const name of this.clusterNames) {
          const d = (await this.api.request<ClusterDetail>("GET", `/v1/clusters/${name}`).catch(() => undefined))?.json;
          const app = d?.apps.find((a) => a.app === APP);
          const progress = this.#fleetOf(name)?.progress(name, APP);
          if (app?.desired?.generation !== progress?.generation)
            detail.push(`${name}: hub desired ${app?.desired?.generation}, agent acted on ${progress?.generation}`);
          else if (app?.report?.observedGeneration !== progress?.generation)
            detail.push(
              `${name}: agent reported ${progress?.generation}, hub holds ${app?.report?.observedGeneration}`,
            );
        }
        return detail.length === 0;
      },
      timeoutMs,
      500,
    ).catch(() => undefined);
    return { lost: detail.length, detail };
  }

  /** Generations the agents saw go backwards, so far. */
  regressions(): number {
    return (
      this.#retiredRegressions +
      (this.fleet?.counters.generationRegressions ?? 0) +
      (this.edge?.counters.generationRegressions ?? 0)
    );
  }

  /**
   * Cuts the edge cluster off from the hub: its NATS link blackholed through toxiproxy (a
   * partition: the agent runs on, nothing crosses), or, while toxiproxy is not built, its
   * simulated agent stopped (the hub hears the same silence). Returns what was done.
   */
  async cutEdge(): Promise<string> {
    if (this.links) {
      await this.links.edge.addToxic({
        name: "hole-down",
        type: "timeout",
        stream: "downstream",
        attributes: { timeout: 0 },
      });
      await this.links.edge.addToxic({
        name: "hole-up",
        type: "timeout",
        stream: "upstream",
        attributes: { timeout: 0 },
      });
      return "link blackholed (toxiproxy)";
    }
    this.#retiredRegressions += this.edge?.counters.generationRegressions ?? 0;
    await this.edge?.stop();
    this.edge = undefined;
    return "agent stopped (toxiproxy not built)";
  }

  /** Undoes {@link cutEdge}: the link healed, or the simulated agent started again (it picks up its last desired state). */
  async healEdge(): Promise<void> {
    if (this.links) await this.links.edge.heal();
    else this.edge ??= await this.#startEdge?.();
  }

  /**
   * Runs one rollout with `fault` injected once it has written `afterWrites` clusters (or, with
   * "push", as soon as its commit is pushed, before the hub has seen it), and measures it.
   * `fault` returns when the fault was detected (ms), if that applies, and notes.
   */
  async faultDuringRollout(
    name: string,
    afterWrites: number | "push",
    fault: (revision: string) => Promise<{ detectedAtMs?: number; notes?: string } | undefined>,
  ): Promise<FaultFigures> {
    const regressionsBefore = this.regressions();
    const revision = await this.push();
    const before = afterWrites === "push" ? undefined : await this.waitWrites(revision, afterWrites);
    const early = before?.settled ? `settled ${before.state} before the fault` : undefined;
    const faultAtMs = Date.now();
    const outcome = (await fault(revision)) ?? {};
    const r = await this.waitSettled(revision);
    const settledAtMs = Date.now();
    const lost = await this.lostWrites();
    return {
      fault: name,
      rollouts: 1,
      completed: r?.state === "Succeeded" ? 1 : 0,
      orderViolations: r ? this.orderViolations(r) : 0,
      duplicateWrites: r ? this.duplicateWrites(r) : 0,
      lostWrites: lost.lost,
      generationRegressions: this.regressions() - regressionsBefore,
      detectSeconds: seconds(faultAtMs, outcome.detectedAtMs),
      recoverSeconds: r ? seconds(faultAtMs, settledAtMs) : "-",
      notes: [
        r ? `${r.state}` : "not settled",
        early,
        outcome.notes,
        ...(r ? skipped(r) : []),
        ...(r && r.state !== "Succeeded" ? [standings(r)] : []),
        ...lost.detail,
      ]
        .filter(Boolean)
        .join("; "),
    };
  }

  /** Every process of the world that runs. */
  pids(): number[] {
    return [
      ...this.nats.pids(),
      ...(this.redis.sentinel?.pids() ?? []),
      ...(this.redis.server?.pid ? [this.redis.server.pid] : []),
      ...(this.toxiproxy?.pid ? [this.toxiproxy.pid] : []),
      ...this.hubs.flatMap((h) => (h?.process.alive() ? [h.process.pid] : [])),
    ];
  }

  async logTails(): Promise<string> {
    const parts: string[] = [];
    for (const [i, h] of this.hubs.entries()) if (h) parts.push(`--- hub-${i} ---\n${await h.process.tail(40)}`);
    return `${parts.join("\n")}\n`;
  }

  /** Stops the simulated agents (their drain needs NATS up). */
  async stopAgents(): Promise<void> {
    await this.edge?.stop().catch(() => {});
    await this.fleet?.stop().catch(() => {});
    this.edge = undefined;
    this.fleet = undefined;
  }

  /** Stops everything it started and returns the process ids still alive afterwards (none, when stops are clean). */
  async stop(): Promise<number[]> {
    const pids = this.pids();
    this.#watch?.stop();
    await this.#nc?.close().catch(() => {});
    await this.stopAgents();
    for (const h of this.hubs) await h?.stop();
    await this.toxiproxy?.stop();
    await this.git.stop();
    await this.redis.sentinel?.stop();
    await this.redis.server?.stop();
    await this.nats.stop();
    if (this.failed || process.env.FLOTILLA_FAULT_KEEP)
      process.stderr.write(`fault world kept for its logs: ${this.dir}\n`);
    else await rm(this.dir, { recursive: true, force: true });
    await sleep(100);
    return pids.filter(isAlive);
  }
}

/** Where each cluster of a rollout stands, as the hub explains it (`why`). */
export function standings(r: RolloutView): string {
  const clusters = r.waves.flatMap((w) => w.clusters.map((c) => `${c.name} ${c.state}: ${c.why ?? c.reason ?? ""}`));
  return `rollout ${r.id} ${r.state}: ${clusters.join(" | ")}`;
}

/** The clusters a rollout skipped, with the hub's reason. */
function skipped(r: RolloutView): string[] {
  return r.waves.flatMap((w) =>
    w.clusters.filter((c) => c.state === "skipped").map((c) => `${c.name} ${c.reason ?? "skipped"}`),
  );
}

/** The fault table, one row per case, as the suite prints it. */
export function faultTable(rows: readonly FaultFigures[]): string {
  const head = [
    "fault",
    "rollouts",
    "completed",
    "order violations",
    "duplicate writes",
    "lost writes",
    "generation regressions",
    "detect s",
    "recover s",
    "notes",
  ];
  const lines = rows.map((r) => [
    r.fault,
    String(r.rollouts),
    String(r.completed),
    String(r.orderViolations),
    String(r.duplicateWrites),
    String(r.lostWrites),
    String(r.generationRegressions),
    r.detectSeconds,
    r.recoverSeconds,
    r.notes,
  ]);
  const row = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [row(head), row(head.map(() => "---")), ...lines.map(row)].join("\n");
}

/** Each distinct value and how often it occurs, in order of first occurrence. */
function tally(values: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

/** Sums rows of one fault run several times (the kills) into one row. */
export function sumRows(fault: string, rows: readonly FaultFigures[]): FaultFigures {
  const detect = rows.map((r) => Number(r.detectSeconds)).filter((n) => !Number.isNaN(n));
  const recover = rows.map((r) => Number(r.recoverSeconds)).filter((n) => !Number.isNaN(n));
  const range = (xs: number[]) =>
    xs.length === 0 ? "-" : `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}`;
  return {
    fault,
    rollouts: rows.reduce((s, r) => s + r.rollouts, 0),
    completed: rows.reduce((s, r) => s + r.completed, 0),
    orderViolations: rows.reduce((s, r) => s + r.orderViolations, 0),
    duplicateWrites: rows.reduce((s, r) => s + r.duplicateWrites, 0),
    lostWrites: rows.reduce((s, r) => s + r.lostWrites, 0),
    generationRegressions: rows.reduce((s, r) => s + r.generationRegressions, 0),
    detectSeconds: range(detect),
    recoverSeconds: range(recover),
    notes: [...tally(rows.map((r) => r.notes))].map(([note, n]) => (n > 1 ? `${note} ×${n}` : note)).join(" / "),
  };
}
