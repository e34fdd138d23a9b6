/**
 * The pure part of notifications: which hub events are worth telling (and as what), which
 * receivers a notification is routed to, how a webhook body is signed, and what a Slack
 * message says. No I/O; the notifier (`notifier.ts`) delivers.
 */
import { createHmac } from "node:crypto";
import type { HubEvent, Notification, NotificationEvent, Receiver } from "@flotilla/api";

/**
 * The notification a hub event makes, or undefined when it makes none. `teamOf` gives an app's
 * team (undefined when the app is gone).
 */
export function notificationOf(
  event: HubEvent,
  id: string,
  teamOf: (app: string) => string | undefined,
  /** For a report: whether it starts a drift episode (see DriftEpisodes), and the cluster's environment. */
  drift?: { starts: boolean; environment?: string },
): Notification | undefined {
  if (event.type === "report") {
    if (!drift?.starts) return undefined;
    const team = teamOf(event.app);
    return {
      id,
      event: "drift-detected",
      atMs: event.atMs,
      app: event.app,
      ...(team ? { team } : {}),
      ...(drift.environment ? { environment: drift.environment } : {}),
      cluster: event.cluster,
      revision: event.revision,
      message: `${event.app} on ${event.cluster}: live objects differ from Git (see 'flotilla app diff ${event.app}')`,
    };
  }
  if (event.type === "cluster-state") {
    if (event.state !== "Offline" || event.previous === "Offline") return undefined;
    return {
      id,
      event: "cluster-offline",
      atMs: event.atMs,
      cluster: event.cluster,
      message: `cluster ${event.cluster} went offline (was ${event.previous})`,
    };
  }
  if (event.type !== "rollout") return undefined;
  const kind = rolloutNotification(event.event, event.state);
  if (!kind) return undefined;
  const team = teamOf(event.app);
  return {
    id,
    event: kind,
    atMs: event.atMs,
    app: event.app,
    ...(team ? { team } : {}),
    environment: event.environment,
    rolloutId: event.rolloutId,
    ...(event.revision ? { revision: event.revision } : {}),
    ...(event.cluster ? { cluster: event.cluster } : {}),
    message: `${event.app} in ${event.environment}: ${event.message ?? event.event} (rollout ${event.rolloutId}, ${event.state})`,
  };
}

/** The phase an agent reports while an app's live objects differ from what it applied. */
export const DRIFT_PHASE = "out_of_sync";

/**
 * Tells drift episodes apart, so a receiver hears of a drift once, not every time the agent
 * reports it again (every drift check, 30 s by default): an episode of a (cluster, app) starts
 * with its first drifted report and ends with the first report in another phase (re-applied,
 * self-healed, or a new revision on its way).
 */
export class DriftEpisodes {
  readonly #drifted = new Set<string>();

  /** Whether a report of `phase` for (cluster, app) starts a drift episode. */
  observe(cluster: string, app: string, phase: string): boolean {
    const key = `${cluster}\u0000${app}`;
    if (phase !== DRIFT_PHASE) {
      this.#drifted.delete(key);
      return false;
    }
    if (this.#drifted.has(key)) return false;
    this.#drifted.add(key);
    return true;
  }
}

/** The notification of an engine event of a rollout, by its kind and the rollout's state after it. */
function rolloutNotification(kind: string, state: string): NotificationEvent | undefined {
  switch (kind) {
    case "Created":
      return "rollout-started";
    case "WaveCompleted":
      return "wave-passed";
    case "RolloutSucceeded":
      return "rollout-succeeded";
    case "RolloutFailed":
      return state === "RolledBack" ? "rollout-rolled-back" : "rollout-failed";
    default:
      return undefined;
  }
}

/**
 * Whether `receiver`'s route takes `n`: its events (all when unset), and for a notification
 * about an app, its teams and environments (all when unset). A cluster notification names no
 * team or environment: a route limited to teams or environments does not take it.
 */
export function routes(receiver: Pick<Receiver, "events" | "teams" | "environments">, n: Notification): boolean {
  if (receiver.events && !receiver.events.includes(n.event)) return false;
  if (receiver.teams && !(n.team !== undefined && receiver.teams.includes(n.team))) return false;
  if (receiver.environments && !(n.environment !== undefined && receiver.environments.includes(n.environment))) {
    return false;
  }
  return true;
}

/** The value of the signature header: `sha256=` and the hex HMAC-SHA256 of the exact body bytes. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** The body of a Slack-compatible incoming webhook call. */
export function slackBody(n: Notification): { text: string } {
  const icon =
    n.event === "rollout-succeeded" || n.event === "wave-passed"
      ? ":white_check_mark:"
      : n.event === "rollout-started"
        ? ":rocket:"
        : ":rotating_light:";
  return { text: `${icon} *${n.event}* ${n.message}` };
}
