import { readFileSync } from "node:fs";
import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** The hub's version, from its package.json (one level up from both src/ and dist/). */
export function hubVersion(): string {
  return (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
}

/**
 * `flotilla_build_info{component,version,commit}`, always 1, as Prometheus' own build_info: the
 * commit comes from FLOTILLA_BUILD_COMMIT (set where the image is built), else "unknown".
 */
export function buildInfoGauge(registry: Registry, component: string, version: string): Gauge<string> {
  const gauge = new Gauge({
    name: "flotilla_build_info",
    help: "Always 1: the component's version and the commit it was built from.",
    labelNames: ["component", "version", "commit"] as const,
    registers: [registry],
  });
  gauge.set({ component, version, commit: process.env.FLOTILLA_BUILD_COMMIT || "unknown" }, 1);
  return gauge;
}

/** Every metric the hub exports, `flotilla_hub_*`, in a registry of its own per hub instance. */
export class HubMetrics {
  readonly registry = new Registry();

  /** 1, labelled with the hub's version and the commit it was built from (FLOTILLA_BUILD_COMMIT). */
  readonly buildInfo = buildInfoGauge(this.registry, "hub", hubVersion());

  readonly clusters = new Gauge({
    name: "flotilla_hub_clusters",
    help: "Registered clusters by state (Pending, Ready, Offline), counted at most every 15 s.",
    labelNames: ["state"] as const,
    registers: [this.registry],
  });
  readonly clusterState = new Gauge({
    name: "flotilla_cluster_state",
    help: '1 for each cluster\'s current state (Pending, Ready, Offline), 0 for the others: alert on state="Offline" == 1. Counted at most every 15 s.',
    labelNames: ["cluster", "state"] as const,
    registers: [this.registry],
  });
  readonly appInfo = new Gauge({
    name: "flotilla_app_info",
    help: "1 per (cluster, app) the hub published, labelled with the last report's sync phase, health and revision (short), and whether it is current. At most 10000 series (then flotilla_app_info_truncated is 1); counted at most every 15 s.",
    labelNames: ["cluster", "app", "environment", "sync", "health", "revision", "current"] as const,
    registers: [this.registry],
  });
  readonly appInfoTruncated = new Gauge({
    name: "flotilla_app_info_truncated",
    help: "1 when the fleet has more (cluster, app) pairs than flotilla_app_info shows (10000), else 0.",
    registers: [this.registry],
  });
  readonly hubKeySetVersion = new Gauge({
    name: "flotilla_hub_key_set_version",
    help: "Version of the hub signing-key set this replica signs by; it grows by one at a rotation's start and by two at its finish.",
    registers: [this.registry],
  });
  readonly hubKeySetClusters = new Gauge({
    name: "flotilla_hub_key_set_clusters",
    help: 'Registered clusters by the hub key set version their last heartbeat said they hold (version="unknown": none said). Counted at most every 15 s.',
    labelNames: ["version"] as const,
    registers: [this.registry],
  });
  readonly hubKeySetAnnounced = new Counter({
    name: "flotilla_hub_key_set_announced_total",
    help: "Hub key sets the leader wrote to clusters' keys in the desired bucket.",
    registers: [this.registry],
  });
  readonly natsConnected = new Gauge({
    name: "flotilla_hub_nats_connected",
    help: "1 while this replica is connected to NATS, 0 while it is cut off.",
    registers: [this.registry],
  });
  readonly reportsIngested = new Counter({
    name: "flotilla_hub_reports_ingested_total",
    help: "Agent reports verified and stored.",
    registers: [this.registry],
  });
  readonly reportsRejected = new Counter({
    name: "flotilla_hub_reports_rejected_total",
    help: "Agent reports dropped: bad signature, unknown cluster, cluster mismatch, malformed.",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly heartbeats = new Counter({
    name: "flotilla_hub_heartbeats_total",
    help: "Heartbeats received, by result (accepted or the reason they were dropped).",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly credsRenewals = new Counter({
    name: "flotilla_hub_creds_renewals_total",
    help: "Agents' NATS credentials requests, by result (renewed, rotated, rotate_asked, shed when dropped unanswered after waiting too long, superseded when a newer request of the same cluster replaced it while it waited, queue_full when too many clusters were waiting, or why refused).",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly wideStatusGrants = new Counter({
    name: "flotilla_hub_wide_status_grants_total",
    help:
      "Agent NATS JWTs minted for a cluster with more assigned apps than a JWT lists (200): they grant every status " +
      "key under the cluster's name, not one per app.",
    registers: [this.registry],
  });
  readonly credsAssignmentRenewals = new Counter({
    name: "flotilla_hub_creds_assignment_renewals_total",
    help:
      "Credentials renewals an agent asked for because its JWT lacked the status key of an app it holds a desired " +
      "state for (a new assignment), by result: granted, or not_assigned when the hub did not assign some of them.",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly registrations = new Counter({
    name: "flotilla_hub_registrations_total",
    help: "Agents' registrations with a registration token, by result (registered, refused, bad_request, error).",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly desiredPublished = new Counter({
    name: "flotilla_hub_desired_states_published_total",
    help: "Signed desired states written to the flotilla_desired bucket.",
    registers: [this.registry],
  });
  readonly gitPollDuration = new Histogram({
    name: "flotilla_hub_git_poll_duration_seconds",
    help: "Time to list a repo's branch heads from its Git server, by repo.",
    labelNames: ["repo"] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly gitPollErrors = new Counter({
    name: "flotilla_hub_git_poll_errors_total",
    help: "Git polls that failed (server down, auth refused, branch missing), by repo.",
    labelNames: ["repo"] as const,
    registers: [this.registry],
  });
  readonly webhookDeliveries = new Counter({
    name: "flotilla_hub_webhook_deliveries_total",
    help: "Webhook deliveries by result (accepted, bad_signature, unknown_repo).",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly apiDuration = new Histogram({
    name: "flotilla_hub_api_request_duration_seconds",
    help: "HTTP API request duration by method, route and status code.",
    labelNames: ["method", "route", "status"] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly rolloutWaveDuration = new Histogram({
    name: "flotilla_rollout_wave_duration_seconds",
    help: "Rollout wave start (after any approval) to complete (after its bake), by environment.",
    labelNames: ["environment"] as const,
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600],
    registers: [this.registry],
  });
  readonly commitToConverged = new Histogram({
    name: "flotilla_commit_to_converged_seconds",
    help: "Commit (as detected by the hub) to every wave of its rollout complete, by environment.",
    labelNames: ["environment"] as const,
    buckets: [5, 15, 30, 60, 120, 300, 600, 1200, 3600, 7200],
    registers: [this.registry],
  });
  readonly rolloutsEnded = new Counter({
    name: "flotilla_rollouts_total",
    help: "Rollouts that ended, by final state (Succeeded, Failed, RolledBack, Superseded).",
    labelNames: ["state"] as const,
    registers: [this.registry],
  });
  readonly rollouts = new Gauge({
    name: "flotilla_rollouts",
    help: "Unsettled rollouts by state, counted at most every 15 s (ended ones: flotilla_rollouts_total).",
    labelNames: ["state"] as const,
    registers: [this.registry],
  });
  readonly notifications = new Counter({
    name: "flotilla_hub_notifications_total",
    help: "Notification deliveries by receiver and outcome (delivered, or failed after every retry).",
    labelNames: ["receiver", "outcome"] as const,
    registers: [this.registry],
  });
  readonly authRefusals = new Counter({
    name: "flotilla_hub_api_auth_refusals_total",
    help: "API requests refused by access control, by status (401 bad token, 403 scope, 429 throttled).",
    labelNames: ["status"] as const,
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: "flotilla_hub_leader",
    help: "1 while this replica holds the leader lease.",
    registers: [this.registry],
  });
}
