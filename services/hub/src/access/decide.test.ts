import { DOCUMENT_SCOPES, type NameRef, operations, type Scope } from "@flotilla/api";
import { describe, expect, it } from "vitest";
import { decideOwners, decideRole, listedTeam, type OwnerFact } from "./decide.js";
import type { Principal } from "./principal.js";

const admin: Principal = { tokenId: "bootstrap", role: "admin" };
const memberA: Principal = { tokenId: "aaaaaaaaaaaaaaaa", role: "member", team: "a" };
const viewer: Principal = { tokenId: "vvvvvvvvvvvvvvvv", role: "viewer" };
const viewerA: Principal = { tokenId: "wwwwwwwwwwwwwwww", role: "viewer", team: "a" };

function scopeOf(id: keyof typeof operations): Scope {
  const scope = operations[id].scope;
  if (scope === "public") throw new Error(`${id} is public`);
  return scope;
}

describe("decideRole", () => {
  const cases: [string, Principal, keyof typeof operations, boolean][] = [
    ["admin registers a cluster", admin, "createCluster", true],
    ["member registers a cluster", memberA, "createCluster", false],
    ["member changes an environment", memberA, "replaceEnvironment", false],
    ["member creates a team", memberA, "createTeam", false],
    ["member mints a token", memberA, "createToken", false],
    ["member lists tokens", memberA, "listTokens", false],
    ["member writes a repo", memberA, "replaceRepo", true],
    ["member steers a rollout", memberA, "commandRollout", true],
    ["member applies a file", memberA, "apply", true],
    ["member reads the fleet", memberA, "getFleetStatus", true],
    ["member reads the audit trail", memberA, "listAudit", true],
    ["viewer writes a repo", viewer, "replaceRepo", false],
    ["viewer steers a rollout", viewer, "commandRollout", false],
    ["viewer applies a file", viewer, "apply", false],
    ["viewer reads clusters", viewer, "listClusters", true],
    ["viewer reads rollouts", viewerA, "getRollout", true],
    ["viewer revokes a token", viewer, "revokeToken", false],
  ];
  it.each(cases)("%s", (_name, p, op, allowed) => {
    expect(decideRole(p, scopeOf(op)).allowed).toBe(allowed);
  });

  it("names the role refused and who may, on one line", () => {
    const d = decideRole(memberA, scopeOf("createCluster"));
    expect(d).toEqual({
      allowed: false,
      reason: 'member token aaaaaaaaaaaaaaaa of team "a" may not change clusters: that needs an admin token',
    });
    const v = decideRole(viewer, scopeOf("replaceRepo"));
    expect(v.allowed ? "" : v.reason).toBe(
      "viewer token vvvvvvvvvvvvvvvv may not change repos: that needs an admin token, or a member token of its team",
    );
  });
});

describe("decideOwners", () => {
  const replaceApp = scopeOf("replaceApp");
  const [object, repo] = [replaceApp.object, replaceApp.also?.[0]] as [NameRef, NameRef];
  const fact = (ref: NameRef, name: string, team: string | undefined, exists = true): OwnerFact => ({
    ref,
    name,
    team,
    exists,
  });
  const cases: [string, Principal, OwnerFact[], boolean][] = [
    ["own app, own repo", memberA, [fact(object, "web", "a"), fact(repo, "r", "a")], true],
    ["another team's app", memberA, [fact(object, "web", "b"), fact(repo, "r", "a")], false],
    ["own app moved to another team's repo", memberA, [fact(object, "web", "a"), fact(repo, "r", "b")], false],
    ["a new app on its own repo", memberA, [fact(object, "web", undefined, false), fact(repo, "r", "a")], true],
    ["a new app on a repo that does not exist", memberA, [fact(object, "web", undefined, false)], true],
    ["an app whose team cannot be found", memberA, [fact(object, "web", undefined, true)], false],
    ["admin, any team", admin, [fact(object, "web", "b"), fact(repo, "r", "c")], true],
  ];
  it.each(cases)("%s", (_name, p, facts, allowed) => {
    expect(decideOwners(p, replaceApp, facts, "web").allowed).toBe(allowed);
  });

  it("says whose the object is", () => {
    const d = decideOwners(memberA, replaceApp, [fact(object, "web", "b")], "web");
    expect(d.allowed ? "" : d.reason).toBe(
      'member token aaaaaaaaaaaaaaaa of team "a" may not change app "web": it belongs to team "b"',
    );
    const moved = decideOwners(memberA, replaceApp, [fact(object, "web", "a"), fact(repo, "shop", "b")], "web");
    expect(moved.allowed ? "" : moved.reason).toBe(
      'member token aaaaaaaaaaaaaaaa of team "a" may not change app "web": repo "shop" belongs to team "b"',
    );
    const repoScope = DOCUMENT_SCOPES.Repo;
    const team = repoScope.also?.[0] as NameRef;
    const given = decideOwners(memberA, repoScope, [fact(team, "b", "b")], "shop");
    expect(given.allowed ? "" : given.reason).toBe(
      'member token aaaaaaaaaaaaaaaa of team "a" may not change repo "shop": its team would be "b"',
    );
  });

  it("checks a Receiver document of an apply as the receiver routes: admin only", () => {
    expect(DOCUMENT_SCOPES.Receiver).toEqual(scopeOf("replaceReceiver"));
    expect(decideRole(admin, DOCUMENT_SCOPES.Receiver).allowed).toBe(true);
    expect(decideRole(memberA, DOCUMENT_SCOPES.Receiver).allowed).toBe(false);
    expect(decideRole(viewer, DOCUMENT_SCOPES.Receiver).allowed).toBe(false);
  });

  it("lets a viewer limited to a team read only that team's objects", () => {
    const get = scopeOf("getRollout");
    const ref = get.object as NameRef;
    expect(decideOwners(viewerA, get, [fact(ref, "r1", "a")]).allowed).toBe(true);
    expect(decideOwners(viewerA, get, [fact(ref, "r1", "b")]).allowed).toBe(false);
    expect(decideOwners(viewer, get, [fact(ref, "r1", "b")]).allowed).toBe(true);
  });
});

describe("listedTeam", () => {
  it("limits team-scoped tokens' lists of team resources, and nobody's lists of the fleet", () => {
    expect(listedTeam(memberA, scopeOf("listApps"))).toBe("a");
    expect(listedTeam(viewerA, scopeOf("listRollouts"))).toBe("a");
    expect(listedTeam(viewer, scopeOf("listRollouts"))).toBeUndefined();
    expect(listedTeam(admin, scopeOf("listApps"))).toBeUndefined();
    expect(listedTeam(memberA, scopeOf("listClusters"))).toBeUndefined();
  });
});
