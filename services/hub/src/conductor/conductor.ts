import { isPerCluster, type PrometheusCredentials, substituteQuery, teamMayTarget } from "@flotilla/api";
import type { Logger } from "pino";
import { type AppSettings, type SettingsChange, settingsDiff, settingsDigest, settingsOf } from "../desired/index.js";
import { NotFoundError, NotLeaderError } from "../errors.js";
import type { HubMetrics } from "../metrics.js";
import type { DesiredStatePublisher, PublishRequest } from "../nats/publisher.js";
import type { MetricQuerier } from "../prometheus/client.js";
import { ENV_LABEL } from "../registry/targets.js";
import { policyOfTeam } from "../registry/team-policy.js";
import {
  type Action,
  abandonRollback,
  type ClusterObservation,
  type CommitInfo,
  changesBetween,
  command,
  createRollout,
  type DueMeasurement,
  describeTarget,
  dueMeasurements,
  findCluster,
  type Hold,
  heldClusters,
  holdsAt,
  isSettled,
  isTerminal,
  isWriteAction,
  type MeasurementObservation,
  type Observations,
  parsePolicy,
  type RolloutState,
  type RolloutTarget,
  recordWrites,
  type StepResult,
  sameTarget,
  step,
  supersede,
  type WriteAction,
} from "../rollout/index.js";
import type { EventBus, HubEvent } from "../status/events.js";
import type {
  AppRecord,
  ClusterRecord,
  ClusterStatus,
  ClusterStatusStore,
  DesiredBatchStore,
  FreezeStore,
  Lease,
  ObjectReader,
  ReportRecord,
  ReportStore,
  RolloutStore,
  SettingsStore,
  StoredRollout,
} from "../store.js";

/** How often the leader steps every unsettled rollout; reports and commands step at once too. */
export const ROLLOUT_TICK_MS = 1000;
/** Steps of one rollout in one pass: a step, its writes, and the step those writes allow. */
const MAX_STEPS_PER_PASS = 8;
/** Compare-and-set attempts before leaving a change to the next pass. */
const CAS_ATTEMPTS = 5;
/**
 * Desired-state writes of one step published as one batch: the publisher reads what they need
 * once per batch and sends the batch's writes together, so a wave of thousands costs a few
 * round trips per thousand clusters, not several per cluster.
 */
export const WRITE_BATCH = 1_000;
/**
 * Longest the conductor trusts what it observed of a rollout's clusters without reading all of
 * them again. Between full reads it reads only the clusters whose reports or states changed,
 * as the hub's events say; events travel over Redis pub/sub, which may lose one, so a full read
 * every few seconds bounds what a lost event can delay (never what it can decide: a step only
 * ever sees stored reports).
 */
export const OBSERVATION_REFRESH_MS = 5_000;
/** Most events of one step in one event-log entry (an entry is read whole). */
const EVENTS_PER_ENTRY = 1_000;
/** Deleted resources that make a decided rollback impossible, as NotFoundError names them. */
const GONE_KINDS = new Set(["cluster", "app"]);

/** What the conductor last read of one rollout's clusters, and which of them changed since. */
interface Observed {
  app: string;
  readAtMs: number;
  clusters: Record<string, ClusterObservation>;
  /** Clusters whose report of `app` or whose state changed since they were read. */
  changed: Set<string>;
}

/** What came of publishing one write, recorded in the rollout with the rest of its step. */
type WriteOutcome =
  | { kind: "written"; write: WriteAction; generation: number; published: boolean; unchanged: boolean }
  | { kind: "abandoned"; write: WriteAction; reason: string };

export interface ConductorOptions {
  objects: ObjectReader;
  statuses: ClusterStatusStore;
  reports: ReportStore;
  desired: DesiredBatchStore;
  rollouts: RolloutStore;
  settings: SettingsStore;
  freezes: Pick<FreezeStore, "list">;
  /** Where waves' metric analyses are measured; undefined: every measurement is inconclusive, saying why. */
  metricsSource?: MetricQuerier;
  /** An environment's own Prometheus credentials (decrypted), when it has some; else the hub's are used. */
  prometheusCredentials?: (environment: string) => Promise<PrometheusCredentials | undefined>;
  publisher: DesiredStatePublisher;
  events: EventBus;
  metrics: HubMetrics;
  log: Logger;
  /** The lease this replica holds now; undefined when it is not the leader. */
  lease: () => Lease | undefined;
  /**
   * The clock every time a rollout stores is read from (write decisions, bake starts, health
   * verdicts, deadlines). The hub gives Redis's clock: a bake one leader starts and another
   * ends is then measured on one clock, not on two replicas' wall clocks, whose skew would cut
   * it short or stretch it by as much. @default Date.now
   */
  clock?: () => Promise<number>;
  /** @default {@link ROLLOUT_TICK_MS} */
  tickMs?: number;
  /** @default {@link OBSERVATION_REFRESH_MS} */
  observationRefreshMs?: number;
}

/** What the tracker wants an (app, environment) to run, and what it knows of the commit. */
export interface RolloutRequest {
  /** The commit to run. */
  revision: string;
  /** The app's settings in the environment now; their digest completes the target. */
  settings: AppSettings;
  /** The commit of `revision`, when the hub could read it. */
  commit?: CommitInfo;
  /** Why the commit could not be read. */
  commitUnknown?: string;
  /** Digest of the app's Git inputs at `revision` under `settings`, when known. */
  sourceDigest?: string;
  /** When the hub first saw `revision` as the branch head. */
  detectedAtMs: number;
}

/** A rollout id: readable, unique per (app, environment, target, creation time). */
export function rolloutId(app: string, environment: string, target: RolloutTarget, atMs: number): string {
  return `${app}-${environment}-${target.revision.slice(0, 7)}-${target.settings.slice(0, 4)}-${atMs.toString(36)}`;
}

/**
 * Runs on the leader only and is the one writer of desired states for apps: it creates a
 * rollout per (app, environment) when the tracker sees a new head, steps every unsettled rollout
 * (every tick, and at once on a report, a cluster state change or a command), executes the
 * writes the pure engine asks for through the fenced publisher, and gives clusters that no
 * rollout in flight covers the last good revision.
 *
 * Per (app, environment) everything runs under one in-process lock, so creation, stepping and
 * filling never interleave on this leader; across leaders the fencing token (on every rollout
 * compare-and-set and every generation) keeps a deposed leader from changing anything.
 */
export class RolloutConductor {
  readonly #locks = new Map<string, Promise<unknown>>();
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #pass: Promise<void> | undefined;
  #again = false;
  /** A kicked pass starts no earlier than this (hub clock): see {@link kick}. */
  #restMs = 0;
  #unsubscribe: (() => void) | undefined;
  /** By rollout id: unsettled rollouts stepped by this leader. */
  readonly #observed = new Map<string, Observed>();

  constructor(private readonly o: ConductorOptions) {}

  start(): void {
    this.#running = true;
    this.#unsubscribe = this.o.events.subscribe((e) => {
      if (e.type === "report") {
        for (const seen of this.#observed.values()) if (seen.app === e.app) seen.changed.add(e.cluster);
      } else if (e.type === "cluster-state" || e.type === "cluster-freeze") {
        for (const seen of this.#observed.values()) seen.changed.add(e.cluster);
      }
      if (
        e.type === "report" ||
        e.type === "cluster-state" ||
        e.type === "cluster-freeze" ||
        (e.type === "rollout" && e.origin === "api")
      )
        this.kick();
    });
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#unsubscribe?.();
    this.#observed.clear();
    if (this.#timer) clearTimeout(this.#timer);
    await this.#pass;
    await Promise.allSettled([...this.#locks.values()]);
  }

  /**
   * Steps every unsettled rollout as soon as possible: at once, or, right after a pass, once as
   * long again has passed as that pass took. Reports stream in while a wave converges and each
   * pass is linear in the rollout's size, so back-to-back passes would take the event loop from
   * the ingestion that feeds them; spaced like this, passes take at most about half of it and
   * each takes in every report that came meanwhile.
   */
  kick(): void {
    if (!this.#running) return;
    if (this.#pass) this.#again = true;
    else this.#schedule(Math.max(0, this.#restMs - Date.now()));
  }

  #schedule(delayMs: number): void {
    if (!this.#running) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#startPass(), delayMs);
  }

  #startPass(): void {
    if (!this.#running || this.#pass) return;
    const startedMs = Date.now();
    this.#pass = this.stepAll().finally(() => {
      this.#pass = undefined;
      const again = this.#again;
      this.#again = false;
      const tickMs = this.o.tickMs ?? ROLLOUT_TICK_MS;
      const restMs = Math.min(Date.now() - startedMs, tickMs);
      this.#restMs = Date.now() + restMs;
      this.#schedule(again ? restMs : tickMs);
    });
  }

  /** One pass over every unsettled rollout; the timer runs it, tests call it directly. */
  async stepAll(): Promise<void> {
    try {
      // Oldest first: a rolled-back rollout finishes its rollback writes before a newer one
      // of the same app and environment may write anything.
      const blocked = new Set<string>();
      for (const id of await this.o.rollouts.unsettled()) {
        const stored = await this.o.rollouts.get(id);
        if (!stored) continue;
        const key = lockKey(stored.rollout.app, stored.rollout.environment);
        if (blocked.has(key)) continue;
        const after = await this.#locked(key, () => this.#drive(id));
        if (after && isTerminal(after.state) && !isSettled(after)) blocked.add(key);
      }
    } catch (err) {
      if (err instanceof NotLeaderError) return;
      this.o.log.warn({ err }, "rollout pass failed; retrying on the next tick");
    }
  }

  async #locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(key) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#locks.set(key, tail);
    void tail.then(() => {
      if (this.#locks.get(key) === tail) this.#locks.delete(key);
    });
    return run;
  }

  async #now(): Promise<number> {
    return this.o.clock ? this.o.clock() : Date.now();
  }

  #fence(): Lease {
    const lease = this.o.lease();
    if (!lease) throw new NotLeaderError("only the leader drives rollouts");
    return lease;
  }

  /** Steps one rollout until it stops moving (or its writes fail); returns its last state. */
  async #drive(id: string): Promise<RolloutState | undefined> {
    let last: RolloutState | undefined;
    for (let i = 0; i < MAX_STEPS_PER_PASS; i++) {
      const stored = await this.o.rollouts.get(id);
      if (!stored) return last;
      const r = stored.rollout;
      last = r;
      const now = await this.#now();
      if (isSettled(r)) {
        this.#observed.delete(id);
        // Saving the same state drops it from the unsettled set.
        await this.o.rollouts.compareAndSet(stored, r, this.#fence());
        return r;
      }
      const app = await this.o.objects.getObject("App", r.app);
      const result: StepResult =
        !app && !isTerminal(r.state)
          ? command(r, "abort", now, "the app's deletion")
          : step(r, await this.#observe(r, app, now), now);
      if (!(await this.o.rollouts.compareAndSet(stored, result.rollout, this.#fence()))) continue;
      last = result.rollout;
      await this.#announce(result.rollout, result.actions);
      const writes = result.actions.filter(isWriteAction);
      if (writes.length === 0) return last;
      const { recorded, complete } = await this.#executeAll(id, writes);
      last = recorded ?? last;
      if (!complete) return last;
    }
    return last;
  }

  /**
   * Executes one step's writes: publishes them in batches of {@link WRITE_BATCH} (each one
   * publisher batch, see {@link #publishWrites}), then records every outcome in the rollout with one compare-and-set, instead of
   * one read-modify-write of the whole rollout per cluster. Each cluster appears once in a
   * step's writes, so each is written once. A crash between the publishes and the record is
   * the crash the executor already survives: the next step finds each published state and
   * records it without writing again. `complete` is false when a write failed (retried on the
   * next tick) or the record could not be saved.
   */
  async #executeAll(
    id: string,
    writes: readonly WriteAction[],
  ): Promise<{ recorded: RolloutState | undefined; complete: boolean }> {
    const fence = this.#fence();
    const outcomes: WriteOutcome[] = [];
    let complete = true;
    for (let from = 0; from < writes.length; from += WRITE_BATCH) {
      const batch = writes.slice(from, from + WRITE_BATCH);
      const results = await this.#publishWrites(batch);
      batch.forEach((write, i) => {
        const result = results[i];
        if (result && "kind" in result) {
          outcomes.push(result);
          return;
        }
        const err = result?.error;
        if (err instanceof NotLeaderError) throw err;
        complete = false;
        this.o.log.warn(
          { err, rollout: id, cluster: write.cluster, app: write.app },
          "rollout write failed; retrying on the next tick",
        );
      });
    }
    if (outcomes.length === 0) return { recorded: undefined, complete };
    const now = await this.#now();
    const written = outcomes.flatMap((o) =>
      o.kind === "written"
        ? [{ write: o.write, generation: o.generation, unchanged: o.write.kind === "WriteDesired" && o.unchanged }]
        : [],
    );
    const next = await this.#update(id, fence, (r) =>
      outcomes.reduce(
        (acc, o) => (o.kind === "abandoned" ? abandonRollback(acc, o.write, o.reason, now) : acc),
        recordWrites(r, written, now),
      ),
    );
    if (!next) return { recorded: undefined, complete: false };
    await this.o.events.emitAll(outcomes.map((o) => this.#writeEvent(next, o)));
    return { recorded: next, complete };
  }

  /**
   * What one step sees: cluster states and this app's reports ({@link #observeClusters}), what
   * holds the rollout now (its windows at `now`, freezes in force), the measurements its
   * analyses are due, and which of its waiting clusters an app it depends on still blocks.
   */
  async #observe(r: RolloutState, app: AppRecord | undefined, now: number): Promise<Observations> {
    if (isTerminal(r.state)) return { clusters: {} };
    const [clusters, { holds, held }, measurements, blocked] = await Promise.all([
      this.#observeClusters(r, now),
      this.#holds(r, now),
      this.#measure(r, now),
      this.#blocked(r, app?.dependsOn ?? []),
    ]);
    if (blocked.size === 0 && held.size === 0) return { clusters, holds, measurements };
    // The cached observations stay as read; the blocks and holds of this pass go on copies.
    const withBlocks: Record<string, ClusterObservation | undefined> = { ...clusters };
    for (const [name, blockedBy] of blocked) {
      const seen = withBlocks[name];
      if (seen) withBlocks[name] = { ...seen, blockedBy };
    }
    for (const [name, reason] of held) {
      const seen = withBlocks[name];
      if (seen) withBlocks[name] = { ...seen, held: reason };
    }
    return { clusters: withBlocks, holds, measurements };
  }

  /**
   * Cluster states and this app's reports: all of them in two batched reads at first and every
   * {@link OBSERVATION_REFRESH_MS}, in between only those of clusters that changed, so a pass
   * after one report reads one report, not the rollout's thousands.
   */
  async #observeClusters(r: RolloutState, now: number): Promise<Observations["clusters"]> {
    let seen = this.#observed.get(r.id);
    if (!seen || now - seen.readAtMs >= (this.o.observationRefreshMs ?? OBSERVATION_REFRESH_MS)) {
      // Registered before reading, so a change announced meanwhile is read again next time.
      seen = { app: r.app, readAtMs: now, clusters: {}, changed: new Set() };
      this.#observed.set(r.id, seen);
      const names = r.waves.flatMap((w) => w.clusters.map((c) => c.name));
      const [statuses, reports] = await Promise.all([
        this.o.statuses.getClusterStatuses(names),
        this.o.reports.listReports({ app: r.app }),
      ]);
      const reportOf = new Map(reports.map((report) => [report.cluster, report]));
      for (const name of names) seen.clusters[name] = observation(statuses.get(name), reportOf.get(name));
      return seen.clusters;
    }
    if (seen.changed.size > 0) {
      const names = [...seen.changed].filter((name) => name in seen.clusters);
      seen.changed = new Set();
      const [statuses, reports] = await Promise.all([
        this.o.statuses.getClusterStatuses(names),
        this.o.reports.getReports(names.map((cluster) => ({ cluster, app: r.app }))),
      ]);
      names.forEach((name, i) => {
        seen.clusters[name] = observation(statuses.get(name), reports[i]);
      });
    }
    return seen.clusters;
  }

  /**
   * What holds the rollout as a whole (a closed calendar window of the rollout evaluated at
   * `now`, then freezes of its environment or the fleet), and what holds some of its clusters
   * only (windows and freezes limited to a cluster selector), by cluster name.
   */
  async #holds(r: RolloutState, now: number): Promise<{ holds: Hold[]; held: Map<string, string> }> {
    const { holds, limited } = holdsAt(r.windows ?? [], await this.o.freezes.list(), r.environment, now);
    if (limited.length === 0) return { holds, held: new Map() };
    const wave = r.waves.find((w) => w.status !== "succeeded");
    const waiting = wave?.clusters.filter((c) => c.state === "pending").map((c) => c.name) ?? [];
    const records = await this.o.objects.getObjects("Cluster", waiting);
    return { holds, held: heldClusters(limited, [...records.values()]) };
  }

  /** Runs every measurement the rollout's analyses are due at `now` (queries concurrently, each with its time limit). */
  async #measure(r: RolloutState, now: number): Promise<MeasurementObservation[]> {
    const due = dueMeasurements(r, now);
    if (due.length === 0) return [];
    return Promise.all(due.map((d) => this.#measureOne(r, d)));
  }

  async #measureOne(r: RolloutState, d: DueMeasurement): Promise<MeasurementObservation> {
    let credentials: PrometheusCredentials | undefined;
    let unopened: string | undefined;
    try {
      credentials = await this.o.prometheusCredentials?.(r.environment);
    } catch (err) {
      // Never the secret: the error says only which record and what to do.
      unopened = (err as Error).message;
      this.o.log.warn({ rollout: r.id, app: r.app, environment: r.environment, reason: unopened }, "no credentials");
    }
    const run = async (query: string, cluster?: string) => {
      const where = cluster ? { cluster } : {};
      if (!this.o.metricsSource)
        return { ...where, error: "the hub has no Prometheus to ask: set FLOTILLA_HUB_PROMETHEUS_URL" };
      if (unopened !== undefined)
        return { ...where, error: `the environment's Prometheus credentials cannot be read: ${unopened}` };
      try {
        const value = await this.o.metricsSource.query(query, credentials);
        this.o.log.info(
          { rollout: r.id, app: r.app, wave: d.wave, analysis: d.analysis, cluster, query, value },
          "analysis measured",
        );
        return value === undefined ? where : { ...where, value };
      } catch (err) {
        this.o.log.warn(
          { err, rollout: r.id, app: r.app, wave: d.wave, analysis: d.analysis, cluster, query },
          "analysis query failed",
        );
        return { ...where, error: (err as Error).message };
      }
    };
    let results: MeasurementObservation["results"];
    if (isPerCluster(d.query)) {
      const records = await Promise.all(d.clusters.map((c) => this.o.objects.getObject("Cluster", c)));
      results = await Promise.all(
        d.clusters.map((c, i) => run(substituteQuery(d.query, c, records[i]?.labels ?? {}), c)),
      );
    } else {
      results = [await run(d.query)];
    }
    return { wave: d.wave, analysis: d.analysis, round: d.round, results };
  }

  /**
   * For each pending cluster of the current wave, the first app of `dependsOn` that is not
   * Healthy at its newest desired state there, in words: `app db on cluster c1 (Progressing)`.
   * A dependency meant to run on the cluster but not deployed there yet blocks it too; one that
   * does not run there at all (no branch for the environment, or its selector leaves the
   * cluster out) does not.
   */
  async #blocked(r: RolloutState, dependsOn: readonly string[]): Promise<Map<string, string>> {
    const blocked = new Map<string, string>();
    if (dependsOn.length === 0) return blocked;
    const wave = r.waves.find((w) => w.status !== "succeeded");
    const waiting = wave?.clusters.filter((c) => c.state === "pending").map((c) => c.name) ?? [];
    if (waiting.length === 0) return blocked;
    for (const dep of dependsOn) {
      const [depApp, latest] = await Promise.all([
        this.o.objects.getObject("App", dep),
        this.o.rollouts.latest(dep, r.environment),
      ]);
      const pending = waiting.filter((c) => !blocked.has(c));
      if (!depApp) {
        for (const c of pending) blocked.set(c, `app ${dep}, which does not exist (remove it from dependsOn)`);
        continue;
      }
      const inFlight = latest && !isTerminal(latest.rollout.state) ? latest.rollout : undefined;
      const [desired, reports, repo, clusters] = await Promise.all([
        Promise.all(pending.map((c) => this.o.desired.getDesired(c, dep))),
        this.o.reports.getReports(pending.map((cluster) => ({ cluster, app: dep }))),
        this.o.objects.getObject("Repo", depApp.repo),
        this.o.objects.getObjects("Cluster", pending),
      ]);
      // Whether the dependency is meant to run on a cluster: its repo has a branch for this
      // environment and its own selector takes the cluster.
      const runsOn = (c: string) => {
        const labels = clusters.get(c)?.labels ?? {};
        return (
          repo?.branches[r.environment] !== undefined &&
          Object.entries(depApp.clusterSelector ?? {}).every(([k, v]) => labels[k] === v)
        );
      };
      pending.forEach((c, i) => {
        const progress = inFlight ? findCluster(inFlight, c)?.progress : undefined;
        if (progress && progress.state !== "healthy") {
          blocked.set(c, `app ${dep} on cluster ${c} (its rollout ${inFlight?.id} is ${progress.state} there)`);
          return;
        }
        const want = desired[i];
        if (!want || want.removed) {
          if (runsOn(c)) blocked.set(c, `app ${dep} on cluster ${c} (not deployed there yet)`);
          return;
        }
        const report = reports[i];
        if (!report) blocked.set(c, `app ${dep} on cluster ${c} (no report yet)`);
        else if (report.observedGeneration < want.generation)
          blocked.set(c, `app ${dep} on cluster ${c} (not yet at generation ${want.generation})`);
        else if (report.health !== "healthy" || report.phase !== "synced")
          blocked.set(c, `app ${dep} on cluster ${c} (${capital(report.health)}, ${report.phase})`);
      });
    }
    return blocked;
  }

  /**
   * Publishes a batch of writes' targets in one publisher batch (it allocates the generations,
   * fenced), reading the app, its targets' snapshots and the records in force once for the
   * batch. A write whose last published state already is this rollout's write is not published
   * again. A write that changed nothing (the cluster's state already was the target, by another
   * writer) is recorded as unchanged. A rollback to a cluster or app that was deleted meanwhile
   * is recorded as abandoned: there is nothing left to roll back, and owing it forever would
   * hold back every newer rollout. One answer per write, in order: its outcome or its error.
   */
  async #publishWrites(writes: readonly WriteAction[]): Promise<(WriteOutcome | { error: unknown })[]> {
    const answers: (WriteOutcome | { error: unknown })[] = new Array(writes.length);
    const desired = await this.o.desired.getDesiredMany(writes);
    const apps = new Map<string, Promise<AppRecord | undefined>>();
    const targets = new Map<string, Promise<RolloutTarget>>();
    const requests: PublishRequest[] = [];
    const at: number[] = [];
    await Promise.all(
      writes.map(async (write, i) => {
        const d = desired[i];
        if (
          d &&
          !d.removed &&
          d.rolloutId === write.rolloutId &&
          d.revision === write.target.revision &&
          (write.target.settings === "" || d.settings === write.target.settings)
        ) {
          answers[i] = { kind: "written", write, generation: d.generation, published: false, unchanged: false };
          return;
        }
        try {
          const appOnce = apps.get(write.app) ?? this.o.objects.getObject("App", write.app);
          apps.set(write.app, appOnce);
          const app = await appOnce;
          if (!app) throw new NotFoundError("app", write.app);
          const key = `${write.app}\n${write.environment}\n${write.target.revision}\n${write.target.settings}`;
          const targetOnce = targets.get(key) ?? this.#known(write.target, app, write.environment);
          targets.set(key, targetOnce);
          const target = await targetOnce;
          requests.push({ cluster: write.cluster, app: write.app, target, rolloutId: write.rolloutId });
          at.push(i);
        } catch (error) {
          answers[i] = this.#failed(write, error);
        }
      }),
    );
    const published = requests.length > 0 ? await this.o.publisher.publishAll(requests) : [];
    published.forEach((p, j) => {
      const i = at[j] ?? 0;
      const write = writes[i] as WriteAction;
      answers[i] = p.ok
        ? {
            kind: "written",
            write,
            generation: p.result.generation,
            published: p.result.published,
            unchanged: !p.result.published && p.result.rolloutId !== write.rolloutId,
          }
        : this.#failed(write, p.error);
    });
    return answers;
  }

  /** A write that could not be published: abandoned when it rolls back to what was deleted, else its error. */
  #failed(write: WriteAction, error: unknown): WriteOutcome | { error: unknown } {
    if (write.kind === "RollbackCluster" && error instanceof NotFoundError && GONE_KINDS.has(error.kind))
      return { kind: "abandoned", write, reason: `nothing to roll back: ${error.message}` };
    return { error };
  }

  /** Logs a recorded write and returns its event. */
  #writeEvent(r: RolloutState, o: WriteOutcome): HubEvent {
    const { write } = o;
    const base = {
      type: "rollout" as const,
      rolloutId: r.id,
      app: r.app,
      environment: r.environment,
      state: r.state,
      origin: "engine" as const,
      atMs: Date.now(),
      cluster: write.cluster,
    };
    if (o.kind === "abandoned") {
      this.o.log.warn({ rollout: write.rolloutId, cluster: write.cluster, app: write.app }, o.reason);
      return { ...base, event: "RollbackAbandoned", message: o.reason };
    }
    const target = describeTarget(write.target);
    this.o.log.info(
      {
        rollout: write.rolloutId,
        cluster: write.cluster,
        app: write.app,
        generation: o.generation,
        target: write.target,
        published: o.published,
      },
      write.kind === "WriteDesired" ? "rollout wrote desired state" : "rollout rolled cluster back",
    );
    return {
      ...base,
      event: write.kind,
      revision: write.target.revision,
      generation: o.generation,
      message: o.unchanged
        ? `${target} changes nothing on this cluster; generation ${o.generation} stays in force`
        : `${write.kind === "WriteDesired" ? "wrote" : "rolled back to"} ${target} at generation ${o.generation}`,
    };
  }

  /**
   * The target with a stored snapshot. A rollout stored before settings were tracked names the
   * unknown digest "": its writes use the app's current settings, as that hub did.
   */
  async #known(target: RolloutTarget, app: AppRecord, environment: string): Promise<RolloutTarget> {
    if (target.settings) return target;
    const repo = await this.o.objects.getObject("Repo", app.repo);
    if (!repo) throw new NotFoundError("repo", app.repo);
    const settings = settingsOf(app, repo, environment, await this.o.objects.getObject("Team", repo.team));
    const digest = settingsDigest(settings);
    await this.o.settings.putSettings(digest, settings);
    return { revision: target.revision, settings: digest };
  }

  /** Applies `change` to the stored rollout with compare-and-set under `fence`; undefined if it is gone or keeps moving. */
  async #update(
    id: string,
    fence: Lease,
    change: (r: RolloutState) => RolloutState,
  ): Promise<RolloutState | undefined> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const stored = await this.o.rollouts.get(id);
      if (!stored) return undefined;
      const next = change(stored.rollout);
      if (await this.o.rollouts.compareAndSet(stored, next, fence)) return next;
    }
    return undefined;
  }

  /**
   * Logs and counts a step's actions and emits their events in one event-log entry, in order: a
   * step that turns thousands of clusters healthy costs a round trip per
   * {@link EVENTS_PER_ENTRY} events, not one each (one each held a 10,000-cluster rollout's end
   * back by about a minute).
   */
  async #announce(r: RolloutState, actions: readonly Action[]): Promise<void> {
    const events: HubEvent[] = [];
    const emit = (event: string, extra: Partial<Extract<HubEvent, { type: "rollout" }>>) =>
      events.push(this.#event(r, event, extra));
    for (const a of actions) {
      switch (a.kind) {
        case "WriteDesired":
        case "RollbackCluster":
          break;
        case "WaveStarted":
          this.o.log.info({ rollout: r.id, app: r.app, wave: a.wave, clusters: a.clusters }, "wave started");
          emit(a.kind, { wave: a.wave, message: `wave "${a.wave}" started: ${a.clusters.join(", ")}` });
          break;
        case "WaveCompleted":
          this.o.metrics.rolloutWaveDuration.observe({ environment: r.environment }, a.durationSeconds);
          this.o.log.info({ rollout: r.id, app: r.app, wave: a.wave, seconds: a.durationSeconds }, "wave completed");
          emit(a.kind, { wave: a.wave, message: `wave "${a.wave}" completed in ${a.durationSeconds}s` });
          break;
        case "RolloutSucceeded":
          this.o.metrics.rolloutsEnded.inc({ state: "Succeeded" });
          if (a.commitToConvergedSeconds !== undefined)
            this.o.metrics.commitToConverged.observe({ environment: r.environment }, a.commitToConvergedSeconds);
          this.o.log.info({ rollout: r.id, app: r.app, target: a.target }, "rollout succeeded");
          emit(a.kind, {
            revision: a.target.revision,
            message: `${describeTarget(a.target)} converged`,
          });
          break;
        case "RolloutFailed":
          this.o.metrics.rolloutsEnded.inc({ state: a.state });
          this.o.log.warn({ rollout: r.id, app: r.app, state: a.state, reason: a.reason }, "rollout failed");
          emit(a.kind, { message: a.reason });
          break;
        case "EmitEvent":
          emit(a.type, {
            message: a.message,
            ...(a.wave ? { wave: a.wave } : {}),
            ...(a.cluster ? { cluster: a.cluster } : {}),
          });
          break;
      }
    }
    for (let from = 0; from < events.length; from += EVENTS_PER_ENTRY)
      await this.o.events.emitAll(events.slice(from, from + EVENTS_PER_ENTRY));
  }

  async #emit(
    r: RolloutState,
    event: string,
    extra: Partial<Extract<HubEvent, { type: "rollout" }>>,
    origin: "api" | "engine" = "engine",
  ): Promise<void> {
    await this.o.events.emit(this.#event(r, event, extra, origin));
  }

  #event(
    r: RolloutState,
    event: string,
    extra: Partial<Extract<HubEvent, { type: "rollout" }>>,
    origin: "api" | "engine" = "engine",
  ): HubEvent {
    return {
      type: "rollout",
      rolloutId: r.id,
      app: r.app,
      environment: r.environment,
      event,
      state: r.state,
      origin,
      atMs: Date.now(),
      ...extra,
    };
  }

  /**
   * Makes (revision, settings digest) the target of `app` in `environment`: unless the newest
   * rollout of that pair already goes there, supersedes the one in flight and creates a new
   * rollout from the last good target. A target back at the last good one rolls back what the
   * rollout in flight reached (a reverted commit or setting). Level-triggered and idempotent, so
   * a crash between creating the rollout and recording the head only repeats a check.
   */
  async rollOut(app: AppRecord, environment: string, request: RolloutRequest): Promise<void> {
    await this.#locked(lockKey(app.name, environment), async () => {
      const fence = this.#fence();
      const to: RolloutTarget = { revision: request.revision, settings: settingsDigest(request.settings) };
      const latest = await this.o.rollouts.latest(app.name, environment);
      if (sameTarget(latest?.rollout.to, to)) return;
      const from = (await this.o.rollouts.lastSucceeded(app.name, environment))?.to;
      if (sameTarget(from, to)) {
        if (latest && !isTerminal(latest.rollout.state)) await this.#revert(latest, fence);
        return;
      }
      const now = Date.now();
      const id = rolloutId(app.name, environment, to, now);
      await this.o.settings.putSettings(to.settings, request.settings);
      if (latest) await this.#supersede(latest, id, fence);
      const [envRecord, clusters, team] = await Promise.all([
        this.o.objects.getObject("Environment", environment),
        this.o.objects.listObjects("Cluster"),
        this.o.objects.getObject("Team", request.settings.team),
      ]);
      // The environment's clusters that the app's team may target at all (its policy's selector).
      const teamPolicy = policyOfTeam(request.settings.team, team);
      const members = clusters.filter(
        (c) => c.labels[ENV_LABEL] === environment && teamMayTarget(teamPolicy, c.labels),
      );
      const states = await this.o.statuses.getClusterStatuses(members.map((c) => c.name));
      const changed = changesBetween(from, to);
      // A new commit's lead time starts at the commit; a settings-only change's when it was seen.
      const revisionChanged = changed.includes("revision");
      const detectedAtMs = revisionChanged ? request.detectedAtMs : now;
      const commitAtMs = revisionChanged && request.commit ? request.commit.committedAtMs : detectedAtMs;
      const rollout = createRollout({
        id,
        app: app.name,
        environment,
        ...(from ? { from } : {}),
        to,
        policy: parsePolicy(envRecord?.policy ?? {}, environment),
        clusters: members.map((c) => ({
          name: c.name,
          labels: c.labels,
          state: states.get(c.name)?.state ?? "Pending",
        })),
        ...(app.clusterSelector ? { appSelector: app.clusterSelector } : {}),
        ...(request.commit ? { commit: request.commit } : {}),
        ...(request.commitUnknown ? { commitUnknown: request.commitUnknown } : {}),
        ...(request.sourceDigest ? { sourceDigest: request.sourceDigest } : {}),
        commitAtMs,
        detectedAtMs,
      });
      if (!(await this.o.rollouts.create(rollout, fence))) return;
      const diff = changed.includes("settings") ? await this.diff(from, request.settings) : [];
      this.o.log.info(
        { rollout: id, app: app.name, environment, to, from, changed, settingsChanged: diff.map((d) => d.path) },
        "rollout created",
      );
      const what = diff.length > 0 ? `; settings: ${diff.map(describeChange).join(", ")}` : "";
      await this.#emit(rollout, "Created", {
        revision: to.revision,
        changed,
        ...(diff.length > 0 ? { diff } : {}),
        message: `rolling ${from ? describeTarget(from) : "(first deploy)"} → ${describeTarget(to)}: ${changed.join(" and ")} changed${what}`,
      });
      this.kick();
    });
  }

  /** The masked settings changes from the snapshot of `from` (unknown or none: every field) to `to`. */
  async diff(from: RolloutTarget | undefined, to: AppSettings): Promise<SettingsChange[]> {
    const before = from?.settings ? await this.o.settings.getSettings(from.settings) : undefined;
    return settingsDiff(before, to);
  }

  /** Rolls back what the rollout in flight reached: its target was reverted to the last good one. */
  async #revert(stored: StoredRollout, fence: Lease): Promise<void> {
    let current: StoredRollout | undefined = stored;
    for (let attempt = 0; current && attempt < CAS_ATTEMPTS; attempt++) {
      const r = current.rollout;
      if (isTerminal(r.state)) return;
      const result = r.from
        ? command(r, "rollback", Date.now(), "a revert to the last good target")
        : supersede(r, Date.now());
      if (await this.o.rollouts.compareAndSet(current, result.rollout, fence)) {
        this.o.log.warn(
          { rollout: r.id, app: r.app, environment: r.environment, to: r.from },
          "wanted target is the last good one again; rolling back the rollout in flight",
        );
        await this.#announce(result.rollout, result.actions);
        this.kick();
        return;
      }
      current = await this.o.rollouts.get(stored.rollout.id);
    }
  }

  async #supersede(stored: StoredRollout, byId: string, fence: Lease): Promise<void> {
    let current: StoredRollout | undefined = stored;
    for (let attempt = 0; current && attempt < CAS_ATTEMPTS; attempt++) {
      if (isTerminal(current.rollout.state)) return;
      const result = supersede(current.rollout, Date.now(), byId);
      if (await this.o.rollouts.compareAndSet(current, result.rollout, fence)) {
        this.o.metrics.rolloutsEnded.inc({ state: "Superseded" });
        await this.#announce(result.rollout, result.actions);
        return;
      }
      current = await this.o.rollouts.get(stored.rollout.id);
    }
  }

  /**
   * Gives every target cluster of (app, environment) that no unsettled rollout covers its
   * desired state: the target it is at (re-published only when the cluster's labels now resolve
   * that same snapshot differently, e.g. it joined a region with an override), or, for a cluster
   * that never had the app (added to the environment later), the last good target. A cluster is
   * never given settings or a revision no rollout converged or wrote to it; a desired state
   * recorded before snapshots existed is left alone until a rollout writes it.
   */
  async fill(app: AppRecord, environment: string, targets: readonly ClusterRecord[]): Promise<number> {
    return this.#locked(lockKey(app.name, environment), async () => {
      this.#fence();
      const [active, good] = await Promise.all([
        this.o.rollouts.active(app.name, environment),
        this.o.rollouts.lastSucceeded(app.name, environment),
      ]);
      const owned = new Set(active.flatMap((r) => r.waves.flatMap((w) => w.clusters.map((c) => c.name))));
      let failures = 0;
      for (const cluster of targets) {
        if (owned.has(cluster.name)) continue;
        const desired = await this.o.desired.getDesired(cluster.name, app.name);
        let target: RolloutTarget | undefined;
        let rolloutId = "";
        if (desired && !desired.removed) {
          if (!desired.settings) continue;
          target = { revision: desired.revision, settings: desired.settings };
          rolloutId = desired.rolloutId;
        } else if (good?.to.settings) {
          target = good.to;
          rolloutId = good.id;
        }
        if (!target) continue;
        try {
          await this.o.publisher.publish(cluster.name, app.name, target, rolloutId);
        } catch (err) {
          if (err instanceof NotLeaderError) throw err;
          failures++;
          this.o.log.warn({ err, cluster: cluster.name, app: app.name, target }, "could not publish desired state");
        }
      }
      return failures;
    });
  }
}

/** One cluster as a step sees it; a cluster that never beat counts as Offline. */
function observation(status: ClusterStatus | undefined, report: ReportRecord | undefined): ClusterObservation {
  return {
    connectivity: status?.state ?? "Offline",
    ...(report ? { report } : {}),
    ...(status?.freeze ? { freeze: status.freeze.reason } : {}),
  };
}

/** `path from → to`, for event messages (values already masked). */
function describeChange(c: SettingsChange): string {
  return `${c.path} ${c.from ?? "(unset)"} → ${c.to ?? "(unset)"}`;
}

function capital(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

function lockKey(app: string, environment: string): string {
  return `${app}/${environment}`;
}
