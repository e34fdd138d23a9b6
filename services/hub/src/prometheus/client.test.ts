import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MetricQueryError, PrometheusClient } from "./client.js";

/** A Prometheus-shaped HTTP server on loopback that records the Authorization header of each query. */
describe("PrometheusClient credentials", () => {
  let server: Server;
  let url: string;
  const seen: (string | undefined)[] = [];
  /** The only header this server accepts; anything else is 401, as Prometheus's web config answers. */
  let accepted: string | undefined;

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      seen.push(req.headers.authorization);
      if (accepted !== undefined && req.headers.authorization !== accepted) {
        res.writeHead(401, { "content-type": "text/plain" });
        res.end("Unauthorized\n");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: "success", data: { resultType: "vector", result: [{ value: [0, "0.25"] }] } }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  const cases: {
    name: string;
    token?: string;
    credentials?: Parameters<PrometheusClient["query"]>[1];
    header: string | undefined;
  }[] = [
    { name: "none", header: undefined },
    { name: "the hub's token", token: "hub-token", header: "Bearer hub-token" },
    {
      name: "an environment's bearer token over the hub's",
      token: "hub-token",
      credentials: { bearerToken: "env-token" },
      header: "Bearer env-token",
    },
    {
      name: "an environment's basic auth",
      credentials: { username: "tenant-a", password: "p:w" },
      header: `Basic ${Buffer.from("tenant-a:p:w").toString("base64")}`,
    },
  ];
  it.each(cases)("sends $name", async ({ token, credentials, header }) => {
    accepted = undefined;
    seen.length = 0;
    const client = new PrometheusClient({ url, timeoutMs: 5_000, ...(token ? { token } : {}) });
    expect(await client.query("up", credentials)).toBe(0.25);
    expect(seen).toEqual([header]);
  });

  it("refused credentials: a MetricQueryError that names the setting, not the secret", async () => {
    accepted = "Bearer right";
    const client = new PrometheusClient({ url, timeoutMs: 5_000 });
    const err = await client.query("up", { bearerToken: "wrong-secret" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MetricQueryError);
    expect((err as Error).message).toBe(
      "Prometheus refused the hub's credentials (HTTP 401); check the environment's prometheusCredentials or FLOTILLA_HUB_PROMETHEUS_TOKEN",
    );
    expect((err as Error).message).not.toContain("wrong-secret");
  });
});
