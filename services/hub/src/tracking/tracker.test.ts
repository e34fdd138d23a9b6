import pino from "pino";
import { describe, expect, it } from "vitest";
import { HubMetrics } from "../metrics.js";
import type { DesiredStatePublisher } from "../nats/publisher.js";
import type { Registry } from "../registry/registry.js";
import type { EventBus } from "../status/events.js";
import type { RepoRecord, Store } from "../store.js";
import type { RefLister } from "./git.js";
import { Tracker } from "./tracker.js";

const REPO: RepoRecord = {
  name: "web",
  team: "payments",
  url: "https://git.example/web.git",
  branches: { prod: "main" },
  hasCredentials: false,
  hasWebhookSecret: false,
};

const events: EventBus = {
  async emit() {},
  subscribe: () => () => {},
  async nudge() {},
  onNudge: () => () => {},
  async close() {},
};

describe("Tracker", () => {
  it("starts no repo sync after stop, even when a tick was waiting on Redis when it stopped", async () => {
    let listed: (repos: RepoRecord[]) => void = () => {};
    let askedForRepos = () => {};
    const asked = new Promise<void>((resolve) => {
      askedForRepos = resolve;
    });
    const synced: string[] = [];
    const store = {
      listObjects: (kind: string) => {
        expect(kind).toBe("Repo");
        askedForRepos();
        return new Promise<RepoRecord[]>((resolve) => {
          listed = resolve;
        });
      },
      getObject: async (_kind: string, name: string) => {
        synced.push(name);
        return undefined;
      },
    } as unknown as Store;
    const refs: RefLister = {
      listBranchHeads: async () => {
        synced.push("listed heads");
        return new Map();
      },
    };
    const tracker = new Tracker({
      store,
      registry: {} as Registry,
      refs,
      publisher: {} as DesiredStatePublisher,
      conductor: {
        rollOut: async () => {},
        fill: async () => 0,
      },
      events,
      metrics: new HubMetrics(),
      log: pino({ level: "silent" }),
      defaultPollMs: 60_000,
    });

    tracker.start();
    await asked;
    await tracker.stop();
    listed([REPO]);
    await new Promise((resolve) => setTimeout(resolve, 20));

    expect(synced).toEqual([]);
  });
});
