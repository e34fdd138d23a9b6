/**
 * One simulated cluster's agent: admits desired states as a real agent does (signed by the hub,
 * for this cluster and app, newer than the last one acted on), answers each with the reports
 * of its {@link AgentBehaviour}, signed with the cluster's own key, and beats.
 */
import {
  DESIRED_STATE,
  type DesiredState,
  HEARTBEAT,
  Health,
  type KeyRing,
  open,
  REPORT,
  type ReportInit,
  ResourceSync,
  SignatureError,
  type SigningKey,
  SyncPhase,
  seal,
  v1,
} from "@flotilla/proto";
import { type AgentBehaviour, failsRevision, type PlannedReport, reportPlan } from "./behaviour.js";
import type { FleetCounters } from "./counters.js";

/** Version the simulated agents put in heartbeats and reports. */
export const LOADGEN_AGENT_VERSION = "loadgen";

/** Where one simulated cluster sends what it writes: its own connection, or a shared one. */
export interface ClusterLink {
  /** Writes a signed report to the cluster's key of the status bucket. */
  putReport(app: string, bytes: Uint8Array): Promise<void>;
  /**
   * Publishes a signed report on its key's subject without waiting for the stream's ack: the
   * stream stores it all the same and the hub reads it the same way, but the sender skips a
   * JetStream request per report (for bursts, where the sender's CPU is not what is measured).
   */
  publishReport(app: string, bytes: Uint8Array): void;
  /** Publishes a signed heartbeat on the cluster's heartbeat subject. */
  publishHeartbeat(bytes: Uint8Array): void;
}

/** What the cluster did with one app's latest desired state. */
export interface AppProgress {
  /** The newest generation acted on. */
  generation: number;
  revision: string;
  rolloutId: string;
  /** Health of the last verdict; what work-phase reports carry. */
  health: Health;
  /** The phase of the last report sent. */
  phase: SyncPhase;
}

interface AppState extends AppProgress {
  timers: NodeJS.Timeout[];
}

/** Settings every simulated cluster of a fleet shares. */
export interface ClusterContext {
  hubKeys: KeyRing;
  behaviour: () => AgentBehaviour;
  counters: FleetCounters;
  /**
   * Whether each desired state's Ed25519 signature is checked, as a real agent does. Without
   * it a desired state must still be a desired-state envelope from a trusted key id, for this
   * cluster and app, newer than the last: only the signature check (the agent's own CPU, not
   * the hub's) is left out. @default true
   */
  verifyDesired?: boolean;
}

/**
 * A desired state decoded and checked like {@link open} does, except for the signature: it
 * must name a trusted key id, but its signature is not verified. For load generation only.
 */
function openTrustingKeyId(bytes: Uint8Array, hubKeys: KeyRing): DesiredState {
  const envelope = v1.Envelope.decode(bytes);
  if (envelope.type !== DESIRED_STATE.type) {
    throw new SignatureError("wrong_type", "not a DesiredState envelope", envelope.keyId);
  }
  if (!hubKeys.keyIds().includes(envelope.keyId)) {
    throw new SignatureError("unknown_key", `signed by untrusted key ${envelope.keyId}`, envelope.keyId);
  }
  const desired = DESIRED_STATE.decode(envelope.payload);
  DESIRED_STATE.check(desired);
  return desired;
}

/** A report's phase that ends a revision's sequence: synced, failed or removed. */
function isVerdict(phase: SyncPhase): boolean {
  return (
    phase === SyncPhase.SYNC_PHASE_SYNCED ||
    phase === SyncPhase.SYNC_PHASE_FAILED ||
    phase === SyncPhase.SYNC_PHASE_REMOVED
  );
}

export class SimulatedCluster {
  readonly #apps = new Map<string, AppState>();
  /** The latest report per app that the status bucket did not take, sent again with each heartbeat. */
  readonly #unsent = new Map<string, Uint8Array>();
  /** Reports sealed by {@link prepareBurst}, not sent yet. */
  #burst: { app: string; bytes: Uint8Array }[] = [];
  #stopped = false;

  constructor(
    readonly name: string,
    private readonly key: SigningKey,
    private readonly link: ClusterLink,
    private readonly context: ClusterContext,
  ) {}

  /** The latest desired state of `app` this cluster acted on, if any. */
  progress(app: string): AppProgress | undefined {
    const s = this.#apps.get(app);
    return (
      s && { generation: s.generation, revision: s.revision, rolloutId: s.rolloutId, health: s.health, phase: s.phase }
    );
  }

  /** Apps this cluster has received a desired state for. */
  apps(): string[] {
    return [...this.#apps.keys()];
  }

  /** Handles one value of the cluster's key `app` in the desired bucket. */
  onDesired(app: string, bytes: Uint8Array): void {
    if (this.#stopped) return;
    const { counters } = this.context;
    let desired: DesiredState;
    try {
      desired =
        this.context.verifyDesired === false
          ? openTrustingKeyId(bytes, this.context.hubKeys)
          : open(DESIRED_STATE, bytes, this.context.hubKeys).message;
    } catch {
      counters.desiredRefused++;
      return;
    }
    if (desired.cluster !== this.name || desired.app !== app) {
      counters.desiredRefused++;
      return;
    }
    const generation = Number(desired.generation);
    const current = this.#apps.get(app);
    if (current && generation <= current.generation) {
      // The same value again (a watch restarted) is harmless; an older one is a hub bug.
      if (generation < current.generation) counters.generationRegressions++;
      return;
    }
    counters.noteDesired();
    for (const t of current?.timers ?? []) clearTimeout(t);
    const revision = desired.source?.revision ?? "";
    const state: AppState = {
      generation,
      revision,
      rolloutId: desired.rolloutId,
      health: current?.health ?? Health.HEALTH_UNKNOWN,
      phase: current?.phase ?? SyncPhase.SYNC_PHASE_UNSPECIFIED,
      timers: [],
    };
    this.#apps.set(app, state);
    const behaviour = this.context.behaviour();
    const plan: PlannedReport[] = desired.remove
      ? [{ afterMs: behaviour.reportDelayMs, phase: SyncPhase.SYNC_PHASE_REMOVED, health: Health.HEALTH_UNKNOWN }]
      : reportPlan(behaviour, failsRevision(this.name, revision, behaviour.failureRatio), state.health);
    for (const planned of plan) {
      if (planned.afterMs <= 0) this.#report(app, state, planned);
      else state.timers.push(setTimeout(() => this.#report(app, state, planned), planned.afterMs));
    }
  }

  /**
   * Sends every app's report sequence again at once, for the revision it last acted on: with
   * `reports` of 5, fetching, rendering, validating, applying, then the same verdict as before
   * (a report burst for ingest tests; each report differs, so none is a mere re-delivery).
   */
  reportAgain(reports = 1): void {
    this.prepareBurst(reports);
    this.sendBurst();
  }

  /**
   * Seals the reports of {@link reportAgain} without sending them, so a benchmark can keep the
   * simulated agents' signing (done on thousands of machines in a real fleet) out of the time
   * it measures; {@link sendBurst} sends them. Returns how many were sealed.
   */
  prepareBurst(reports = 1): number {
    const behaviour = { ...this.context.behaviour(), reportsPerRevision: reports, reportDelayMs: 0 };
    for (const [app, state] of this.#apps) {
      if (state.phase === SyncPhase.SYNC_PHASE_UNSPECIFIED) continue;
      const failed = state.phase === SyncPhase.SYNC_PHASE_FAILED;
      for (const planned of reportPlan(behaviour, failed, state.health)) {
        const bytes = this.#seal(app, state, planned);
        if (bytes) this.#burst.push({ app, bytes });
      }
    }
    return this.#burst.length;
  }

  /**
   * Sends what {@link prepareBurst} sealed, in order: written and acknowledged like every
   * report, or with `acked: false` published without waiting for the stream's acknowledgement
   * (see {@link ClusterLink.publishReport}; nothing is kept to send again).
   */
  sendBurst(acked = true): void {
    const burst = this.#burst;
    this.#burst = [];
    for (const { app, bytes } of burst) {
      if (this.#stopped) return;
      this.context.counters.reportsSent++;
      if (acked) this.#put(app, bytes);
      else this.link.publishReport(app, bytes);
    }
  }

  /**
   * Sends one signed heartbeat, and first any report that failed to write, as the real agent
   * does (`retryPending` on its heartbeat): a report lost while NATS was away would otherwise
   * leave the hub waiting on a verdict that never comes.
   */
  heartbeat(): void {
    if (this.#stopped) return;
    for (const [app, bytes] of this.#unsent) this.#put(app, bytes);
    const bytes = seal(
      HEARTBEAT,
      {
        cluster: this.name,
        agentVersion: LOADGEN_AGENT_VERSION,
        kubernetesVersion: "v1.34.0",
        capabilities: ["render.manifests"],
        sentAtMs: Date.now(),
        apps: this.#apps.size,
      },
      this.key,
    );
    this.link.publishHeartbeat(bytes);
    this.context.counters.heartbeatsSent++;
  }

  /** Cancels every scheduled report. */
  stop(): void {
    this.#stopped = true;
    for (const s of this.#apps.values()) for (const t of s.timers) clearTimeout(t);
  }

  #report(app: string, state: AppState, planned: PlannedReport): void {
    const bytes = this.#seal(app, state, planned);
    if (!bytes) return;
    this.context.counters.reportsSent++;
    if (this.context.behaviour().ackWorkReports || isVerdict(planned.phase)) this.#put(app, bytes);
    else this.link.publishReport(app, bytes);
  }

  /** Moves the app's state to what `planned` reports and seals that report; nothing once stopped or superseded. */
  #seal(app: string, state: AppState, planned: PlannedReport): Uint8Array | undefined {
    if (this.#stopped || this.#apps.get(app) !== state) return undefined;
    state.phase = planned.phase;
    if (planned.phase === SyncPhase.SYNC_PHASE_SYNCED || planned.phase === SyncPhase.SYNC_PHASE_FAILED) {
      state.health = planned.health;
    }
    const report: ReportInit = {
      cluster: this.name,
      app,
      observedGeneration: state.generation,
      revision: state.revision,
      rolloutId: state.rolloutId,
      phase: planned.phase,
      health: planned.health,
      resources: this.#resources(app, planned.health),
      error: planned.error ?? null,
      reportedAtMs: Date.now(),
      agentVersion: LOADGEN_AGENT_VERSION,
    };
    return seal(REPORT, report, this.key);
  }

  /** Writes a report; on failure keeps it (unless a newer one of the app came) for the next heartbeat. */
  #put(app: string, bytes: Uint8Array): void {
    this.#unsent.set(app, bytes);
    this.link.putReport(app, bytes).then(
      () => {
        if (this.#unsent.get(app) === bytes) this.#unsent.delete(app);
      },
      () => {
        this.context.counters.reportFailures++;
      },
    );
  }

  #resources(app: string, health: Health): ReportInit["resources"] {
    const count = this.context.behaviour().resourcesPerReport;
    return Array.from({ length: count }, (_, i) => ({
      ref: { group: "apps", version: "v1", kind: "Deployment", namespace: app, name: `${app}-${i}` },
      health,
      sync: ResourceSync.RESOURCE_SYNC_SYNCED,
      message: "",
    }));
  }
}
