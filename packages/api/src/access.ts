/**
 * Who may call what: the roles a token carries, the resources operations act on, and what each
 * role may do to each resource. Every operation of `operations.ts` declares its {@link Scope}
 * (or {@link PUBLIC_SCOPE}); the hub enforces it in one hook, `/openapi.json` documents it as
 * `x-flotilla-scope`, and the README's permission table is checked against it.
 */
import type { Kind } from "./resources.js";

/** The roles a token can carry. */
export const ROLES = ["admin", "member", "viewer"] as const;
export type Role = (typeof ROLES)[number];

/**
 * What operations act on. `hub` is the hub itself and the caller's own token; `fleet` is fleet
 * status (summaries and the event stream); `apply` is a multi-document apply, whose documents
 * are each checked as a write of their own kind; `receivers` are where notifications go; `keys`
 * are the hub's signing keys (their public set, and rotating them).
 */
export const RESOURCES = [
  "hub",
  "fleet",
  "clusters",
  "teams",
  "environments",
  "repos",
  "apps",
  "rollouts",
  "apply",
  "tokens",
  "audit",
  "receivers",
  "keys",
] as const;
export type Resource = (typeof RESOURCES)[number];

/** Reading, or changing (create, replace, delete, a rollout command, minting a token). */
export const ACTIONS = ["read", "write"] as const;
export type Action = (typeof ACTIONS)[number];

/**
 * How far a role reaches on a resource: `all` objects, only its `team`'s objects (a token
 * without a team reaches all), or `none`.
 */
export type Reach = "all" | "team" | "none";

/**
 * The kinds of object an operation can name. Teams own themselves; repos are owned by their team,
 * apps by their repo's team, rollouts by their app's; clusters, environments, tokens and
 * notification receivers by none.
 */
export const OBJECT_KINDS = ["Cluster", "Team", "Repo", "App", "Environment", "Rollout", "Token", "Receiver"] as const;
export type ObjectKind = (typeof OBJECT_KINDS)[number];

/**
 * Where a request names an object: a path parameter, a body field, a query parameter or (in an
 * applied document) a dotted path such as `spec.team`; and what kind of object the name is.
 */
export interface NameRef {
  in: "params" | "body" | "query" | "document";
  field: string;
  kind: ObjectKind;
}

/** What an operation needs of the token that calls it. */
export interface Scope {
  action: Action;
  resource: Resource;
  /**
   * The object the operation acts on, for the team check and the audit trail: a name in the
   * request, and what kind of object it names. A list operation has none: its answer holds
   * only what the token may read.
   */
  object?: NameRef;
  /**
   * Further names whose team must be the token's as well: a new repo's `team`, the repo a new or
   * moved app reads.
   */
  also?: readonly NameRef[];
  /** A multi-document apply: each document is checked as a write of its own kind. */
  documents?: true;
}

/** The scope of an operation that needs no token: probes, metrics, signed webhooks. */
export const PUBLIC_SCOPE = "public";
export type OperationScope = Scope | typeof PUBLIC_SCOPE;

/**
 * What each role may do to each resource, before the team check. `member` needs a team; a
 * `viewer` may have one (then it reads only that team's repos, apps, rollouts and audit
 * entries). Nobody writes `hub`, `fleet` or `audit`; only the hub does.
 */
export const PERMISSIONS: Readonly<Record<Role, Readonly<Record<Resource, Readonly<Record<Action, Reach>>>>>> = {
  admin: {
    hub: { read: "all", write: "none" },
    fleet: { read: "all", write: "none" },
    clusters: { read: "all", write: "all" },
    teams: { read: "all", write: "all" },
    environments: { read: "all", write: "all" },
    repos: { read: "all", write: "all" },
    apps: { read: "all", write: "all" },
    rollouts: { read: "all", write: "all" },
    apply: { read: "none", write: "all" },
    tokens: { read: "all", write: "all" },
    audit: { read: "all", write: "none" },
    receivers: { read: "all", write: "all" },
    keys: { read: "all", write: "all" },
  },
  member: {
    hub: { read: "all", write: "none" },
    fleet: { read: "all", write: "none" },
    clusters: { read: "all", write: "none" },
    teams: { read: "all", write: "none" },
    environments: { read: "all", write: "none" },
    repos: { read: "team", write: "team" },
    apps: { read: "team", write: "team" },
    rollouts: { read: "team", write: "team" },
    apply: { read: "none", write: "team" },
    tokens: { read: "none", write: "none" },
    audit: { read: "team", write: "none" },
    receivers: { read: "none", write: "none" },
    keys: { read: "all", write: "none" },
  },
  viewer: {
    hub: { read: "all", write: "none" },
    fleet: { read: "all", write: "none" },
    clusters: { read: "all", write: "none" },
    teams: { read: "all", write: "none" },
    environments: { read: "all", write: "none" },
    repos: { read: "team", write: "none" },
    apps: { read: "team", write: "none" },
    rollouts: { read: "team", write: "none" },
    apply: { read: "none", write: "none" },
    tokens: { read: "none", write: "none" },
    audit: { read: "team", write: "none" },
    receivers: { read: "none", write: "none" },
    keys: { read: "all", write: "none" },
  },
};

const inDocument = (field: string, kind: ObjectKind): NameRef => ({ in: "document", field, kind });

/**
 * The scope of each document of `POST /v1/apply`: the same as the operation that writes that kind
 * alone, so an apply can do nothing its documents' own operations could not.
 */
export const DOCUMENT_SCOPES: Readonly<Record<Kind, Scope>> = {
  Cluster: { action: "write", resource: "clusters", object: inDocument("metadata.name", "Cluster") },
  Team: { action: "write", resource: "teams", object: inDocument("metadata.name", "Team") },
  Environment: { action: "write", resource: "environments", object: inDocument("metadata.name", "Environment") },
  Repo: {
    action: "write",
    resource: "repos",
    object: inDocument("metadata.name", "Repo"),
    also: [inDocument("spec.team", "Team")],
  },
  App: {
    action: "write",
    resource: "apps",
    object: inDocument("metadata.name", "App"),
    also: [inDocument("spec.repo", "Repo")],
  },
  // As `PUT /v1/receivers/{name}`: receivers belong to no team.
  Receiver: { action: "write", resource: "receivers" },
};

/** The scope as one word for documents and messages: `read:repos`, `write:clusters`, `public`. */
export function scopeName(scope: OperationScope): string {
  return scope === PUBLIC_SCOPE ? PUBLIC_SCOPE : `${scope.action}:${scope.resource}`;
}

/** What a role may do to a resource, as the permission table says it. */
export function reachOf(role: Role, scope: Scope): Reach {
  return PERMISSIONS[role][scope.resource][scope.action];
}
