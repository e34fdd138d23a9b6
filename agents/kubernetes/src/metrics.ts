import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** The agent's Prometheus metrics, on a registry of its own so several agents can share a process. */
export class AgentMetrics {
  readonly registry = new Registry();

  /**
   * `flotilla_build_info{component="agent",version,commit}`, always 1, as the hub's: the commit
   * from FLOTILLA_BUILD_COMMIT (set where the image is built), else "unknown".
   */
  readonly buildInfo = new Gauge({
    name: "flotilla_build_info",
    help: "Always 1: the component's version and the commit it was built from.",
    labelNames: ["component", "version", "commit"] as const,
    registers: [this.registry],
  });

  constructor(version = "unknown") {
    this.buildInfo.set({ component: "agent", version, commit: process.env.FLOTILLA_BUILD_COMMIT || "unknown" }, 1);
  }

  /** Seconds per reconcile phase (fetch, render, validate, apply, prune, total). */
  readonly reconcileDuration = new Histogram({
    name: "flotilla_agent_reconcile_duration_seconds",
    help: "Duration of reconcile phases",
    labelNames: ["app", "phase"] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });

  readonly credsRenewals = new Counter({
    name: "flotilla_agent_creds_renewals_total",
    help:
      "NATS credentials renewals, by reason (expiry: half way through the JWT's life; assignment: the JWT lacked " +
      "the status key of a newly assigned app) and result (renewed, rotated, failed)",
    labelNames: ["reason", "result"] as const,
    registers: [this.registry],
  });

  readonly applies = new Counter({
    name: "flotilla_agent_applies_total",
    help: "Objects applied with server-side apply",
    labelNames: ["app"] as const,
    registers: [this.registry],
  });

  readonly prunes = new Counter({
    name: "flotilla_agent_prunes_total",
    help: "Objects deleted because the new revision dropped them",
    labelNames: ["app"] as const,
    registers: [this.registry],
  });

  readonly driftDetected = new Counter({
    name: "flotilla_agent_drift_detected_total",
    help: "Drift checks that found live objects differing from what was applied",
    labelNames: ["app"] as const,
    registers: [this.registry],
  });

  readonly driftCorrections = new Counter({
    name: "flotilla_agent_drift_corrections_total",
    help: "Re-applies made by self-heal after drift",
    labelNames: ["app"] as const,
    registers: [this.registry],
  });

  readonly rejected = new Counter({
    name: "flotilla_agent_rejected_desired_states_total",
    help: "Desired states refused (bad signature, stale generation, malformed, wrong cluster)",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });

  readonly errors = new Counter({
    name: "flotilla_agent_errors_total",
    help: "Failed reconciles by error code",
    labelNames: ["app", "code"] as const,
    registers: [this.registry],
  });

  readonly managedObjects = new Gauge({
    name: "flotilla_agent_managed_objects",
    help: "Objects in each app's inventory",
    labelNames: ["app"] as const,
    registers: [this.registry],
  });

  readonly hubKeySetVersion = new Gauge({
    name: "flotilla_agent_hub_key_set_version",
    help: "Version of the hub key set the agent trusts (0: its bootstrap bundle's key only)",
    registers: [this.registry],
  });

  readonly natsConnected = new Gauge({
    name: "flotilla_agent_nats_connected",
    help: "1 while the agent is connected to NATS, 0 while it is cut off",
    registers: [this.registry],
  });

  readonly lastReconcile = new Gauge({
    name: "flotilla_agent_last_reconcile_timestamp_seconds",
    help: "Unix time of the last finished reconcile",
    labelNames: ["app"] as const,
    registers: [this.registry],
  });
}
