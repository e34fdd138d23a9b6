import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Fleet, FleetError, isAlive, startFleet, until } from "../src/index.js";

describe("a fleet without clusters", () => {
  let fleet: Fleet;
  const progress: string[] = [];
  beforeAll(async () => {
    fleet = await startFleet({
      operatorMode: true,
      hubReplicas: 2,
      repos: { web: { main: { "deploy/app.yaml": "kind: ConfigMap\n" } } },
      hubEnv: { FLOTILLA_HUB_LEASE_TTL: "2s" },
      progress: (line) => progress.push(line),
    });
  });
  afterAll(() => fleet?.stop());

  it("comes up with one leader among its hubs, each taking the fleet's token and no other", async () => {
    expect(fleet.hubs).toHaveLength(2);
    const infos = await Promise.all(
      fleet.hubs.map(async (h) => (await h.api.request<{ leader: boolean }>("GET", "/v1/hub")).json),
    );
    expect(infos.filter((i) => i?.leader)).toHaveLength(1);
    const wrong = await fleet.hub.api.request("GET", "/v1/hub", undefined, { token: "x".repeat(32) });
    expect(wrong.status).toBe(401);
    expect(progress).toContain(`git: ${fleet.repo("web").url} (branches main)`);
    expect(progress.some((l) => l.includes("operator mode, TLS, CA "))).toBe(true);
  });

  it("registers a cluster with per-cluster NATS credentials in operator mode", async () => {
    const bundle = await fleet.hub.api.registerCluster("edge-1", { env: "dev" });
    // NATS's CA travels in the bundle: an agent needs nothing else to reach NATS over TLS.
    expect(bundle).toMatchObject({ cluster: "edge-1", natsUrl: fleet.nats.url, natsCa: fleet.nats.tls?.ca });
    expect(bundle.natsCa).toContain("BEGIN CERTIFICATE");
    expect(bundle.natsCreds).toContain("BEGIN NATS USER JWT");
  });

  it("keeps the hub's secrets out of its command line and its log", async () => {
    const hub = fleet.hub;
    const cmdline = await readFile(`/proc/${hub.process.pid}/cmdline`, "utf8");
    const environ = await readFile(`/proc/${hub.process.pid}/environ`, "utf8");
    for (const text of [cmdline, environ, await hub.process.log()]) expect(text).not.toContain(fleet.token);
  });

  it("stops every process it started and removes the directory it made", async () => {
    const pids = fleet.pids();
    expect(pids.length).toBeGreaterThanOrEqual(4);
    await fleet.stop();
    await until("every process of the fleet to be gone", () => pids.every((pid) => !isAlive(pid)));
    expect(existsSync(fleet.dir)).toBe(false);
  });
});

describe("fleet options", () => {
  it("refuses clusters without a hub to register them with, before starting anything", async () => {
    await expect(startFleet({ hubReplicas: 0, clusters: [{ name: "a" }] })).rejects.toThrow(FleetError);
  });
});
