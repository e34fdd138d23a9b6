import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveEndpoints } from "./endpoints.js";
import { AgentMetrics } from "./metrics.js";
import type { Readiness } from "./readiness.js";

const readiness = (ready: boolean): Readiness => ({
  ready,
  checks: {
    kubernetes: { ok: ready, message: ready ? "API server answered 1s ago" : "API server unreachable: refused" },
    loop: { ok: true, message: "ran 1s ago" },
    nats: { ok: true, message: "connected" },
  },
});

describe("agent endpoints", () => {
  let ready = true;
  let base = "";
  let close: () => void = () => {};

  beforeAll(async () => {
    const metrics = new AgentMetrics("9.9.9");
    metrics.applies.inc({ app: "web" }, 3);
    const server = await serveEndpoints("127.0.0.1", 0, { metrics, readiness: () => readiness(ready) });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => server.close();
  });
  afterAll(() => close());

  it("/healthz answers 200 while the process runs", async () => {
    const res = await fetch(`${base}/healthz`);
    expect([res.status, await res.text()]).toEqual([200, "ok\n"]);
  });

  it("/readyz answers 200 when ready and 503 with the reason when not", async () => {
    ready = true;
    const yes = await fetch(`${base}/readyz`);
    expect(yes.status).toBe(200);
    expect(await yes.json()).toEqual(readiness(true));
    ready = false;
    const no = await fetch(`${base}/readyz?verbose`);
    expect(no.status).toBe(503);
    expect(((await no.json()) as Readiness).checks.kubernetes.message).toMatch(/unreachable/);
  });

  it("/metrics serves Prometheus text; anything else is 404", async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('flotilla_agent_applies_total{app="web"} 3');
    expect(text).toMatch(/^flotilla_build_info\{component="agent",version="9\.9\.9",commit="[^"]+"\} 1$/m);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });
});
