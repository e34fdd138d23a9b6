import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiPath, HubClient, unreachableReason } from "./client.js";
import { BadRequestError, type CliError, HubUnreachableError, NotFoundError, UnauthorizedError } from "./errors.js";

/** A small HTTP server standing in for the hub's error and success bodies. */
let server: Server;
let base: string;
const seen: { method: string; url: string; auth?: string; type?: string; body: string }[] = [];

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((res) => {
    let b = "";
    req.on("data", (d: Buffer) => {
      b += d.toString();
    });
    req.on("end", () => res(b));
  });
}

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const body = await readBody(req);
    seen.push({
      method: req.method ?? "",
      url: req.url ?? "",
      auth: req.headers.authorization,
      type: req.headers["content-type"],
      body,
    });
    const send = (status: number, value: unknown, type = "application/json") => {
      res.writeHead(status, { "content-type": type });
      res.end(typeof value === "string" ? value : JSON.stringify(value));
    };
    if (req.url?.startsWith("/ok")) return send(200, { items: [] });
    if (req.url === "/gone") return send(204, "");
    if (req.url === "/bad")
      return send(400, { error: "invalid_request", message: "name: must be a DNS label", field: "name" });
    if (req.url === "/auth") return send(401, { error: "unauthorized", message: "wrong" });
    if (req.url === "/html") return send(502, "<html>\nBad Gateway\n</html>", "text/html");
    if (req.url === "/notjson") return send(200, "hello", "text/plain");
    return send(404, { error: "not_found", message: `cluster "x" does not exist` });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

function client(token?: string): HubClient {
  return new HubClient({
    baseUrl: base,
    hubSource: "--hub",
    ...(token ? { token } : {}),
    tokenSource: "FLOTILLA_TOKEN",
    configPath: "/c.yaml",
    timeoutMs: 5_000,
  });
}

describe("HubClient", () => {
  it("sends the bearer token, JSON or raw bodies, and query parameters without undefined ones", async () => {
    await client("s3cret").get("/ok", { app: "web", state: undefined });
    await client("s3cret").post("/ok", { text: "kind: Team", contentType: "application/yaml" });
    await client().put("/ok", { json: { a: 1 } });
    expect(seen.slice(-3)).toEqual([
      { method: "GET", url: "/ok?app=web", auth: "Bearer s3cret", type: undefined, body: "" },
      { method: "POST", url: "/ok", auth: "Bearer s3cret", type: "application/yaml", body: "kind: Team" },
      { method: "PUT", url: "/ok", auth: undefined, type: "application/json", body: '{"a":1}' },
    ]);
    expect(await client().delete("/gone")).toBeUndefined();
  });

  it("turns error statuses into typed one-line errors", async () => {
    const bad = await client()
      .get("/bad")
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(BadRequestError);
    expect((bad as BadRequestError).message).toBe("name: must be a DNS label (GET /bad)");
    expect((bad as BadRequestError).body.field).toBe("name");
    await expect(client("x").get("/auth")).rejects.toBeInstanceOf(UnauthorizedError);
    await expect(client().get("/v1/clusters/x")).rejects.toBeInstanceOf(NotFoundError);
    const proxy = (await client()
      .get("/html")
      .catch((e: unknown) => e)) as CliError;
    expect(proxy.message).toBe("the hub failed: <html> (GET /html)");
    expect(proxy.retryable).toBe(true);
    await expect(client().get("/notjson")).rejects.toThrow(/is not JSON: is --hub pointing at a Flotilla hub\?/);
  });

  it("says the hub is unreachable, with the reason and the address's source", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const c = new HubClient({
      baseUrl: `http://127.0.0.1:${port}`,
      hubSource: "FLOTILLA_HUB",
      tokenSource: "none",
      configPath: "/c",
      timeoutMs: 5_000,
    });
    const err = await c.get("/v1/clusters").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HubUnreachableError);
    expect((err as Error).message).toMatch(/\(connection refused; address from FLOTILLA_HUB\)/);
  });

  it("encodes every interpolated path value", () => {
    expect(apiPath`/v1/clusters/${"a/b?c"}/status`).toBe("/v1/clusters/a%2Fb%3Fc/status");
  });

  it("names timeouts and DNS failures in words", () => {
    expect(unreachableReason(Object.assign(new Error("t"), { name: "TimeoutError" }), 30_000)).toBe(
      "no answer within 30s",
    );
    expect(unreachableReason(new TypeError("fetch failed", { cause: { code: "ENOTFOUND" } }), 1)).toBe(
      "host not found",
    );
  });
});
