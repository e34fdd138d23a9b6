import { describe, expect, it } from "vitest";
import { InvalidNameError } from "./errors.js";
import {
  clusterKeyFilter,
  clusterPermissions,
  grantsStatusKey,
  heartbeatSubject,
  hubKeySetKey,
  isDnsLabel,
  isHubKeySetKey,
  MAX_LISTED_STATUS_KEYS,
  parseStateKey,
  rpcSubject,
  stateKey,
  subjectMatches,
} from "./names.js";

describe("names", () => {
  it.each(["a", "prod-eu-1", "0abc", "a".repeat(63)])("accepts DNS label %s", (name) => {
    expect(isDnsLabel(name)).toBe(true);
  });

  it.each(["", "-a", "a-", "A", "a.b", "a_b", "a*", "a>", "a b", "a".repeat(64)])("rejects %j", (name) => {
    expect(isDnsLabel(name)).toBe(false);
    expect(() => stateKey(name, "web")).toThrow(InvalidNameError);
    expect(() => heartbeatSubject(name)).toThrow(InvalidNameError);
  });

  it("builds and parses keys and subjects", () => {
    expect(stateKey("prod-eu-1", "web")).toBe("prod-eu-1.web");
    expect(parseStateKey("prod-eu-1.web")).toEqual({ cluster: "prod-eu-1", app: "web" });
    expect(() => parseStateKey("a.b.c")).toThrow(InvalidNameError);
    expect(clusterKeyFilter("a")).toBe("a.>");
    expect(heartbeatSubject("a")).toBe("flotilla.hb.a");
    expect(rpcSubject("a")).toBe("flotilla.agent.a.rpc");
  });

  it("keeps a cluster's hub key set under its own prefix, where no app key can be", () => {
    expect(hubKeySetKey("prod-eu-1")).toBe("prod-eu-1._hub-keys");
    expect(isHubKeySetKey(hubKeySetKey("prod-eu-1"))).toBe(true);
    expect(isHubKeySetKey(stateKey("prod-eu-1", "hub-keys"))).toBe(false);
    expect(() => parseStateKey(hubKeySetKey("a"))).toThrow(InvalidNameError);
    // The agent's one watch of `<cluster>.>` (which its permissions allow) delivers it too.
    const filter = `$KV.flotilla_desired.${clusterKeyFilter("a")}`;
    expect(clusterPermissions("a", ["web"]).publish).toContain(
      `$JS.API.CONSUMER.CREATE.KV_flotilla_desired.*.${filter}`,
    );
    expect(`$KV.flotilla_desired.${hubKeySetKey("a")}`.startsWith(filter.slice(0, -1))).toBe(true);
  });

  it("grants a cluster only its own keys and subjects", () => {
    const p = clusterPermissions("a");
    expect(p.publish).toContain("$JS.API.CONSUMER.CREATE.KV_flotilla_desired.*.$KV.flotilla_desired.a.>");
    expect(p.publish).toContain("$KV.flotilla_status.a.>");
    expect(p.subscribe).toEqual(["_INBOX_a.>", "flotilla.agent.a.rpc", "flotilla.creds.a.reply.>"]);
    const everything = [...p.publish, ...p.subscribe].join(" ");
    expect(everything).not.toMatch(/\.b\./);
    expect(p.publish.every((s) => !s.endsWith(".flotilla_status.>") && s !== ">")).toBe(true);
    // Stream info (with a subjects filter) would list every cluster's key names.
    expect(p.publish.filter((s) => s.startsWith("$JS.API.INFO") || s.startsWith("$JS.API.STREAM.INFO"))).toEqual([]);
  });

  it("grants only the status keys of the apps given", () => {
    const p = clusterPermissions("a", ["web", "api", "web"]);
    const status = p.publish.filter((s) => s.startsWith("$KV.flotilla_status."));
    expect(status).toEqual(["$KV.flotilla_status.a.api", "$KV.flotilla_status.a.web"]);
    expect(clusterPermissions("a", []).publish.filter((s) => s.startsWith("$KV.flotilla_status."))).toEqual([]);
    expect(() => clusterPermissions("a", ["bad.app"])).toThrow(InvalidNameError);
  });

  it("grants any key under the cluster's name past MAX_LISTED_STATUS_KEYS apps (the JWT must fit a CONNECT line)", () => {
    const apps = Array.from({ length: MAX_LISTED_STATUS_KEYS + 1 }, (_, i) => `app-${i}`);
    const status = (p: { publish: string[] }) => p.publish.filter((s) => s.startsWith("$KV.flotilla_status."));
    expect(status(clusterPermissions("a", apps))).toEqual(["$KV.flotilla_status.a.>"]);
    expect(status(clusterPermissions("a", apps.slice(1)))).toHaveLength(MAX_LISTED_STATUS_KEYS);
  });

  it.each([
    ["a.b", "a.b", true],
    ["a.*", "a.b", true],
    ["a.*", "a.b.c", false],
    ["a.>", "a.b.c", true],
    ["a.>", "a", false],
    ["a.b", "a.b.c", false],
    ["a.b.c", "a.b", false],
    ["*.b", "x.b", true],
  ])("matches subject pattern %s against %s: %s", (pattern, subject, expected) => {
    expect(subjectMatches(pattern, subject)).toBe(expected);
  });

  it("tells which status keys a cluster's publish permissions grant", () => {
    const scoped = clusterPermissions("a", ["web"]).publish;
    expect(grantsStatusKey(scoped, "a", "web")).toBe(true);
    expect(grantsStatusKey(scoped, "a", "api")).toBe(false);
    expect(grantsStatusKey(scoped, "b", "web")).toBe(false);
    // A JWT minted without apps grants every key under the cluster's name.
    expect(grantsStatusKey(clusterPermissions("a").publish, "a", "api")).toBe(true);
    expect(grantsStatusKey([], "a", "web")).toBe(false);
  });
});
