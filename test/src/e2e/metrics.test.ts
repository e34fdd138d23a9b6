/**
 * Metrics an operator can alert on, end to end: the hub and one agent as their built commands
 * on a Kubernetes fixture cluster, real nats-server and redis-server. Both `/metrics` outputs
 * pass promlint (client_golang's linter, what `promtool check metrics` runs; built by
 * scripts/fixtures.sh); the hub names each cluster's state and each (cluster, app); and an agent
 * cut off from NATS (the server killed) turns its `/readyz` 503 and its NATS gauge 0, and both
 * recover when NATS is back.
 */
import { spawn } from "node:child_process";
import { binPath, type Fleet, startFleet, waitsOf } from "@flotilla/devfleet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const until = waitsOf(60_000, 200);

/** Runs promlint over a metrics text; resolves with its exit code and output. */
function promlint(text: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(binPath("promlint"), [], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, out }));
    child.stdin.end(text);
  });
}

describe("metrics and readiness an operator can alert on", () => {
  let fleet: Fleet;
  let agentUrl: string;

  beforeAll(async () => {
    fleet = await startFleet({
      clusters: [{ name: "one", labels: { env: "prod" } }],
      hubEnv: { FLOTILLA_HEARTBEAT_INTERVAL: "1s", FLOTILLA_LOG_LEVEL: "warn" },
      agentEnv: { FLOTILLA_HEARTBEAT_INTERVAL: "1", FLOTILLA_LOG_LEVEL: "warn" },
    });
    agentUrl = fleet.cluster("one").agent?.endpoints ?? "";
    expect(agentUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  }, 300_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  it("hub and agent metrics pass promlint; the hub names each cluster's state", async () => {
    const hub = await (await fetch(`${fleet.hub.url}/metrics`)).text();
    const agent = await (await fetch(`${agentUrl}/metrics`)).text();
    const lint = [await promlint(hub), await promlint(agent)];
    expect(lint.map((l) => l.out)).toEqual(["", ""]);
    expect(lint.map((l) => l.code)).toEqual([0, 0]);
    expect(hub).toContain('flotilla_cluster_state{cluster="one",state="Ready"} 1');
    expect(hub).toContain("flotilla_hub_nats_connected 1");
    expect(agent).toContain("flotilla_agent_nats_connected 1");
  });

  it("turns the agent unready with its NATS gauge 0 while NATS is down, and back when it returns", async () => {
    const ready = async () => {
      const res = await fetch(`${agentUrl}/readyz`);
      const body = (await res.json()) as { checks: { nats: { ok: boolean; message: string } } };
      const metrics = await (await fetch(`${agentUrl}/metrics`)).text();
      return {
        status: res.status,
        nats: body.checks.nats,
        gauge: /^flotilla_agent_nats_connected (\d)$/m.exec(metrics)?.[1],
      };
    };
    expect((await ready()).status).toBe(200);
    // Killed, not stopped: stop() is the end of the fleet and removes the server's directory.
    await fleet.nats.kill();
    try {
      const down = await until("the agent unready", async () => {
        const r = await ready();
        return r.status === 503 ? r : undefined;
      });
      expect(down.gauge).toBe("0");
      expect(down.nats.message).toMatch(/^cannot reach NATS since/);
    } finally {
      await fleet.nats.start();
    }
    // Both recover: the probe answers 200 and the gauge reads 1 again, in one read of each.
    const up = await until("the agent ready again, its gauge 1", async () => {
      const r = await ready();
      return r.status === 200 && r.gauge === "1" ? r : undefined;
    });
    expect(up.nats.ok).toBe(true);
  }, 120_000);
});
