/**
 * One app's reconcile loop: acts on accepted desired states one at a time (a burst collapses
 * to the latest), applies, prunes, keeps assessing health, checks drift, and reports every
 * phase change through a {@link ReportSink}.
 */
import {
  checkNewerGeneration,
  type DesiredState,
  ErrorCode,
  effectivePolicy,
  Health,
  type KeyRing,
  type ReportInit,
  type ResourceStatusInit,
  ResourceSync,
  type SourceType,
  SyncPhase,
  stateKey,
  syncPhaseName,
} from "@flotilla/proto";
import { admit, samePayload } from "./admission.js";
import type { Applier } from "./applier.js";
import { Condition } from "./condition.js";
import { diffObject, hpaTargets, ignoredPathsFor } from "./drift.js";
import { AgentError, ApplyError, HealthRuleError, PruneError, ValidationError } from "./errors.js";
import type { GitSource } from "./git-source.js";
import {
  type Assessment,
  appHealth,
  assessHealth,
  compileHealthRules,
  type HealthContext,
  type HealthRules,
  type HealthSettings,
  labelSelector,
  NO_HEALTH_RULES,
  needsPods,
  ownsThroughReplicaSets,
  workloadPods,
} from "./health/index.js";
import type { Inventory } from "./inventory.js";
import type { InventoryStore } from "./inventory-store.js";
import type { KubeApi } from "./kube-client.js";
import type { Logger } from "./logger.js";
import type { AgentMetrics } from "./metrics.js";
import { isOwnedBy, type KubeObject, type Ref, refKey, refOf, toProtoRef } from "./objects.js";
import type { Observer } from "./observe.js";
import { type Plan, plan, refusedError } from "./plan.js";
import { mapSettled } from "./pool.js";
import { type RenderRequest, type RenderTools, render, renderRequestOf, renderSource } from "./render.js";
import type { RenderLimits } from "./render-limits.js";
import { buildReport, errorInfoOf, prunedStatusOf } from "./report.js";

/** Where reports go (the NATS status bucket in production). */
export interface ReportSink {
  report(app: string, report: ReportInit): void;
}

/** Settings and collaborators shared by every app. */
export interface ControllerDeps {
  cluster: string;
  agentVersion: string;
  /** The agent's own namespace (bootstrap Secret, inventories): no app may write there. */
  agentNamespace: string;
  kube: KubeApi;
  observer: Observer;
  applier: Applier;
  git: GitSource;
  tools: RenderTools;
  /** Caps of one render; the defaults of `render-limits.ts` when absent. */
  renderLimits?: RenderLimits;
  inventories: InventoryStore;
  hubKeys: KeyRing;
  sink: ReportSink;
  metrics: AgentMetrics;
  log: Logger;
  concurrency: number;
  healthPollMs: number;
  healthIdlePollMs: number;
  driftIntervalMs: number;
  progressDeadlineMs: number;
  health: HealthSettings;
  retryBackoffMs: number;
  maxRetryBackoffMs: number;
}

/** A field-level difference of one object, for reports and the `diff` RPC. */
export interface ObjectDrift {
  ref: Ref;
  fields: string[];
  /** The live object no longer carries this app's labels: self-heal leaves it alone. */
  foreign?: boolean;
}

interface Target {
  desired: DesiredState;
  bytes: Uint8Array;
}

/** Health rules compiled once per desired state: they run for every object on every poll. */
const compiledRules = new WeakMap<DesiredState, HealthRules>();

/** The desired state's health rules, compiled; throws HealthRuleError naming a bad one. */
function rulesOf(desired: DesiredState): HealthRules {
  let rules = compiledRules.get(desired);
  if (!rules) {
    try {
      rules = compileHealthRules(desired.healthRules ?? []);
    } catch (err) {
      throw new HealthRuleError((err as Error).message, { cause: err });
    }
    compiledRules.set(desired, rules);
  }
  return rules;
}

/** Per-phase durations of one reconcile, in milliseconds, as reported. */
type Timings = {
  fetchMs: number;
  renderMs: number;
  validateMs: number;
  applyMs: number;
  pruneMs: number;
  totalMs: number;
};

function ms(since: number): number {
  return Math.max(0, Math.round(performance.now() - since));
}

function toAgentError(err: unknown): AgentError {
  if (err instanceof AgentError) return err;
  const e = new AgentError(err instanceof Error ? err.message : String(err), { cause: err });
  return e;
}

export class AppController {
  readonly log: Logger;
  #inv: Inventory;
  /** The state being worked on or last acted on; reports describe it. */
  #target: Target | undefined;
  /** The state whose objects are applied (enforced by drift checks). */
  #applied: Target | undefined;
  /** The plan of the applied state, what drift checks compare against. */
  #set: Plan | undefined;
  /** Highest generation accepted in this process (queued or done). */
  #accepted: number;
  /** Generations seen since start; the first sighting of the inventory's own generation resumes. */
  #resumed = false;
  #next: Target | undefined;
  #chain: Promise<void> = Promise.resolve();
  #phase: SyncPhase = SyncPhase.SYNC_PHASE_UNSPECIFIED;
  #error: ReportInit["error"] = null;
  #timings: ReportInit["timings"] = null;
  #resources: ResourceStatusInit[] = [];
  #pruned: ResourceStatusInit[] = [];
  #drifted = new Map<string, string[]>();
  /** The drift last logged, so the same drift is logged once, not on every check. */
  readonly #driftLog = new Condition();
  /** The reconcile failure last logged (Git unreachable, a bad commit), likewise. */
  readonly #failureLog = new Condition();
  #health: Health = Health.HEALTH_UNKNOWN;
  /** How the last render read the source: the desired state's type, or the detected one. */
  #sourceType: SourceType | undefined;
  #healthTimer: NodeJS.Timeout | undefined;
  #driftTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelay: number;
  #queuedHealth = false;
  #queuedDrift = false;
  #stopped = false;

  constructor(
    readonly app: string,
    private readonly deps: ControllerDeps,
    inventory: Inventory,
  ) {
    this.log = deps.log.child({ app });
    this.#inv = inventory;
    this.#accepted = inventory.observedGeneration;
    this.#retryDelay = deps.retryBackoffMs;
    this.deps.metrics.managedObjects.set({ app }, inventory.objects.length);
    // The inventory carries the signed state it applied; re-verify it so a restarted agent can
    // keep enforcing without NATS, and never on the strength of an unverified ConfigMap.
    if (inventory.desired) {
      const bytes = new Uint8Array(Buffer.from(inventory.desired, "base64"));
      const a = admit(bytes, deps.hubKeys, deps.cluster, app);
      if (a.ok && Number(a.desired.generation) === inventory.appliedGeneration) {
        this.#applied = { desired: a.desired, bytes };
        this.#target = this.#applied;
        this.#phase = SyncPhase.SYNC_PHASE_SYNCED;
      } else {
        this.log.warn("inventory's desired state does not verify; not enforcing it until the hub sends one");
      }
    }
  }

  /** Starts the health and drift timers. */
  start(): void {
    this.#scheduleHealth(0);
    this.#driftTimer = setInterval(() => this.#queueDrift(), this.deps.driftIntervalMs);
    this.#driftTimer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#healthTimer);
    clearInterval(this.#driftTimer);
    clearTimeout(this.#retryTimer);
    await this.#chain;
  }

  /** Latest generation whose objects are applied. */
  get appliedGeneration(): number {
    return this.#inv.appliedGeneration;
  }

  /** A value from the desired bucket for this app: verified, checked for generation, then queued. */
  offer(bytes: Uint8Array): void {
    const a = admit(bytes, this.deps.hubKeys, this.deps.cluster, this.app);
    if (!a.ok) {
      this.#reject(a.code, a.reason, a.claimedGeneration);
      return;
    }
    const generation = Number(a.desired.generation);
    const current = this.#target?.bytes;
    if (current && Buffer.from(current).equals(Buffer.from(bytes))) {
      if (!this.#resumed) this.#resumeOnce(generation);
      return;
    }
    if (current && this.#resumed && samePayload(current, bytes)) {
      // The state in force, re-signed by a new hub key (a key rotation): nothing to apply or
      // report; keep the new signature, which outlives the old key.
      const resigned = { desired: a.desired, bytes };
      if (this.#applied === this.#target) this.#applied = resigned;
      this.#target = resigned;
      this.log.info({ generation }, "desired state re-signed by the hub's new key");
      return;
    }
    if (!this.#resumed && generation === this.#inv.observedGeneration && generation > 0) {
      this.#resumed = true;
      if (generation === this.#inv.appliedGeneration) {
        this.#target = { desired: a.desired, bytes };
        this.#applied = this.#target;
        this.#enqueue(() => this.#reassess(true));
        return;
      }
      // That generation failed before the restart: try it again.
      this.#queue({ desired: a.desired, bytes });
      return;
    }
    try {
      checkNewerGeneration(stateKey(this.deps.cluster, this.app), generation, this.#accepted);
    } catch (err) {
      this.#reject(ErrorCode.ERROR_CODE_GENERATION_STALE, (err as Error).message, generation);
      return;
    }
    this.#resumed = true;
    this.#accepted = generation;
    this.#queue({ desired: a.desired, bytes });
  }

  /** Reconciles the current desired state again now (the `refresh` RPC). */
  refresh(): Promise<void> {
    return this.#enqueue(async () => {
      if (this.#target && !this.#next) await this.#reconcile(this.#target);
    });
  }

  /** Live differences from the applied set, without correcting them (the `diff` RPC). */
  diff(): Promise<ObjectDrift[]> {
    return this.#enqueue(async () => {
      const set = await this.#appliedSet();
      return set ? this.#computeDrift(set) : [];
    });
  }

  /** Re-sends the last report (after NATS comes back). */
  republish(): void {
    if (this.#phase !== SyncPhase.SYNC_PHASE_UNSPECIFIED) this.#publish(this.#phase);
  }

  #resumeOnce(generation: number): void {
    this.#resumed = true;
    if (generation === this.#inv.appliedGeneration) this.#enqueue(() => this.#reassess(true));
  }

  #queue(target: Target): void {
    this.#next = target;
    this.#enqueue(async () => {
      const next = this.#next;
      this.#next = undefined;
      if (next) await this.#reconcile(next);
    });
  }

  #enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(() => (this.#stopped ? (undefined as T) : fn()));
    this.#chain = run.then(
      () => undefined,
      (err: unknown) => {
        this.log.error({ err }, "app task failed");
      },
    );
    return run;
  }

  #reject(code: ErrorCode, reason: string, generation: number): void {
    this.log.warn({ rejectedGeneration: generation, code: ErrorCode[code] }, reason);
    this.deps.metrics.rejected.inc({ reason: ErrorCode[code] ?? "unknown" });
    this.#publish(SyncPhase.SYNC_PHASE_REJECTED, {
      rejectedGeneration: generation,
      error: { code, message: reason, retryable: false },
    });
  }

  /** Builds and sends a report of the current state with `phase`. */
  #publish(phase: SyncPhase, extra: Partial<ReportInit> = {}): void {
    if (phase !== SyncPhase.SYNC_PHASE_REJECTED) this.#phase = phase;
    const report = buildReport(
      phase,
      {
        cluster: this.deps.cluster,
        app: this.app,
        agentVersion: this.deps.agentVersion,
        desired: this.#target?.desired,
        inventory: this.#inv,
        health: this.#health,
        sourceType: this.#sourceType,
        resources: this.#resources,
        pruned: this.#pruned,
        drifted: this.#drifted,
        error: this.#error,
        timings: this.#timings,
      },
      Date.now(),
      extra,
    );
    this.log.debug({ phase: syncPhaseName(phase), generation: report.observedGeneration }, "report");
    this.deps.sink.report(this.app, report);
  }

  async #reconcile(target: Target): Promise<void> {
    const d = target.desired;
    const generation = Number(d.generation);
    const log = this.log.child({ generation, rollout: d.rolloutId, revision: d.source?.revision });
    const metrics = this.deps.metrics;
    clearTimeout(this.#retryTimer);
    this.#target = target;
    this.#error = null;
    this.#pruned = [];
    const timings: Timings = { fetchMs: 0, renderMs: 0, validateMs: 0, applyMs: 0, pruneMs: 0, totalMs: 0 };
    this.#timings = timings;
    const started = performance.now();
    const previous = this.#inv;
    /** Objects of the app that may be live after a failure, to keep in the inventory. */
    let attempted: Ref[] = [];
    this.#inv = { ...previous, observedGeneration: Math.max(previous.observedGeneration, generation) };
    try {
      if (d.remove) {
        await this.#remove(log);
        return;
      }
      // A rule that does not compile refuses the whole state before anything is fetched or applied.
      rulesOf(d);
      const req = renderRequestOf(this.app, d);
      const rendered = await this.#fetchAndRender(d, req, timings);

      this.#publish(SyncPhase.SYNC_PHASE_VALIDATING);
      let t = performance.now();
      const p = await this.#plan(d, rendered, previous.objects);
      if (p.refusals.length > 0) throw await this.#refusal(d, rendered, previous.objects, p);
      const created = await this.deps.applier.createNamespaces(p.createNamespaces, this.app);
      if (created.length > 0) log.info({ namespaces: created }, "created namespaces the app uses but does not define");
      await this.deps.applier.validate(p);
      timings.validateMs = this.#measure("validate", t);

      this.#publish(SyncPhase.SYNC_PHASE_APPLYING);
      t = performance.now();
      const owned = new Set(p.inventory.map(refKey));
      attempted = p.inventory;
      let live: KubeObject[];
      try {
        live = await this.deps.applier.apply(p, (refs) => {
          attempted = refs.filter((r) => owned.has(refKey(r)));
        });
      } catch (err) {
        // Only Namespaces/CRDs reached the cluster when a late dry run failed; otherwise any may have.
        if (!(err instanceof ValidationError)) attempted = p.inventory;
        throw err;
      }
      timings.applyMs = this.#measure("apply", t);
      metrics.applies.inc({ app: this.app }, live.length);

      await this.#record(target, req.revision, p);
      const ctx = this.#healthContext();
      this.#resources = live.map((obj) => this.#resourceOf(refOf(obj), assessHealth(obj, ctx)));
      if (p.prune.length > 0) {
        t = performance.now();
        await this.#prune(p);
        timings.pruneMs = this.#measure("prune", t);
      }
      timings.totalMs = this.#measure("total", started);
      metrics.lastReconcile.set({ app: this.app }, Date.now() / 1000);
      this.#retryDelay = this.deps.retryBackoffMs;
      await this.#assess();
      log.info({ objects: p.apply.length, pruned: this.#pruned.length, timings }, "applied");
      if (this.#failureLog.observe(undefined) === "ended") log.info("reconcile recovered");
      this.#publish(SyncPhase.SYNC_PHASE_SYNCED);
      // What was just applied is rolling out: watch it at the fast pace, whatever the last health was,
      // or a rollout waits a whole idle interval to see its wave turn Healthy.
      this.#scheduleHealth(this.deps.healthPollMs);
    } catch (err) {
      await this.#failed(target, toAgentError(err), attempted, started, log);
    }
  }

  /** Records `ms` since `since` as the duration of `phase` and returns it. */
  #measure(phase: string, since: number): number {
    const took = ms(since);
    this.deps.metrics.reconcileDuration.observe({ app: this.app, phase }, took / 1000);
    return took;
  }

  /** Fetches the desired commit and renders the app's objects from it. */
  async #fetchAndRender(d: DesiredState, req: RenderRequest, timings: Timings): Promise<KubeObject[]> {
    this.#publish(SyncPhase.SYNC_PHASE_FETCHING);
    let t = performance.now();
    await this.deps.git.ensureCommit(req.repoUrl, d.source?.branch ?? "", req.revision);
    timings.fetchMs = this.#measure("fetch", t);
    this.#publish(SyncPhase.SYNC_PHASE_RENDERING);
    t = performance.now();
    const rendered = await renderSource(this.deps.git, this.deps.tools, req, this.deps.renderLimits);
    timings.renderMs = this.#measure("render", t);
    this.#sourceType = rendered.type;
    return rendered.objects;
  }

  /**
   * The error of a plan with refusals. When the only refusals are kinds the API server does not
   * serve, the rest is dry-run too, so the report names every failing object at once (a
   * misspelt kind and a misspelt field in one commit are both fixed in one go).
   */
  async #refusal(
    d: DesiredState,
    rendered: readonly KubeObject[],
    previous: readonly Ref[],
    p: Plan,
  ): Promise<AgentError> {
    const refused = refusedError(p.refusals);
    if (p.refusals.some((r) => r.rule !== "unknown-kind")) return refused;
    const unknown = new Set(p.refusals.map((r) => refKey(r.ref)));
    const rest = await this.#plan(
      d,
      rendered.filter((o) => !unknown.has(refKey(refOf(o)))),
      previous,
    );
    if (rest.refusals.length > 0) return refused;
    // Objects in a namespace that does not exist yet would only fail for that.
    const missing = new Set(rest.createNamespaces);
    const failures = await this.deps.applier
      .validate({ ...rest, apply: rest.apply.filter((o) => !missing.has(o.metadata.namespace ?? "")) })
      .then(
        () => [],
        (err: unknown) => (err instanceof ValidationError ? err.objects : []),
      );
    return new ValidationError([...refused.objects, ...failures]);
  }

  /** Reads what the cluster holds of the set and plans the reconcile of `d`. */
  async #plan(d: DesiredState, rendered: readonly KubeObject[], previous: readonly Ref[]): Promise<Plan> {
    const targetNamespace = d.targetNamespace ?? "";
    const facts = await this.deps.observer.observe(rendered, targetNamespace, previous);
    return plan({
      app: this.app,
      targetNamespace,
      agentNamespace: this.deps.agentNamespace,
      policy: effectivePolicy(d.policy, targetNamespace),
      adopt: Boolean(d.adopt),
      prune: Boolean(d.prune),
      rendered,
      inventory: previous,
      facts,
    });
  }

  /** Saves the inventory of an applied plan: its own objects, plus prune candidates until they are deleted. */
  async #record(target: Target, revision: string, p: Plan): Promise<void> {
    this.#inv = {
      app: this.app,
      appliedGeneration: Number(target.desired.generation),
      revision,
      rolloutId: target.desired.rolloutId ?? "",
      observedGeneration: this.#inv.observedGeneration,
      // Candidates stay listed until they are deleted: a failed or interrupted prune must find them again.
      objects: [...p.inventory, ...p.retain, ...p.prune.map((c) => c.ref)],
      desired: Buffer.from(target.bytes).toString("base64"),
      appliedAtMs: Date.now(),
    };
    await this.deps.inventories.save(this.#inv);
    this.#applied = target;
    this.#set = p;
    this.#drifted.clear();
    this.deps.metrics.managedObjects.set({ app: this.app }, this.#inv.objects.length);
  }

  /** Carries out the plan's prune decisions, then drops the candidates from the inventory. */
  async #prune(p: Plan): Promise<void> {
    this.#publish(SyncPhase.SYNC_PHASE_PRUNING);
    const decisions = await this.deps.applier.prune(p.prune, this.app);
    for (const decision of decisions) {
      if (decision.action === "delete") this.deps.metrics.prunes.inc({ app: this.app });
      this.#pruned.push(prunedStatusOf(decision));
    }
    this.#inv = { ...this.#inv, objects: [...p.inventory, ...p.retain] };
    await this.deps.inventories.save(this.#inv);
    this.deps.metrics.managedObjects.set({ app: this.app }, this.#inv.objects.length);
  }

  /** Reports a failed reconcile, keeps what may be live in the inventory, and retries what may succeed later. */
  async #failed(target: Target, e: AgentError, attempted: readonly Ref[], started: number, log: Logger): Promise<void> {
    if (this.#timings) this.#timings.totalMs = ms(started);
    this.deps.metrics.errors.inc({ app: this.app, code: ErrorCode[e.code] ?? "unknown" });
    if (e instanceof ApplyError || e instanceof PruneError || attempted.length > 0) {
      // Some objects may be live now; keep every one we might own in the inventory.
      const known = new Set(this.#inv.objects.map(refKey));
      this.#inv = {
        ...this.#inv,
        objects: [...this.#inv.objects, ...attempted.filter((r) => !known.has(refKey(r)))],
      };
    }
    await this.deps.inventories.save(this.#inv).catch((saveErr: unknown) => {
      log.error({ err: saveErr }, "cannot save inventory");
    });
    this.#error = errorInfoOf(e);
    const failure = { code: ErrorCode[e.code], retryable: e.retryable, err: e.message };
    // Once per failure, not on every retry; the errors metric counts every one.
    if (this.#failureLog.observe(`${failure.code}: ${e.message}`) !== undefined) log.warn(failure, "reconcile failed");
    else log.debug(failure, "reconcile failed again");
    await this.#assess().catch(() => undefined);
    this.#publish(e instanceof PruneError ? SyncPhase.SYNC_PHASE_SYNCED : SyncPhase.SYNC_PHASE_FAILED);
    if (e.retryable) this.#scheduleRetry(target);
  }

  #scheduleRetry(target: Target): void {
    const delay = this.#retryDelay;
    this.#retryDelay = Math.min(this.#retryDelay * 2, this.deps.maxRetryBackoffMs);
    this.#retryTimer = setTimeout(() => {
      if (this.#target === target && !this.#next) this.#queue(target);
    }, delay);
    this.#retryTimer.unref();
  }

  async #remove(log: Logger): Promise<void> {
    this.#publish(SyncPhase.SYNC_PHASE_PRUNING);
    const decisions = await this.deps.applier.prune(
      this.#inv.objects.map((ref) => ({ action: "delete", ref })),
      this.app,
    );
    this.#pruned = decisions.map(prunedStatusOf);
    await this.deps.inventories.remove(this.app);
    this.#inv = { ...this.#inv, objects: [], appliedGeneration: this.#inv.observedGeneration };
    this.#applied = undefined;
    this.#set = undefined;
    this.#resources = [];
    this.#health = Health.HEALTH_HEALTHY;
    log.info({ pruned: decisions.length }, "app removed");
    this.#publish(SyncPhase.SYNC_PHASE_REMOVED);
  }

  /** What a verdict depends on besides the object: now, the settings, the applied state's rules and deadline. */
  #healthContext(): HealthContext {
    const d = this.#applied?.desired;
    let rules = NO_HEALTH_RULES;
    try {
      if (d) rules = rulesOf(d);
    } catch {
      // Only a state whose rules compiled is ever applied; an inventory from an older agent may not be.
    }
    const appDeadlineMs = Number(d?.progressDeadlineSeconds ?? 0) * 1000;
    return {
      nowMs: Date.now(),
      settings: this.deps.health,
      rules,
      appliedAtMs: this.#inv.appliedAtMs,
      progressDeadlineMs: appDeadlineMs > 0 ? appDeadlineMs : this.deps.progressDeadlineMs,
    };
  }

  #resourceOf(ref: Ref, a: Assessment): ResourceStatusInit {
    return { ref: toProtoRef(ref), health: a.health, sync: ResourceSync.RESOURCE_SYNC_SYNCED, message: a.message };
  }

  /** One object's verdict; a workload still progressing is judged by its Pods too. */
  async #judge(ref: Ref, live: KubeObject | undefined, ctx: HealthContext): Promise<Assessment> {
    if (!live) return assessHealth(live, ctx);
    const mapping = await this.deps.kube.mapping(live.apiVersion, live.kind).catch(() => undefined);
    const own: HealthContext = { ...ctx, statusSubresource: mapping?.statusSubresource };
    const a = assessHealth(live, own);
    if (!needsPods(live, a)) return a;
    try {
      return assessHealth(live, { ...own, pods: await this.#podsOf(live) });
    } catch (err) {
      this.log.debug({ err, object: refKey(ref) }, "cannot read a workload's pods; judging it without them");
      return a;
    }
  }

  /** The Pods of a workload at its latest template (see workloadPods). */
  async #podsOf(workload: KubeObject): Promise<KubeObject[]> {
    const selector = labelSelector(workload);
    const ns = workload.metadata.namespace ?? "";
    if (!selector || !ns) return [];
    const [pods, replicaSets] = await Promise.all([
      this.deps.kube.list("v1", "Pod", ns, selector),
      ownsThroughReplicaSets(workload) ? this.deps.kube.list("apps/v1", "ReplicaSet", ns, selector) : [],
    ]);
    return workloadPods(workload, pods, replicaSets);
  }

  /** Reads every applied object and recomputes per-object and app health. */
  async #assess(): Promise<void> {
    const refs = this.#inv.objects;
    const ctx = this.#healthContext();
    const results = await mapSettled(refs, this.deps.concurrency, async (ref) =>
      this.#judge(ref, await this.deps.kube.get(ref), ctx),
    );
    this.#resources = refs.map((ref, i) => {
      const r = results[i];
      if (r?.ok) return this.#resourceOf(ref, r.value);
      return {
        ref: toProtoRef(ref),
        health: Health.HEALTH_UNKNOWN,
        sync: ResourceSync.RESOURCE_SYNC_SYNCED,
        message: r && !r.ok ? String((r.error as Error).message) : "",
      };
    });
    this.#health = appHealth(
      this.#resources.map((r) => r.health as Health),
      this.#applied !== undefined,
    );
  }

  /** Health poll: report when any health changed. */
  async #reassess(force = false): Promise<void> {
    if (this.#inv.objects.length === 0 && !this.#applied) return;
    const before = JSON.stringify(this.#resources.map((r) => [r.health, r.message]));
    const beforeHealth = this.#health;
    try {
      await this.#assess();
    } catch (err) {
      this.log.warn({ err }, "cannot assess health");
      return;
    }
    const after = JSON.stringify(this.#resources.map((r) => [r.health, r.message]));
    if (force || after !== before || beforeHealth !== this.#health) {
      this.#publish(this.#phase === SyncPhase.SYNC_PHASE_UNSPECIFIED ? SyncPhase.SYNC_PHASE_SYNCED : this.#phase);
    }
  }

  #scheduleHealth(delay: number): void {
    clearTimeout(this.#healthTimer);
    this.#healthTimer = setTimeout(() => {
      if (this.#queuedHealth || this.#stopped) return;
      this.#queuedHealth = true;
      this.#enqueue(async () => {
        this.#queuedHealth = false;
        await this.#reassess();
      }).finally(() => {
        if (this.#stopped) return;
        const settled = this.#health === Health.HEALTH_HEALTHY || this.#health === Health.HEALTH_DEGRADED;
        this.#scheduleHealth(settled ? this.deps.healthIdlePollMs : this.deps.healthPollMs);
      });
    }, delay);
    this.#healthTimer.unref();
  }

  #queueDrift(): void {
    if (this.#queuedDrift || this.#stopped) return;
    this.#queuedDrift = true;
    this.#enqueue(async () => {
      this.#queuedDrift = false;
      await this.#checkDrift();
    });
  }

  /** The plan of the applied state, planned again from the Git cache after a restart. */
  async #appliedSet(): Promise<Plan | undefined> {
    if (this.#set) return this.#set;
    const d = this.#applied?.desired;
    if (!d?.source || d.remove) return undefined;
    await this.deps.git.ensureCommit(d.source.repoUrl ?? "", d.source.branch ?? "", d.source.revision ?? "");
    const rendered = await render(this.deps.git, this.deps.tools, renderRequestOf(this.app, d), this.deps.renderLimits);
    const p = await this.#plan(d, rendered, this.#inv.objects);
    if (p.refusals.length > 0) throw refusedError(p.refusals);
    this.#set = p;
    return p;
  }

  async #computeDrift(set: Plan): Promise<ObjectDrift[]> {
    const namespaces = [...new Set(set.apply.map((o) => o.metadata.namespace).filter((n): n is string => !!n))];
    const hpas = (
      await Promise.all(
        namespaces.map((ns) => this.deps.kube.list("autoscaling/v2", "HorizontalPodAutoscaler", ns).catch(() => [])),
      )
    ).flat();
    const scaled = hpaTargets(hpas);
    const results = await mapSettled(
      set.apply,
      this.deps.concurrency,
      async (obj): Promise<ObjectDrift | undefined> => {
        const ref = refOf(obj);
        const live = await this.deps.kube.get(ref);
        if (!live) return { ref, fields: ["(object missing)"] };
        // Taken over since the apply: self-heal must not take it back (the next revision is refused instead).
        if (!isOwnedBy(live, this.app)) return { ref, fields: ["(no longer labelled as this app's)"], foreign: true };
        const expected = await this.deps.applier.dryRunOne(obj);
        const fields = diffObject(expected, live, ignoredPathsFor(refKey(ref), scaled));
        return fields.length > 0 ? { ref, fields } : undefined;
      },
    );
    const drifts: ObjectDrift[] = [];
    for (const r of results) {
      if (r.ok && r.value) drifts.push(r.value);
      else if (!r.ok) this.log.warn({ err: r.error }, "drift check of one object failed");
    }
    return drifts;
  }

  async #checkDrift(): Promise<void> {
    let set: Plan | undefined;
    try {
      set = await this.#appliedSet();
    } catch (err) {
      this.log.warn({ err }, "cannot rebuild the applied set for the drift check");
      return;
    }
    if (!set || !this.#applied) return;
    const drifts = await this.#computeDrift(set);
    const wasDrifted = this.#drifted.size > 0;
    this.#drifted = new Map(drifts.map((d) => [refKey(d.ref), d.fields]));
    const reportPhase = this.#phase === SyncPhase.SYNC_PHASE_SYNCED || this.#phase === SyncPhase.SYNC_PHASE_OUT_OF_SYNC;
    const described = drifts.map((d) => `${d.ref.kind}/${d.ref.name}: ${d.fields.join(",")}`);
    const change = this.#driftLog.observe(drifts.length > 0 ? described.join("; ") : undefined);
    if (drifts.length === 0) {
      if (change === "ended") this.log.info("drift ended: live objects match the applied set again");
      if (wasDrifted && reportPhase) this.#publish(SyncPhase.SYNC_PHASE_SYNCED);
      return;
    }
    this.deps.metrics.driftDetected.inc({ app: this.app });
    // Once when it starts or changes, not on every check: the metric counts every check.
    if (change !== undefined)
      this.log.info({ drifted: described }, change === "started" ? "drift found" : "drift changed");
    if (reportPhase) this.#publish(SyncPhase.SYNC_PHASE_OUT_OF_SYNC);
    if (!this.#applied.desired.selfHeal) return;
    try {
      const foreign = new Set(drifts.filter((d) => d.foreign).map((d) => refKey(d.ref)));
      await this.deps.applier.reapply(
        set.apply.filter((o) => !foreign.has(refKey(refOf(o)))),
        set.namespaces,
        this.app,
      );
      this.deps.metrics.driftCorrections.inc({ app: this.app });
      this.#drifted.clear();
      await this.#assess();
      this.log.info({ corrected: drifts.length }, "drift corrected");
      if (reportPhase) this.#publish(SyncPhase.SYNC_PHASE_SYNCED);
    } catch (err) {
      this.log.warn({ err }, "self-heal failed");
    }
  }
}
