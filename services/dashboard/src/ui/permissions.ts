/**
 * Which steering buttons a session sees: the role's reach on rollouts from `@flotilla/api`'s
 * permission table (the one the hub enforces), the team of the rollout's app, and the commands
 * the rollout's state allows. The hub refuses anything else anyway; hiding keeps the page honest.
 */
import { type Identity, type RolloutCommand, type RolloutView, reachOf } from "@flotilla/api";

/** Whether this identity may write `resource` of an app owned by `team`. */
function mayWrite(identity: Identity | null, resource: "rollouts" | "apps", team: string | undefined): boolean {
  if (!identity) return false;
  const reach = reachOf(identity.role, { action: "write", resource });
  if (reach === "all") return true;
  if (reach === "none") return false;
  return identity.team === undefined || identity.team === team;
}

/** Whether this identity may steer a rollout of an app owned by `team`. */
export function maySteer(identity: Identity | null, team: string | undefined): boolean {
  return mayWrite(identity, "rollouts", team);
}

/** Whether this identity may ask the agents of an app owned by `team` to reconcile it now (`refreshApp`). */
export function mayRefresh(identity: Identity | null, team: string | undefined): boolean {
  return mayWrite(identity, "apps", team);
}

/** What a refresh does, for its confirmation. */
export const REFRESH_TEXT =
  "Ask the agent of every cluster the app is published to to render, apply, prune and report it now. Nothing changes on the hub.";

/** The commands the rollout's state allows, in the order the page shows them. */
export function commandsFor(r: RolloutView): RolloutCommand[] {
  const awaiting = r.waves.some((w) => w.status === "awaiting-approval");
  if (r.state !== "Pending" && r.state !== "Progressing" && r.state !== "Paused") {
    // An ended rollout takes no command; a new rollout (a commit, or a revert) moves on from it.
    return [];
  }
  return [
    ...(awaiting ? (["promote"] as const) : []),
    r.state === "Paused" ? "resume" : "pause",
    "abort",
    ...(r.from ? (["rollback"] as const) : []),
  ];
}

/** What each command does, for its confirmation. */
export const COMMAND_TEXT: Record<RolloutCommand, string> = {
  promote: "Approve the wave that waits for approval, so it starts now.",
  pause: "Stop starting new writes until the rollout is resumed.",
  resume: "Let the paused rollout go on.",
  abort: "End the rollout here; clusters keep what they have.",
  rollback: "Roll every cluster this rollout touched back to the last good target.",
  override: "Let the rollout go on through the window or freeze that holds it (recorded in the audit trail).",
};
