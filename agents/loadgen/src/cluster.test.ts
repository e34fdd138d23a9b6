import {
  DESIRED_STATE,
  generateSigningKey,
  HEARTBEAT,
  Health,
  KeyRing,
  open,
  REPORT,
  type Report,
  SyncPhase,
  seal,
} from "@flotilla/proto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type AgentBehaviour, DEFAULT_BEHAVIOUR } from "./behaviour.js";
import { type ClusterLink, SimulatedCluster } from "./cluster.js";
import { FleetCounters } from "./counters.js";

const hubKey = generateSigningKey();
const agentKey = generateSigningKey();
const agentRing = new KeyRing([agentKey.publicKey]);

/** Records what the cluster writes, opened with the agent's key as the hub would. */
class RecordingLink implements ClusterLink {
  readonly reports: Report[] = [];
  readonly beats: string[] = [];
  /** While true, every report write fails, as when NATS is away. */
  down = false;

  async putReport(app: string, bytes: Uint8Array): Promise<void> {
    if (this.down) throw new Error("no responders");
    const report = open(REPORT, bytes, agentRing).message;
    if (report.app !== app) throw new Error(`report of ${report.app} written under ${app}`);
    this.reports.push(report);
  }

  /** Reports published without an acknowledgement (a burst's `sendBurst(false)`). */
  readonly published: Report[] = [];

  publishReport(app: string, bytes: Uint8Array): void {
    const report = open(REPORT, bytes, agentRing).message;
    if (report.app !== app) throw new Error(`report of ${report.app} published under ${app}`);
    this.published.push(report);
  }

  publishHeartbeat(bytes: Uint8Array): void {
    this.beats.push(open(HEARTBEAT, bytes, agentRing).message.cluster);
  }
}

const sha = (n: number) => n.toString(16).padStart(40, "a");

function desired(
  generation: number,
  options: { cluster?: string; app?: string; revision?: string; key?: typeof hubKey } = {},
) {
  return seal(
    DESIRED_STATE,
    {
      cluster: options.cluster ?? "c1",
      app: options.app ?? "web",
      generation,
      rolloutId: `r${generation}`,
      source: { repoUrl: "http://git.invalid/web.git", revision: options.revision ?? sha(generation) },
    },
    options.key ?? hubKey,
  );
}

function simulated(change: Partial<AgentBehaviour> = {}, verifyDesired = true) {
  const link = new RecordingLink();
  const counters = new FleetCounters();
  const behaviour = { ...DEFAULT_BEHAVIOUR, ...change };
  const cluster = new SimulatedCluster("c1", agentKey, link, {
    hubKeys: new KeyRing([hubKey.publicKey]),
    behaviour: () => behaviour,
    counters,
    verifyDesired,
  });
  return { cluster, link, counters };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("SimulatedCluster", () => {
  it("answers a desired state with a signed healthy report at its generation and revision", () => {
    const { cluster, link, counters } = simulated();
    cluster.onDesired("web", desired(3));
    expect(link.reports).toHaveLength(1);
    expect(link.reports[0]).toMatchObject({
      cluster: "c1",
      app: "web",
      revision: sha(3),
      rolloutId: "r3",
      phase: SyncPhase.SYNC_PHASE_SYNCED,
      health: Health.HEALTH_HEALTHY,
    });
    expect(Number(link.reports[0]!.observedGeneration)).toBe(3);
    expect(cluster.progress("web")).toMatchObject({ generation: 3, health: Health.HEALTH_HEALTHY });
    expect(counters.snapshot()).toMatchObject({ desiredAccepted: 1, reportsSent: 1 });
  });

  it("refuses states not signed by the hub or meant for another cluster, and reports nothing", () => {
    const { cluster, link, counters } = simulated();
    cluster.onDesired("web", desired(1, { key: generateSigningKey() }));
    cluster.onDesired("web", desired(2, { cluster: "c2" }));
    cluster.onDesired("other", desired(3));
    expect(link.reports).toHaveLength(0);
    expect(counters.desiredRefused).toBe(3);
  });

  it("without signature checks still refuses untrusted key ids, other types, clusters and apps, and older generations", () => {
    const { cluster, link, counters } = simulated({}, false);
    cluster.onDesired("web", desired(1, { key: generateSigningKey() }));
    cluster.onDesired("web", desired(2, { cluster: "c2" }));
    cluster.onDesired("other", desired(3));
    cluster.onDesired("web", seal(HEARTBEAT, { cluster: "c1", agentVersion: "x", sentAtMs: 1 }, hubKey));
    expect(counters.desiredRefused).toBe(4);
    cluster.onDesired("web", desired(5));
    cluster.onDesired("web", desired(4));
    expect(link.reports).toHaveLength(1);
    expect(Number(link.reports[0]!.observedGeneration)).toBe(5);
    expect(counters.snapshot()).toMatchObject({ desiredAccepted: 1, generationRegressions: 1, reportsSent: 1 });
  });

  it("keeps a report the bucket did not take and sends it again with the next heartbeat, as the real agent does", async () => {
    const { cluster, link, counters } = simulated();
    link.down = true;
    cluster.onDesired("web", desired(7));
    await vi.waitFor(() => expect(counters.reportFailures).toBe(1));
    expect(link.reports).toHaveLength(0);
    link.down = false;
    cluster.heartbeat();
    await vi.waitFor(() => expect(link.reports).toHaveLength(1));
    expect(Number(link.reports[0]!.observedGeneration)).toBe(7);
    expect(link.reports[0]!.phase).toBe(SyncPhase.SYNC_PHASE_SYNCED);
    // Sent once: the next heartbeat sends nothing more.
    cluster.heartbeat();
    await new Promise((r) => setTimeout(r, 10));
    expect(link.reports).toHaveLength(1);
  });

  it("counts a generation going backwards, and ignores the same generation again", () => {
    const { cluster, link, counters } = simulated();
    cluster.onDesired("web", desired(5));
    cluster.onDesired("web", desired(5));
    cluster.onDesired("web", desired(4));
    expect(link.reports).toHaveLength(1);
    expect(counters.generationRegressions).toBe(1);
    expect(cluster.progress("web")?.generation).toBe(5);
  });

  it("sends work phases over the delay; a newer state cancels what is left of the older", () => {
    vi.useFakeTimers();
    const { cluster, link } = simulated({ reportsPerRevision: 5, reportDelayMs: 1000 });
    cluster.onDesired("web", desired(1));
    vi.advanceTimersByTime(500);
    expect(link.reports.map((r) => r.phase)).toEqual([
      SyncPhase.SYNC_PHASE_FETCHING,
      SyncPhase.SYNC_PHASE_RENDERING,
      SyncPhase.SYNC_PHASE_VALIDATING,
    ]);
    cluster.onDesired("web", desired(2));
    vi.advanceTimersByTime(2000);
    const gen1 = link.reports.filter((r) => Number(r.observedGeneration) === 1);
    const gen2 = link.reports.filter((r) => Number(r.observedGeneration) === 2);
    expect(gen1).toHaveLength(3);
    expect(gen2.map((r) => r.phase)).toEqual([
      SyncPhase.SYNC_PHASE_FETCHING,
      SyncPhase.SYNC_PHASE_RENDERING,
      SyncPhase.SYNC_PHASE_VALIDATING,
      SyncPhase.SYNC_PHASE_APPLYING,
      SyncPhase.SYNC_PHASE_SYNCED,
    ]);
  });

  it("fails a revision when the ratio says so", () => {
    const { cluster, link } = simulated({ failureRatio: 1 });
    cluster.onDesired("web", desired(1));
    expect(link.reports[0]).toMatchObject({ phase: SyncPhase.SYNC_PHASE_FAILED, health: Health.HEALTH_DEGRADED });
  });

  it("sends its report sequence again for the same revision, and beats with its own key", () => {
    vi.useFakeTimers();
    const { cluster, link } = simulated();
    cluster.onDesired("web", desired(1));
    vi.advanceTimersByTime(10);
    cluster.reportAgain();
    expect(link.reports).toHaveLength(2);
    expect(link.reports[1]!.phase).toBe(SyncPhase.SYNC_PHASE_SYNCED);
    expect(Number(link.reports[1]!.reportedAtMs)).toBeGreaterThan(Number(link.reports[0]!.reportedAtMs));
    cluster.reportAgain(3);
    expect(link.reports.slice(2).map((r) => [Number(r.observedGeneration), r.phase, r.health])).toEqual([
      [1, SyncPhase.SYNC_PHASE_VALIDATING, Health.HEALTH_HEALTHY],
      [1, SyncPhase.SYNC_PHASE_APPLYING, Health.HEALTH_HEALTHY],
      [1, SyncPhase.SYNC_PHASE_SYNCED, Health.HEALTH_HEALTHY],
    ]);
    cluster.heartbeat();
    expect(link.beats).toEqual(["c1"]);
  });

  it("publishes work-phase reports without an acknowledgement when told, and writes the verdict", () => {
    vi.useFakeTimers();
    const { cluster, link } = simulated({ reportsPerRevision: 5, ackWorkReports: false });
    cluster.onDesired("web", desired(1));
    vi.advanceTimersByTime(10);
    expect(link.published.map((r) => r.phase)).toEqual([
      SyncPhase.SYNC_PHASE_FETCHING,
      SyncPhase.SYNC_PHASE_RENDERING,
      SyncPhase.SYNC_PHASE_VALIDATING,
      SyncPhase.SYNC_PHASE_APPLYING,
    ]);
    expect(link.reports.map((r) => r.phase)).toEqual([SyncPhase.SYNC_PHASE_SYNCED]);
  });

  it("seals a burst first and sends it later, acknowledged or not", () => {
    vi.useFakeTimers();
    const { cluster, link } = simulated();
    cluster.onDesired("web", desired(1));
    cluster.onDesired("api", desired(2, { app: "api" }));
    vi.advanceTimersByTime(10);
    const before = link.reports.length;
    expect(cluster.prepareBurst(2)).toBe(4);
    expect(link.reports).toHaveLength(before);
    cluster.sendBurst(false);
    expect(link.reports).toHaveLength(before);
    expect(link.published.map((r) => [r.app, Number(r.observedGeneration), r.phase])).toEqual([
      ["web", 1, SyncPhase.SYNC_PHASE_APPLYING],
      ["web", 1, SyncPhase.SYNC_PHASE_SYNCED],
      ["api", 2, SyncPhase.SYNC_PHASE_APPLYING],
      ["api", 2, SyncPhase.SYNC_PHASE_SYNCED],
    ]);
    // Sent once: a second send has nothing left; an acknowledged burst goes through the status bucket.
    cluster.sendBurst(false);
    expect(link.published).toHaveLength(4);
    cluster.prepareBurst(1);
    cluster.sendBurst();
    expect(link.reports.slice(before).map((r) => r.app)).toEqual(["web", "api"]);
  });
});
