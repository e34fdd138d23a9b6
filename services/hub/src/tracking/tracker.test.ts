import pino from "pino";
import { describe, expect, it, vi } from "vitest";
import type { RolloutRequest } from "../conductor/conductor.js";
import { settingsDigest } from "../desired/index.js";
import { HubMetrics } from "../metrics.js";
import { createRollout, parsePolicy } from "../rollout/index.js";
import type { EventBus } from "../status/events.js";
import type {
  AppRecord,
  DesiredStore,
  HeadRecord,
  HeadStore,
  ObjectReader,
  RecordOf,
  RepoRecord,
  StoredKind,
  StoredRollout,
} from "../store.js";
import type { RefLister } from "./git.js";
import type { CommitTree } from "./inputs.js";
import type { CommitSource, SourceReader } from "./source-cache.js";
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
  async emitAll() {},
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
      getObjects: async () => new Map(),
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
    const unpublished = { generation: 0, published: false, rolloutId: "" };
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
      sources: {
        read: async () => {
          throw new Error("not read");
        },
      },
      rollouts: { latest: async () => undefined },
      publisher: { publish: async () => unpublished, publishAll: async () => [], remove: async () => unpublished },
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

  it("rolls out a nudged head at once while a pass is still filling clusters", async () => {
    let nudge: (repo: string) => void = () => {};
    const bus: EventBus = {
      ...events,
      onNudge: (listener) => {
        nudge = listener;
        return () => {};
      },
    };
    const app: AppRecord = {
      name: "web",
      repo: "web",
      path: ".",
      source: "manifests",
      namespace: "web",
      prune: false,
      selfHeal: false,
      adopt: false,
    };
    const byKind: { [K in StoredKind]: RecordOf[K][] } = { ...OBJECTS, App: [app] };
    const objects: ObjectReader = {
      listObjects: async (kind) => byKind[kind],
      getObject: async (kind, name) => byKind[kind].find((x) => x.name === name),
      getObjects: async () => new Map(),
    };
    let head = "a".repeat(40);
    const rolledOut: string[] = [];
    let releaseFill = () => {};
    const filling = new Promise<void>((resolve) => {
      releaseFill = resolve;
    });
    let fillStarted = () => {};
    const started = new Promise<void>((resolve) => {
      fillStarted = resolve;
    });
    const seen: HeadRecord[] = [];
    const unpublished = { generation: 0, published: false, rolloutId: "" };
    const tracker = new Tracker({
      objects,
      desired: { getDesired: async () => undefined, putDesired: async () => {}, listDesired: async () => [] },
      heads: {
        getHead: async (repo, environment) => seen.find((h) => h.repo === repo && h.environment === environment),
        putHead: async (h) => void seen.push(h),
      },
      registry: { repoSecrets: async () => ({}) },
      refs: { listBranchHeads: async () => new Map([["main", head]]) },
      sources: {
        read: async () => {
          throw new Error("no Git cache here");
        },
      },
      rollouts: { latest: async () => undefined },
      publisher: { publish: async () => unpublished, publishAll: async () => [], remove: async () => unpublished },
      conductor: {
        rollOut: async (_app, _env, request) => void rolledOut.push(request.revision),
        fill: async () => {
          fillStarted();
          await filling;
          return 0;
        },
      },
      events: bus,
      metrics: new HubMetrics(),
      log: pino({ level: "silent" }),
      defaultPollMs: 60_000,
    });
    tracker.start();
    await started;
    expect(rolledOut).toEqual(["a".repeat(40)]);

    head = "b".repeat(40);
    nudge("web");
    await vi.waitFor(() => expect(rolledOut).toEqual(["a".repeat(40), "b".repeat(40)]));
    releaseFill();
    await tracker.stop();
  });
});

/** A commit as a map of path → content; tree ids are hashes of what lies below. */
function treeOf(files: Record<string, string>): CommitTree {
  const under = (dir: string) => Object.entries(files).filter(([p]) => dir === "" || p.startsWith(`${dir}/`));
  return {
    async entry(path) {
      if (files[path] !== undefined) return { oid: `blob:${files[path]}`, type: "blob" };
      const below = under(path);
      return below.length === 0 ? undefined : { oid: `tree:${JSON.stringify(below)}`, type: "tree" };
    },
    async text(path) {
      return files[path];
    },
  };
}

const KUSTOMIZATION = "resources: [../../base, deployment.yaml]\n";
const BASE = { "base/kustomization.yaml": "resources: [cm.yaml]\n", "base/cm.yaml": "v1" };

describe("Tracker change detection", () => {
  const apps: AppRecord[] = ["a", "b"].map((name) => ({
    name,
    repo: "web",
    path: `apps/${name}`,
    source: "kustomize",
    namespace: "web",
    prune: false,
    selfHeal: false,
    adopt: false,
  }));
  const commits: Record<string, Record<string, string>> = {
    c1: {
      ...BASE,
      "apps/a/kustomization.yaml": KUSTOMIZATION,
      "apps/a/deployment.yaml": "a1",
      "apps/b/kustomization.yaml": KUSTOMIZATION,
      "apps/b/deployment.yaml": "b1",
    },
  };
  commits.c2 = { ...commits.c1, "apps/a/deployment.yaml": "a2" } as Record<string, string>;
  commits.c3 = { ...commits.c2, "base/cm.yaml": "v2" } as Record<string, string>;
  commits.c4 = { ...commits.c3, "README.md": "docs only" } as Record<string, string>;

  function fixture() {
    let head = "c1";
    let failFetch = false;
    const requests: { app: string; request: RolloutRequest }[] = [];
    const latest = new Map<string, StoredRollout>();
    const objects: ObjectReader = {
      async getObject(kind, name) {
        return (kind === "Repo" ? OBJECTS.Repo.find((r) => r.name === name) : undefined) as never;
      },
      async listObjects(kind) {
        return (kind === "App" ? apps : []) as never;
      },
      getObjects: async () => new Map(),
    };
    const sources: SourceReader = {
      async read(_repo, _url, _credentials, _branch, sha): Promise<CommitSource> {
        if (failFetch) throw new Error("connection refused");
        const files = commits[sha];
        if (!files) throw new Error(`no commit ${sha}`);
        return {
          commit: { message: `commit ${sha}`, author: "A <a@example>", committedAtMs: 1000 },
          tree: treeOf(files),
        };
      },
    };
    const tracker = new Tracker({
      objects,
      desired: { getDesired: async () => undefined, putDesired: async () => {}, listDesired: async () => [] },
      heads: { getHead: async () => undefined, putHead: async () => {} },
      registry: { repoSecrets: async () => ({}) },
      refs: { listBranchHeads: async () => new Map([["main", head]]) },
      sources,
      rollouts: { latest: async (app) => latest.get(app) },
      publisher: {
        publish: async () => ({ generation: 0, published: false, rolloutId: "" }),
        publishAll: async () => [],
        remove: async () => ({ generation: 0, published: false, rolloutId: "" }),
      },
      conductor: {
        // Plays the conductor: a new target becomes the newest rollout.
        rollOut: async (app, environment, request) => {
          const to = { revision: request.revision, settings: settingsDigest(request.settings) };
          const current = latest.get(app.name)?.rollout.to;
          if (current?.revision === to.revision && current.settings === to.settings) return;
          requests.push({ app: app.name, request });
          const rollout = createRollout({
            id: `${app.name}-${requests.length}`,
            app: app.name,
            environment,
            to,
            policy: parsePolicy({}),
            clusters: [],
            detectedAtMs: request.detectedAtMs,
            ...(request.sourceDigest ? { sourceDigest: request.sourceDigest } : {}),
          });
          latest.set(app.name, { rollout, raw: JSON.stringify(rollout) });
        },
        fill: async () => 0,
      },
      events,
      metrics: new HubMetrics(),
      log: pino({ level: "silent" }),
      defaultPollMs: 60_000,
    });
    const pass = async (sha: string) => {
      head = sha;
      requests.length = 0;
      await tracker.syncRepo("web");
      return requests.map((r) => `${r.app}@${r.request.revision}`);
    };
    return { pass, requests, failWith: (fail: boolean) => (failFetch = fail) };
  }

  it("rolls only the apps whose inputs changed; a shared base rolls both; a commit touching neither rolls none", async () => {
    const { pass, requests } = fixture();
    expect(await pass("c1")).toEqual(["a@c1", "b@c1"]);
    expect(requests[0]?.request.commit).toEqual({ message: "commit c1", author: "A <a@example>", committedAtMs: 1000 });
    expect(await pass("c1")).toEqual([]);
    expect(await pass("c2")).toEqual(["a@c2"]);
    expect(await pass("c3")).toEqual(["a@c3", "b@c3"]);
    expect(await pass("c4")).toEqual([]);
  });

  it("rolls every app, saying why, when the new head cannot be fetched", async () => {
    const { pass, requests, failWith } = fixture();
    expect(await pass("c1")).toEqual(["a@c1", "b@c1"]);
    failWith(true);
    expect(await pass("c2")).toEqual(["a@c2", "b@c2"]);
    expect(requests[0]?.request.commitUnknown).toMatch(/connection refused/);
    expect(requests[0]?.request.sourceDigest).toBeUndefined();
  });

  it("rolls an app whose settings changed at the same head, and only that app", async () => {
    const { pass } = fixture();
    await pass("c1");
    const b = apps[1] as AppRecord;
    const before = b.namespace;
    b.namespace = "web-b";
    try {
      expect(await pass("c1")).toEqual(["b@c1"]);
    } finally {
      b.namespace = before;
    }
  });
});
