import { createHmac } from "node:crypto";
import type { HubEvent, Notification } from "@flotilla/api";
import { parseAllowList } from "@flotilla/netguard";
import { describe, expect, it } from "vitest";
import { DriftEpisodes, notificationOf, routes, signature, slackBody } from "./notifications.js";
import { checkReceiverUrl } from "./receivers.js";

const rollout = (event: string, state: string): HubEvent => ({
  type: "rollout",
  rolloutId: "r1",
  app: "web",
  environment: "prod",
  event,
  state,
  message: "m",
  origin: "engine",
  atMs: 5,
});

describe("notificationOf", () => {
  it.each([
    ["Created", "Progressing", "rollout-started"],
    ["WaveCompleted", "Progressing", "wave-passed"],
    ["RolloutSucceeded", "Succeeded", "rollout-succeeded"],
    ["RolloutFailed", "Failed", "rollout-failed"],
    ["RolloutFailed", "RolledBack", "rollout-rolled-back"],
    ["WaveStarted", "Progressing", undefined],
    ["Paused", "Paused", undefined],
  ])("%s (%s) → %s", (event, state, kind) => {
    expect(notificationOf(rollout(event, state), "1-0:0", () => "shop")?.event).toBe(kind);
  });

  it("names the app's team, environment and rollout", () => {
    expect(notificationOf(rollout("RolloutFailed", "Failed"), "1-0:2", () => "shop")).toEqual({
      id: "1-0:2",
      event: "rollout-failed",
      atMs: 5,
      app: "web",
      team: "shop",
      environment: "prod",
      rolloutId: "r1",
      message: "web in prod: m (rollout r1, Failed)",
    });
  });

  it("tells a cluster going offline once, and nothing else about clusters or reports", () => {
    const state = (s: string, previous: string): HubEvent => ({
      type: "cluster-state",
      cluster: "c1",
      state: s,
      previous,
      atMs: 1,
    });
    expect(notificationOf(state("Offline", "Ready"), "1-0:0", () => undefined)?.event).toBe("cluster-offline");
    expect(notificationOf(state("Ready", "Offline"), "1-0:0", () => undefined)).toBeUndefined();
    expect(notificationOf(state("Offline", "Offline"), "1-0:0", () => undefined)).toBeUndefined();
  });
});

describe("routes", () => {
  const n: Notification = {
    id: "1",
    event: "rollout-failed",
    atMs: 1,
    message: "m",
    app: "web",
    team: "shop",
    environment: "prod",
  };
  const offline: Notification = { id: "2", event: "cluster-offline", atMs: 1, message: "m", cluster: "c1" };
  it.each([
    [{}, n, true],
    [{ events: ["rollout-failed" as const] }, n, true],
    [{ events: ["rollout-succeeded" as const] }, n, false],
    [{ teams: ["shop"] }, n, true],
    [{ teams: ["other"] }, n, false],
    [{ environments: ["prod"] }, n, true],
    [{ environments: ["dev"] }, n, false],
    [{ teams: ["shop"] }, offline, false],
    [{}, offline, true],
  ])("%j takes %j: %s", (route, notification, taken) => {
    expect(routes(route, notification)).toBe(taken);
  });
});

describe("signature and Slack body", () => {
  it("signs the exact body with HMAC-SHA256, as a receiver checks it", () => {
    const body = '{"a":1}';
    expect(signature("s3cret-s3cret-s3cret", body)).toBe(
      `sha256=${createHmac("sha256", "s3cret-s3cret-s3cret").update(body).digest("hex")}`,
    );
    expect(signature("other-secret-other", body)).not.toBe(signature("s3cret-s3cret-s3cret", body));
  });

  it("says what happened in one Slack line", () => {
    expect(slackBody({ id: "1", event: "rollout-failed", atMs: 1, message: "web in prod: boom" }).text).toBe(
      ":rotating_light: *rollout-failed* web in prod: boom",
    );
  });
});

describe("drift notifications", () => {
  const report = (phase: string): HubEvent => ({
    type: "report",
    cluster: "c1",
    app: "web",
    revision: "abc",
    observedGeneration: 3,
    phase,
    health: "healthy",
    atMs: 9,
  });

  it("one notification per drift episode: the first drifted report, not the ones repeating it", () => {
    const episodes = new DriftEpisodes();
    const phases = ["synced", "out_of_sync", "out_of_sync", "out_of_sync", "applying", "synced", "out_of_sync"];
    const starts = phases.map((p) => episodes.observe("c1", "web", p));
    expect(starts).toEqual([false, true, false, false, false, false, true]);
    // Another app or cluster has episodes of its own.
    expect(episodes.observe("c2", "web", "out_of_sync")).toBe(true);
    expect(episodes.observe("c1", "api", "out_of_sync")).toBe(true);
  });

  it("a report that starts an episode becomes drift-detected, routed by team and environment", () => {
    const n = notificationOf(report("out_of_sync"), "7-0:1", () => "shop", { starts: true, environment: "prod" });
    expect(n).toMatchObject({ event: "drift-detected", app: "web", team: "shop", environment: "prod", cluster: "c1" });
    expect(notificationOf(report("out_of_sync"), "7-0:2", () => "shop", { starts: false })).toBeUndefined();
    expect(notificationOf(report("out_of_sync"), "7-0:3", () => "shop")).toBeUndefined();
    expect(routes({ events: ["drift-detected"], teams: ["shop"] }, n as Notification)).toBe(true);
  });
});

describe("checkReceiverUrl", () => {
  const strict = { allowHttp: false, allowed: { hosts: new Set<string>(), ranges: [] } };
  const resolver = (address: string) => ({ lookup: async () => [address] });

  it.each([
    ["https://169.254.169.254/latest/meta-data", /metadata/],
    ["https://127.0.0.1:8080/hook", /loopback/],
    ["https://[::1]/hook", /loopback/],
    ["https://10.1.2.3/hook", /private/],
    ["http://hooks.example.com/x", /plain HTTP is not allowed; use https \(FLOTILLA_NOTIFY_ALLOW_HTTP=true/],
  ])("refuses %s", async (url, reason) => {
    await expect(checkReceiverUrl(url, strict, resolver("93.184.216.34"))).rejects.toThrow(reason);
  });

  it("checks what a name resolves to, names the hub's setting, and admits what the setting allows", async () => {
    await expect(checkReceiverUrl("https://hooks.example.com/x", strict, resolver("127.0.0.1"))).rejects.toThrow(
      /hooks\.example\.com resolves to .*loopback.*unless FLOTILLA_NOTIFY_ALLOWED_HOSTS admits it/,
    );
    expect(await checkReceiverUrl("https://hooks.example.com/x", strict, resolver("93.184.216.34"))).toEqual([
      "93.184.216.34",
    ]);
    const loose = { allowHttp: true, allowed: parseAllowList(["127.0.0.1"]) };
    expect(await checkReceiverUrl("http://127.0.0.1:9/x", loose, resolver("127.0.0.1"))).toEqual(["127.0.0.1"]);
    await expect(checkReceiverUrl("http://169.254.169.254/", loose, resolver("1.1.1.1"))).rejects.toThrow(/metadata/);
  });
});
