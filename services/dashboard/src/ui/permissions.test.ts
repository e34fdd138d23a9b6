import type { RolloutView } from "@flotilla/api";
import { describe, expect, it } from "vitest";
import { commandsFor, mayRefresh, maySteer } from "./permissions.js";

describe("maySteer", () => {
  it.each([
    [{ tokenId: "a", role: "admin" }, "web", true],
    [{ tokenId: "m", role: "member", team: "web" }, "web", true],
    [{ tokenId: "m", role: "member", team: "shop" }, "web", false],
    [{ tokenId: "v", role: "viewer" }, "web", false],
    [{ tokenId: "v", role: "viewer", team: "web" }, "web", false],
    [null, "web", false],
  ] as const)("%j on team %s → %s", (identity, team, want) => {
    expect(maySteer(identity, team)).toBe(want);
  });
});

describe("mayRefresh", () => {
  it.each([
    [{ tokenId: "a", role: "admin" }, "web", true],
    [{ tokenId: "m", role: "member", team: "web" }, "web", true],
    [{ tokenId: "m", role: "member", team: "shop" }, "web", false],
    [{ tokenId: "m", role: "member", team: "shop" }, undefined, false],
    [{ tokenId: "v", role: "viewer", team: "web" }, "web", false],
    [null, "web", false],
  ] as const)("%j on team %s → %s", (identity, team, want) => {
    expect(mayRefresh(identity, team)).toBe(want);
  });
});

describe("commandsFor", () => {
  const r = (state: RolloutView["state"], extra: Partial<RolloutView> = {}) =>
    ({ state, from: { revision: "a", settings: "" }, waves: [], ...extra }) as unknown as RolloutView;
  it.each([
    ["Progressing", {}, ["pause", "abort", "rollback"]],
    ["Progressing", { from: undefined }, ["pause", "abort"]],
    ["Paused", {}, ["resume", "abort", "rollback"]],
    ["Progressing", { waves: [{ status: "awaiting-approval" }] }, ["promote", "pause", "abort", "rollback"]],
    ["Succeeded", {}, []],
    ["RolledBack", {}, []],
  ] as const)("%s %j → %j", (state, extra, want) => {
    expect(commandsFor(r(state, extra as Partial<RolloutView>))).toEqual(want);
  });
});
