import pino from "pino";
import { describe, expect, it } from "vitest";
import { HubMetrics } from "../metrics.js";
import type { EventBus } from "../status/events.js";
import type { DesiredStore, HeadStore, ObjectReader, RecordOf, RepoRecord, StoredKind } from "../store.js";
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

const OBJECTS: { [K in StoredKind]: RecordOf[K][] } = { Cluster: [], Team: [], Repo: [REPO], App: [], Environment: [] };

const events: EventBus = {
  async emit() {},
  subscribe: () => () => {},
  async nudge() {},
  onNudge: () => () => {},
  async close() {},
};

describe("Tracker", () => {
  it("starts no repo sync after stop, even when a tick was waiting on Redis when it stopped", async () => {
    let listed = () => {};
    const released = new Promise<void>((resolve) => {
      listed = resolve;
    });
    let askedForRepos = () => {};
    const asked = new Promise<void>((resolve) => {
      askedForRepos = resolve;
    });
    const synced: string[] = [];
    const objects: ObjectReader = {
      async listObjects(kind) {
        expect(kind).toBe("Repo");
        askedForRepos();
        await released;
        return OBJECTS[kind];
      },
      async getObject(_kind, name) {
        synced.push(name);
        return undefined;
      },
    };
    const desired: DesiredStore = {
      getDesired: async () => undefined,
      putDesired: async () => {},
      listDesired: async () => {
        synced.push("listed desired");
        return [];
      },
    };
    const heads: HeadStore = {
      getHead: async (repo) => {
        synced.push(`head of ${repo}`);
        return undefined;
      },
      putHead: async () => {},
    };
    const unpublished = { generation: 0, published: false };
    const refs: RefLister = {
      listBranchHeads: async () => {
        synced.push("listed heads");
        return new Map();
      },
    };
    const tracker = new Tracker({
      objects,
      desired,
      heads,
      registry: { repoSecrets: async () => ({}) },
      refs,
      publisher: { publish: async () => unpublished, remove: async () => unpublished },
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
    listed();
    await new Promise((resolve) => setTimeout(resolve, 20));

    expect(synced).toEqual([]);
  });
});
