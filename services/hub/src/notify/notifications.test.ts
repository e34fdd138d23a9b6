import { createHmac } from "node:crypto";
import type { HubEvent, Notification } from "@flotilla/api";
import { describe, expect, it } from "vitest";
import { notificationOf, routes, signature, slackBody } from "./notifications.js";

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
