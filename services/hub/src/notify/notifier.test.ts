import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { parseAllowList, type Resolver, STRICT_RULES, type UrlRules } from "@flotilla/netguard";
import { AbortError } from "p-retry";
import type { Agent } from "undici";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { postNotification, receiverDispatcher } from "./notifier.js";

/** A receiver on loopback that records every request; `/redirect` sends the client to a metadata address. */
let server: Server;
let port: number;
const requests: { url: string; host: string | undefined; body: string; headers: IncomingHttpHeaders }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => {
      body += c.toString("utf8");
    });
    req.on("end", () => {
      requests.push({ url: req.url ?? "", host: req.headers.host, body, headers: req.headers });
      if (req.url === "/redirect") res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data/" }).end();
      else res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

let dispatcher: Agent | undefined;
afterEach(async () => {
  await dispatcher?.destroy();
  dispatcher = undefined;
  requests.length = 0;
});

/** DNS that answers `answers[i]` to the i-th lookup (the last one after that), and counts lookups. */
function rebinding(...answers: string[][]): Resolver & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async lookup(host) {
      calls.push(host);
      return answers[Math.min(calls.length - 1, answers.length - 1)] as string[];
    },
  };
}

const HEADERS = { "content-type": "application/json" };

function post(url: string, rules: UrlRules, resolver: Resolver): Promise<number> {
  dispatcher = receiverDispatcher(rules, resolver);
  return postNotification("ops", url, '{"event":"rollout-failed"}', HEADERS, {
    rules,
    resolver,
    dispatcher,
    signal: AbortSignal.timeout(5_000),
  });
}

describe("postNotification", () => {
  const http: UrlRules = { ...STRICT_RULES, allowHttp: true };

  it("connects only to an address that passed the rules, although DNS changed after the check", async () => {
    // Public when the URL is checked, loopback when fetch resolves the name to connect: rebinding.
    const dns = rebinding(["93.184.216.34"], ["127.0.0.1"]);
    const err = await post(`http://hooks.example.com:${port}/hook`, http, dns).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as Error).message).toMatch(
      /the URL is refused: hooks\.example\.com resolves to a loopback address \(127\.0\.0\.1\).*FLOTILLA_NOTIFY_ALLOWED_HOSTS/,
    );
    expect(dns.calls).toEqual(["hooks.example.com", "hooks.example.com"]);
    expect(requests).toEqual([]);
  });

  it("refuses to follow a redirect, and does not reach its target", async () => {
    const loopback: UrlRules = { allowHttp: true, allowed: parseAllowList(["127.0.0.1"]) };
    const dns = rebinding(["127.0.0.1"]);
    const err = await post(`http://127.0.0.1:${port}/redirect`, loopback, dns).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as Error).message).toMatch(
      /receiver ops answered with a redirect \(HTTP 302\); redirects are not followed/,
    );
    expect((err as Error).message).not.toMatch(/169\.254/);
    expect(requests.map((r) => r.url)).toEqual(["/redirect"]);
  });

  it("refuses a receiver on loopback under the strict rules before connecting", async () => {
    const err = await post(`http://127.0.0.1:${port}/hook`, http, rebinding(["127.0.0.1"])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as Error).message).toMatch(/a loopback address \(127\.0\.0\.1\)/);
    expect(requests).toEqual([]);
  });

  it("delivers to a loopback receiver the hub's setting allows, by address and by name", async () => {
    const byAddress: UrlRules = { allowHttp: true, allowed: parseAllowList(["127.0.0.1"]) };
    expect(await post(`http://127.0.0.1:${port}/hook`, byAddress, rebinding(["127.0.0.1"]))).toBe(204);
    await dispatcher?.destroy();
    const byName: UrlRules = { allowHttp: true, allowed: parseAllowList(["hooks.internal"]) };
    const dns = rebinding(["127.0.0.1"]);
    expect(await post(`http://hooks.internal:${port}/named`, byName, dns)).toBe(204);
    expect(dns.calls).toEqual(["hooks.internal", "hooks.internal"]);
    expect(requests.map((r) => [r.url, r.host, r.body])).toEqual([
      ["/hook", `127.0.0.1:${port}`, '{"event":"rollout-failed"}'],
      ["/named", `hooks.internal:${port}`, '{"event":"rollout-failed"}'],
    ]);
  });
});
