/**
 * The load generator against the real hub, small, so the fleet benchmark's tool cannot rot:
 * 20 simulated clusters registered in bulk through the API, beating, taking a first deploy and
 * a commit rollout (with a real agent's five reports per revision) to Succeeded at the right
 * generation, then failing a revision so the hub rolls every cluster back; and a few clusters
 * in NATS operator mode, where each asks the hub for its app's status key as a real agent does.
 * Real nats-server, redis-server, Git smart-HTTP server and the hub's built command.
 */
import { createHmac } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClusterPage, RolloutSummary, RolloutView } from "@flotilla/api";
import {
  type FixtureRepo,
  type GitServer,
  type HubProcess,
  type NatsServer,
  type RedisServer,
  startGitServer,
  startHubProcess,
  startNats,
  startRedis,
  waitsOf,
} from "@flotilla/devfleet";
import { createOperatorSetup, GITHUB_SIGNATURE_HEADER } from "@flotilla/hub";
import { type ClusterSpec, registerClusters, SimulatedFleet } from "@flotilla/loadgen";
import { SyncPhase } from "@flotilla/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { webAppDocuments, webAppFiles } from "../webapp.js";

const CLUSTERS = 20;
const SECRET = "loadgen-e2e-webhook-secret-0123";
const until = waitsOf(120_000, 200);

const files = webAppFiles;

describe("load generator against the hub", () => {
  let dir: string;
  let nats: NatsServer;
  let redis: RedisServer;
  let git: GitServer;
  let repo: FixtureRepo;
  let hub: HubProcess;
  let fleet: SimulatedFleet | undefined;
  const canary: Record<string, string> = { env: "prod", tier: "canary" };
  const specs: ClusterSpec[] = Array.from({ length: CLUSTERS }, (_, i) => ({
    name: `sim-${String(i).padStart(2, "0")}`,
    labels: i % 7 === 0 ? canary : { env: "prod" },
  }));

  async function rolloutTo(revision: string, ended: readonly string[]): Promise<RolloutView> {
    return until(`the rollout to ${revision.slice(0, 7)} to end ${ended.join(" or ")}`, async () => {
      const list = await hub.api.request<{ items: RolloutSummary[] }>("GET", "/v1/rollouts?app=web&environment=prod");
      const id = list.json?.items.find((r) => r.to.revision === revision)?.id;
      if (!id) return undefined;
      const r = (await hub.api.request<RolloutView>("GET", `/v1/rollouts/${id}`)).json;
      return r && ended.includes(r.state) && r.settled ? r : undefined;
    });
  }

  async function push(version: string): Promise<string> {
    const sha = await repo.commit("main", files(version), version);
    const body = JSON.stringify({ ref: "refs/heads/main", after: sha });
    const res = await hub.api.request("POST", "/v1/webhooks/git/web", body, {
      token: null,
      headers: { [GITHUB_SIGNATURE_HEADER]: `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}` },
    });
    expect(res.status).toBe(202);
    return sha;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "flotilla-loadgen-e2e-"));
    nats = await startNats({ dir });
    redis = await startRedis({ dir });
    git = await startGitServer({ dir });
    repo = await git.createRepo("web", { main: files("v0") });
    hub = await startHubProcess({
      dir: join(dir, "hub"),
      natsUrl: nats.url,
      natsTls: nats.tls,
      redisUrl: redis.url,
      waitFor: "leader",
      env: { ...git.clientEnv, FLOTILLA_HEARTBEAT_INTERVAL: "1s" },
    });
  });

  afterAll(async () => {
    await fleet?.stop();
    await hub?.stop();
    await git?.stop();
    await redis?.stop();
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("registers the simulated clusters in bulk and they turn Ready on their heartbeats", async () => {
    const bundles = await registerClusters(hub.api, specs, 8);
    expect(bundles.map((b) => b.cluster)).toEqual(specs.map((s) => s.name));
    await expect(registerClusters(hub.api, specs.slice(0, 1))).rejects.toThrow(/sim-00: was already registered/);
    fleet = await SimulatedFleet.start({ natsUrl: nats.url, bundles, heartbeatIntervalMs: 1_000 });
    await hub.api.waitClustersReady(
      specs.map((s) => s.name),
      60_000,
    );
  });

  it("pages GET /v1/clusters in name order, filters by label selector, and refuses a token it did not give", async () => {
    const pages: string[][] = [];
    let next: string | undefined;
    do {
      const query = new URLSearchParams({ limit: "6", ...(next ? { continue: next } : {}) });
      const page = await hub.api.request<ClusterPage>("GET", `/v1/clusters?${query}`);
      expect(page.status).toBe(200);
      pages.push(page.json!.items.map((c) => c.name));
      next = page.json!.continue;
    } while (next);
    expect(pages.map((p) => p.length)).toEqual([6, 6, 6, 2]);
    expect(pages.flat()).toEqual(specs.map((s) => s.name));

    const selected = await hub.api.request<ClusterPage>("GET", "/v1/clusters?limit=2&selector=tier%20in%20(canary)");
    expect(selected.json!.items.map((c) => c.name)).toEqual(["sim-00", "sim-07"]);
    const rest = await hub.api.request<ClusterPage>(
      "GET",
      `/v1/clusters?limit=2&selector=tier%20in%20(canary)&continue=${selected.json!.continue}`,
    );
    expect(rest.json).toMatchObject({ items: [{ name: "sim-14", status: { state: "Ready" } }] });
    expect(rest.json!.continue).toBeUndefined();

    expect((await hub.api.request("GET", "/v1/clusters?continue=bm9wZQ")).status).toBe(400);
    const badSelector = await hub.api.request<{ message: string }>("GET", "/v1/clusters?selector=tier%20in%20canary");
    expect(badSelector.status).toBe(400);
    expect(badSelector.json!.message).toMatch(/selector/);
    expect((await hub.api.request<ClusterPage>("GET", "/v1/clusters")).json!.items).toHaveLength(CLUSTERS);
  });

  it("answers a first deploy and a commit rollout with five reports each, healthy at the written generation", async () => {
    const f = fleet!;
    await hub.api.apply(`apiVersion: flotilla.dev/v1
kind: Environment
metadata: { name: prod }
spec:
  policy: { waves: [{ name: all, selector: {}, maxConcurrency: "100%", bakeSeconds: 0 }], progressDeadlineSeconds: 120 }
---
${webAppDocuments(git, repo, SECRET)}`);
    const first = await rolloutTo(await repo.head("main"), ["Succeeded"]);
    const firstGenerations = new Map<string, number>();
    for (const c of first.waves.flatMap((w) => w.clusters)) {
      expect(c.state).toBe("healthy");
      expect(f.progress(c.name, "web")).toMatchObject({ generation: c.generation, revision: first.to.revision });
      firstGenerations.set(c.name, c.generation ?? 0);
    }
    expect(firstGenerations.size).toBe(CLUSTERS);

    f.setBehaviour({ reportsPerRevision: 5, reportDelayMs: 200 });
    const reportsBefore = f.counters.reportsSent;
    const second = await rolloutTo(await push("v1"), ["Succeeded"]);
    for (const c of second.waves.flatMap((w) => w.clusters)) {
      expect(c.state).toBe("healthy");
      expect(c.generation).toBeGreaterThan(firstGenerations.get(c.name)!);
      expect(f.progress(c.name, "web")).toMatchObject({ generation: c.generation, revision: second.to.revision });
    }
    expect(f.counters.reportsSent - reportsBefore).toBe(5 * CLUSTERS);
    expect(f.counters.snapshot()).toMatchObject({ desiredRefused: 0, generationRegressions: 0, reportFailures: 0 });
  });

  it("fails a revision every cluster fails, and the hub rolls each back to the last good one", async () => {
    const f = fleet!;
    f.setBehaviour({ reportsPerRevision: 1, reportDelayMs: 0, failureRatio: 1 });
    const failed = await rolloutTo(await push("v2"), ["RolledBack"]);
    expect(failed.failure?.kind).toBe("budget-exceeded");
    for (const c of failed.waves.flatMap((w) => w.clusters)) {
      if (c.rollback?.generation === undefined) continue;
      expect(f.progress(c.name, "web")).toMatchObject({
        generation: c.rollback.generation,
        revision: failed.from?.revision,
      });
    }
    expect(failed.waves.flatMap((w) => w.clusters).some((c) => c.rollback?.generation !== undefined)).toBe(true);
    expect(f.counters.generationRegressions).toBe(0);
  });
});

describe("load generator in NATS operator mode", () => {
  const dirs: string[] = [];
  const stops: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("gets each cluster's status key granted and takes a rollout to Succeeded with no refused report", async () => {
    const dir = await mkdtemp(join(tmpdir(), "flotilla-loadgen-operator-e2e-"));
    dirs.push(dir);
    const setup = await createOperatorSetup();
    const nats = await startNats({ dir, operator: setup });
    stops.push(() => nats.stop());
    const redis = await startRedis({ dir });
    stops.push(() => redis.stop());
    const git = await startGitServer({ dir });
    stops.push(() => git.stop());
    const repo = await git.createRepo("web", { main: files("v0") });
    const hub = await startHubProcess({
      dir: join(dir, "hub"),
      natsUrl: nats.url,
      natsTls: nats.tls,
      redisUrl: redis.url,
      operatorSetup: setup,
      waitFor: "leader",
      env: { ...git.clientEnv, FLOTILLA_HEARTBEAT_INTERVAL: "1s" },
    });
    stops.push(() => hub.stop());
    const names = ["op-0", "op-1", "op-2"];
    const bundles = await registerClusters(
      hub.api,
      names.map((name) => ({ name, labels: { env: "prod" } })),
    );
    // Per-cluster credentials: each simulated cluster connects as its own NATS user.
    expect(bundles.every((b) => b.natsCreds.includes("NATS USER JWT"))).toBe(true);
    const fleet = await SimulatedFleet.start({ natsUrl: nats.url, bundles, heartbeatIntervalMs: 1_000 });
    stops.push(() => fleet.stop());
    await hub.api.waitClustersReady(names, 60_000);
    fleet.setBehaviour({ reportsPerRevision: 5, ackWorkReports: false });
    await hub.api.apply(`apiVersion: flotilla.dev/v1
kind: Environment
metadata: { name: prod }
spec:
  policy: { waves: [{ name: all, selector: {}, maxConcurrency: "100%", bakeSeconds: 0 }], progressDeadlineSeconds: 120 }
---
${webAppDocuments(git, repo, SECRET)}`);
    const head = await repo.head("main");
    const done = await until("the first deploy to succeed in operator mode", async () => {
      const list = await hub.api.request<{ items: RolloutSummary[] }>("GET", "/v1/rollouts?app=web&environment=prod");
      const r = list.json?.items.find((x) => x.to.revision === head);
      return r?.state === "Succeeded" ? r : undefined;
    });
    expect(done.state).toBe("Succeeded");
    for (const name of names) {
      expect(fleet.progress(name, "web")).toMatchObject({ revision: head, phase: SyncPhase.SYNC_PHASE_SYNCED });
    }
    expect(fleet.counters.snapshot()).toMatchObject({ desiredRefused: 0, reportFailures: 0 });
  });
});
