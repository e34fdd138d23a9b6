/** What a simulated fleet has seen and sent, counted since it started. */
export interface FleetCounts {
  /** Desired states acted on (newer than the last one of their key). */
  desiredAccepted: number;
  /** Desired states refused: bad signature, wrong cluster or app, undecodable. */
  desiredRefused: number;
  /** Desired states older than one already acted on for the same key: the hub wrote a generation backwards. */
  generationRegressions: number;
  reportsSent: number;
  /** Reports the status bucket did not take. */
  reportFailures: number;
  heartbeatsSent: number;
  /**
   * Longest a heartbeat tick of the fleet ran late (its process was busy): beats that late are
   * real silence to the hub, not a hub that fell behind.
   */
  heartbeatLateMaxMs: number;
}

/** Desired states accepted since {@link FleetCounters.openWindow}, and when the first and last came. */
export interface DesiredWindow {
  count: number;
  firstAtMs?: number;
  lastAtMs?: number;
}

/** Mutable counters the simulated clusters of one fleet share. */
export class FleetCounters implements FleetCounts {
  desiredAccepted = 0;
  desiredRefused = 0;
  generationRegressions = 0;
  reportsSent = 0;
  reportFailures = 0;
  heartbeatsSent = 0;
  heartbeatLateMaxMs = 0;
  #window: DesiredWindow = { count: 0 };

  noteDesired(): void {
    this.desiredAccepted++;
    const now = Date.now();
    this.#window.count++;
    this.#window.firstAtMs ??= now;
    this.#window.lastAtMs = now;
  }

  /** Starts counting desired states afresh, e.g. before a rollout, to measure its write rate. */
  openWindow(): void {
    this.#window = { count: 0 };
  }

  get window(): DesiredWindow {
    return { ...this.#window };
  }

  snapshot(): FleetCounts {
    return {
      desiredAccepted: this.desiredAccepted,
      desiredRefused: this.desiredRefused,
      generationRegressions: this.generationRegressions,
      reportsSent: this.reportsSent,
      reportFailures: this.reportFailures,
      heartbeatsSent: this.heartbeatsSent,
      heartbeatLateMaxMs: this.heartbeatLateMaxMs,
    };
  }
}
