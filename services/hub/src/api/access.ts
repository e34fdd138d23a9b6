/**
 * The API's access control, in three hooks over every route registered from `@flotilla/api`:
 *
 * - `onRequest`: authenticate the bearer token, or without an Authorization header the dashboard's
 *   session cookie (a write by cookie needs the CSRF header, else 403), (401 when unknown, expired or revoked; failed
 *   attempts are counted per client address by @fastify/rate-limit in Redis, and an address over
 *   the limit gets 429 whatever it sends), then check the operation's scope against the token's
 *   role, and the team of every object named in the path or query (403, one line naming what is
 *   missing). Nothing of the body is read before this.
 * - `preHandler`: check the teams of the objects the validated body names, and every document of
 *   an apply (all or nothing: 403 naming the document).
 * - `onSend`: record every write the hub answered 2xx, or refused with 403, in the audit trail.
 */
import {
  CSRF_HEADER,
  DOCUMENT_SCOPES,
  type NameRef,
  type ObjectKind,
  type OperationScope,
  PUBLIC_SCOPE,
  type Resource,
  SAFE_METHODS,
  type Scope,
  SESSION_COOKIE,
} from "@flotilla/api";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { decideOwners, decideRole, listedTeam, type OwnerFact } from "../access/decide.js";
import { type EventsTokens, isEventsToken } from "../access/events-token.js";
import type { DeclaredOwners, Ownership } from "../access/ownership.js";
import { actorOf, type Principal } from "../access/principal.js";
import type { TokenService } from "../access/tokens.js";
import { changeDigest } from "../audit/digest.js";
import type { AuditTrail } from "../audit/trail.js";
import { AuthError, ForbiddenError, TooManyRequestsError } from "../errors.js";
import { type ApplyDocument, parseApplyDocuments, where } from "../registry/apply.js";

/** A change a handler reports for the audit trail, when the request alone does not say it. */
export interface AuditRecord {
  kind?: ObjectKind;
  object?: string;
  team?: string;
  /** What the operation did, when it says more than its name (an apply's `created`). */
  detail?: string;
  /** The change, digested with its secrets replaced. */
  change: unknown;
}

/** What the access hooks found about a request, for its handler and the audit trail. */
export interface AccessState {
  /** The team of the object the operation acts on (or will create), when it has one. */
  team?: string;
  /** The documents of an apply, as parsed when their scopes were checked. */
  documents?: ApplyDocument[];
  /** What was refused, for the audit entry of a 403. */
  refused?: { kind?: ObjectKind; object?: string; team?: string };
  /** Set by a handler whose changes the request does not name (an apply, a minted token). */
  audit?: AuditRecord[];
}

declare module "fastify" {
  interface FastifyContextConfig {
    /** The operation's scope, from `@flotilla/api`. */
    scope?: OperationScope;
    /** The operation's id, the audit trail's `action`. */
    operationId?: string;
  }
  interface FastifyRequest {
    /** Who the request's token speaks for; set on every non-public route. */
    principal?: Principal;
    /** The token the principal was proved by (from the Authorization header or the session cookie). */
    bearer?: string;
    access?: AccessState;
  }
}

export interface AccessControlOptions {
  tokens: TokenService;
  /** Events tokens (`POST /v1/events/token`): they open `GET /v1/events` and nothing else. */
  eventsTokens: EventsTokens;
  ownership: Ownership;
  audit: AuditTrail;
  /** Counts failed authentications per client address; from @fastify/rate-limit's `createRateLimit`. */
  failures: (
    req: FastifyRequest,
    o?: { increment?: boolean },
  ) => Promise<{ isAllowed: boolean; isExceeded?: boolean; ttlInSeconds?: number }>;
}

/** The audit trail's kind for each resource an operation writes without naming an object. */
const RESOURCE_KIND: Partial<Record<Resource, ObjectKind>> = {
  clusters: "Cluster",
  teams: "Team",
  environments: "Environment",
  repos: "Repo",
  apps: "App",
  rollouts: "Rollout",
  tokens: "Token",
};

/**
 * The request's token: the Authorization header's bearer token, else the dashboard's session
 * cookie. A write that relies on the cookie must carry the CSRF header, which no other site's
 * page can send (see `@flotilla/api`'s session.ts).
 */
function bearerOf(req: FastifyRequest): string {
  const header = req.headers.authorization;
  if (header !== undefined) return header.startsWith("Bearer ") ? header.slice("Bearer ".length).trim() : "";
  // The event stream takes an events token in its URL, for a browser's EventSource; no other
  // token is ever taken from a URL, where proxies and histories keep it.
  const inUrl = (req.query as { access_token?: unknown } | undefined)?.access_token;
  if (req.routeOptions.config?.operationId === STREAM_EVENTS && typeof inUrl === "string" && inUrl !== "") {
    if (!isEventsToken(inUrl)) {
      throw new AuthError(
        "only an events token (POST /v1/events/token) may be sent in the URL; send others as a bearer token",
      );
    }
    return inUrl;
  }
  const cookie = req.cookies?.[SESSION_COOKIE] ?? "";
  if (cookie !== "" && !SAFE_METHODS.includes(req.method) && !req.headers[CSRF_HEADER]) {
    throw new ForbiddenError(
      `a change made with the dashboard's session cookie must carry the ${CSRF_HEADER} header; send the token as a bearer token instead, or use the dashboard`,
    );
  }
  return cookie;
}

/** The one operation an events token opens. */
const STREAM_EVENTS = "streamEvents";

/** The name a request carries at `ref`, if it carries one. */
function nameIn(req: FastifyRequest, ref: NameRef): string | undefined {
  const source =
    ref.in === "params" ? req.params : ref.in === "query" ? req.query : ref.in === "body" ? req.body : undefined;
  const value =
    source !== null && typeof source === "object" ? (source as Record<string, unknown>)[ref.field] : undefined;
  return typeof value === "string" ? value : undefined;
}

/** The name a document carries at a dotted path (`metadata.name`, `spec.team`). */
function nameInDocument(doc: ApplyDocument, ref: NameRef): string | undefined {
  let value: unknown = { metadata: { name: doc.name }, spec: doc.spec };
  for (const part of ref.field.split(".")) {
    value = value !== null && typeof value === "object" ? (value as Record<string, unknown>)[part] : undefined;
  }
  return typeof value === "string" ? value : undefined;
}

/** The kind of object an operation acts on, for the audit trail; none for an apply (its documents say). */
function kindOf(scope: Scope): ObjectKind | undefined {
  return scope.object?.kind ?? RESOURCE_KIND[scope.resource];
}

/** An object as the audit trail names it, its unknown parts left out. */
function named(kind: ObjectKind | undefined, object?: string, team?: string): NonNullable<AccessState["refused"]> {
  return { ...(kind ? { kind } : {}), ...(object ? { object } : {}), ...(team ? { team } : {}) };
}

function refsOf(scope: Scope): NameRef[] {
  return [...(scope.object ? [scope.object] : []), ...(scope.also ?? [])];
}

/** The team an audit entry files a change under: where the object goes, else where it was. */
function teamOfFacts(facts: readonly OwnerFact[], scope: Scope): string | undefined {
  const also = facts.find((f) => f.ref !== scope.object && f.team !== undefined);
  return also?.team ?? facts.find((f) => f.ref === scope.object)?.team;
}

/** A rollout command's name, the detail of its audit entry. */
const COMMAND: NameRef = { in: "params", field: "command", kind: "Rollout" };

/** Installs the access hooks on the root instance, before any route is registered. */
export function installAccessControl(app: FastifyInstance, o: AccessControlOptions): void {
  const refuse = (req: FastifyRequest, refused: AccessState["refused"], message: string): never => {
    req.access = { ...req.access, refused };
    throw new ForbiddenError(message);
  };

  /** Checks the facts of `refs` for `scope`, throwing 403 when one belongs to another team. */
  const checkOwners = async (
    req: FastifyRequest,
    principal: Principal,
    scope: Scope,
    refs: readonly NameRef[],
    nameAt: (ref: NameRef) => string | undefined,
    prefix = "",
    declared?: DeclaredOwners,
  ): Promise<OwnerFact[]> => {
    const facts = await o.ownership.facts(refs, nameAt, declared);
    const target = scope.object ? nameAt(scope.object) : undefined;
    const decision = decideOwners(principal, scope, facts, target);
    if (!decision.allowed) {
      refuse(req, named(kindOf(scope), target, teamOfFacts(facts, scope)), `${prefix}${decision.reason}`);
    }
    return facts;
  };

  /** An events token opens the event stream only, and only while the token it came from works. */
  const verifyEventsToken = async (bearer: string, req: FastifyRequest) => {
    if (req.routeOptions.config?.operationId !== STREAM_EVENTS) {
      return { refused: "an events token opens GET /v1/events only; send an API token" };
    }
    const verdict = o.eventsTokens.verify(bearer);
    if ("refused" in verdict) return verdict;
    if (!(await o.tokens.stillValid(verdict.principal))) {
      return { refused: `token ${verdict.principal.tokenId}, which the events token came from, is revoked or expired` };
    }
    return verdict;
  };

  app.addHook("onRequest", async (req) => {
    const scope = req.routeOptions.config?.scope;
    if (scope === undefined || scope === PUBLIC_SCOPE) return;
    // An address over the limit is refused before its token is looked at, so a guesser learns nothing.
    const before = await o.failures(req, { increment: false });
    if (before.isExceeded) throw tooManyFailures(before.ttlInSeconds);
    const bearer = bearerOf(req);
    const verdict = isEventsToken(bearer) ? await verifyEventsToken(bearer, req) : await o.tokens.verify(bearer);
    if ("refused" in verdict) {
      const after = await o.failures(req);
      if (after.isExceeded) throw tooManyFailures(after.ttlInSeconds);
      throw new AuthError(verdict.refused);
    }
    const principal = verdict.principal;
    req.principal = principal;
    req.bearer = bearer;
    req.access = {};
    const role = decideRole(principal, scope);
    if (!role.allowed) {
      const object = scope.object ? nameIn(req, scope.object) : undefined;
      refuse(req, named(kindOf(scope), object), role.reason);
    }
    const early = refsOf(scope).filter((r) => r.in === "params" || r.in === "query");
    if (early.length > 0) {
      const facts = await checkOwners(req, principal, scope, early, (r) => nameIn(req, r));
      req.access.team = teamOfFacts(facts, scope);
    }
  });

  app.addHook("preHandler", async (req) => {
    const scope = req.routeOptions.config?.scope;
    const principal = req.principal;
    if (scope === undefined || scope === PUBLIC_SCOPE || !principal) return;
    const access: AccessState = req.access ?? {};
    req.access = access;
    if (scope.documents && typeof req.body === "string") {
      const docs = parseApplyDocuments(req.body);
      const declared: DeclaredOwners = {
        repos: new Map(docs.flatMap((d) => (d.kind === "Repo" ? [[d.name, d.spec.team] as const] : []))),
      };
      for (const doc of docs) {
        const docScope = DOCUMENT_SCOPES[doc.kind];
        const prefix = `${where(doc.index, doc.kind, doc.name)}: `;
        const role = decideRole(principal, docScope);
        if (!role.allowed) refuse(req, named(doc.kind, doc.name), `${prefix}${role.reason}`);
        await checkOwners(req, principal, docScope, refsOf(docScope), (r) => nameInDocument(doc, r), prefix, declared);
      }
      access.documents = docs;
      return;
    }
    const late = refsOf(scope).filter((r) => r.in === "body");
    if (late.length > 0) {
      const facts = await checkOwners(req, principal, scope, late, (r) => nameIn(req, r));
      access.team = teamOfFacts(facts, scope) ?? access.team;
    }
  });

  app.addHook("onSend", async (req, reply, payload) => {
    const scope = req.routeOptions.config?.scope;
    const principal = req.principal;
    const status = reply.statusCode;
    if (scope === undefined || scope === PUBLIC_SCOPE || scope.action !== "write" || !principal) return payload;
    if (status >= 400 && status !== 403) return payload;
    const base = {
      atMs: Date.now(),
      actor: actorOf(principal),
      action: req.routeOptions.config?.operationId ?? "",
      status,
    };
    const access = req.access ?? {};
    if (status === 403) {
      await o.audit.record({ ...base, ...(access.refused ?? named(kindOf(scope))) });
      return payload;
    }
    const command = nameIn(req, COMMAND);
    const records: AuditRecord[] = access.audit ?? [
      {
        ...named(kindOf(scope), scope.object ? nameIn(req, scope.object) : undefined, access.team),
        ...(command ? { detail: command } : {}),
        change: { params: req.params, body: req.body },
      },
    ];
    // Sent together, in order on one connection: an apply of 500 objects is one round trip, not 500.
    await Promise.all(
      records.map((r) =>
        o.audit.record({
          ...base,
          ...(r.kind ? { kind: r.kind } : {}),
          ...(r.object ? { object: r.object } : {}),
          ...(r.team ? { team: r.team } : {}),
          ...(r.detail ? { detail: r.detail } : {}),
          digest: changeDigest(r.change),
        }),
      ),
    );
    return payload;
  });
}

/** The refusal of an address over the failed-authentications limit. */
export function tooManyFailures(retryAfterSeconds: number | undefined): TooManyRequestsError {
  return new TooManyRequestsError(
    "too_many_requests",
    `too many failed authentications from this address; try again in ${retryAfterSeconds ?? 60} s with a valid token`,
    retryAfterSeconds,
  );
}

/**
 * The team a list answer must be limited to for this request's token, or undefined when it may
 * list every team's objects.
 */
export function listedTeamOf(req: FastifyRequest): string | undefined {
  const scope = req.routeOptions.config?.scope;
  if (!req.principal || scope === undefined || scope === PUBLIC_SCOPE) return undefined;
  return listedTeam(req.principal, scope);
}
