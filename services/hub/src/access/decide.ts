/**
 * Whether a token may make a request: pure functions of the token's principal, the operation's
 * scope (from `@flotilla/api`) and the teams of the objects the request names. The API's access
 * hook gathers those teams and asks; nothing here does I/O.
 *
 * Rules (the table is `PERMISSIONS` in `@flotilla/api`):
 * 1. A role reaches a resource for an action `all`, `team` or `none`; `none` refuses.
 * 2. `team` reach with a token that has a team: every object the request names that exists (a
 *    repo, app or rollout, by its owning team) and every team it names must be the token's team.
 *    A named object that does not exist yet is not checked (a create, or a 404 to come); one
 *    whose team cannot be found is refused.
 * 3. `team` reach with a token without a team (an unscoped viewer) reaches all.
 */
import { type NameRef, type ObjectKind, ROLES, reachOf, type Scope } from "@flotilla/api";
import { describePrincipal, type Principal } from "./principal.js";

/** What the hub found about one name a request carries. */
export interface OwnerFact {
  ref: NameRef;
  name: string;
  /** Whether the named object exists now (a team named as an owner counts as existing). */
  exists: boolean;
  /** The team that owns it: the name itself for a team; undefined when none can be found. */
  team: string | undefined;
}

export type Decision = { allowed: true } | { allowed: false; reason: string };

const ALLOWED: Decision = { allowed: true };

const VERB = { read: "read", write: "change" } as const;

const NOUN: Record<ObjectKind, string> = {
  Cluster: "cluster",
  Team: "team",
  Repo: "repo",
  App: "app",
  Environment: "environment",
  Rollout: "rollout",
  Token: "token",
  Receiver: "receiver",
};

/** Who may do what `scope` asks, in words: `an admin token, or a member token of its team`. */
function whoMay(scope: Scope): string {
  const all = ROLES.filter((r) => reachOf(r, scope) === "all");
  const team = ROLES.filter((r) => reachOf(r, scope) === "team");
  const parts = [
    ...all.map((r) => `${r === "admin" ? "an" : "a"} ${r} token`),
    ...team.map((r) => `a ${r} token of its team`),
  ];
  return parts.join(", or ");
}

/** Rule 1: whether the token's role reaches the scope's resource for its action at all. */
export function decideRole(p: Principal, scope: Scope): Decision {
  if (reachOf(p.role, scope) !== "none") return ALLOWED;
  return {
    allowed: false,
    reason: `${describePrincipal(p)} may not ${VERB[scope.action]} ${scope.resource}: that needs ${whoMay(scope)}`,
  };
}

/**
 * Rules 2 and 3: whether every object the request names belongs to the token's team. `target`
 * is the name of the object the operation acts on, for the message.
 */
export function decideOwners(p: Principal, scope: Scope, facts: readonly OwnerFact[], target?: string): Decision {
  if (reachOf(p.role, scope) !== "team" || p.team === undefined) return ALLOWED;
  const object = scope.object;
  const acting = object && target !== undefined ? `${NOUN[object.kind]} ${JSON.stringify(target)}` : scope.resource;
  for (const fact of facts) {
    if (!fact.exists || fact.team === p.team) continue;
    const why =
      fact.team === undefined
        ? `the team of ${NOUN[fact.ref.kind]} ${JSON.stringify(fact.name)} cannot be found`
        : fact.ref === object
          ? fact.ref.kind === "Team"
            ? "a token of a team reaches only its own team"
            : `it belongs to team ${JSON.stringify(fact.team)}`
          : fact.ref.kind === "Team"
            ? `its team would be ${JSON.stringify(fact.team)}`
            : `${NOUN[fact.ref.kind]} ${JSON.stringify(fact.name)} belongs to team ${JSON.stringify(fact.team)}`;
    return { allowed: false, reason: `${describePrincipal(p)} may not ${VERB[scope.action]} ${acting}: ${why}` };
  }
  return ALLOWED;
}

/**
 * The team whose objects a list answer must be limited to, or undefined when the token reads
 * every team's (an admin, an unscoped viewer, or a resource every role reads whole).
 */
export function listedTeam(p: Principal, scope: Scope): string | undefined {
  return reachOf(p.role, scope) === "team" ? p.team : undefined;
}
