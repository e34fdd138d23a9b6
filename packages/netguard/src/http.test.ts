import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import git from "isomorphic-git";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllowList } from "./allow-list.js";
import { ResponseTooLargeError, UnreachableError, UrlRefusedError } from "./errors.js";
import { describeGitError, guardedGitHttp } from "./http.js";
import type { UrlRules } from "./rules.js";

const SECRET = "internal-secret-4711";

/** A server on loopback that answers by path and records every request. */
function serve(): Promise<{ server: Server; port: number; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (req.url?.startsWith("/redirect")) {
      res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data/" }).end();
    } else if (req.url?.startsWith("/error")) {
      res.writeHead(500, `Broken ${SECRET}`).end(`stack trace with ${SECRET}`);
    } else if (req.url?.startsWith("/html")) {
      res.writeHead(200, { "content-type": "text/html" }).end(`<html>${SECRET}</html>`);
    } else if (req.url?.startsWith("/big")) {
      res.writeHead(200).end("x".repeat(4096));
    } else {
      res.writeHead(200, { "content-type": "text/plain" }).end("hello");
    }
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as AddressInfo).port, requests })),
  );
}

async function text(body: AsyncIterableIterator<Uint8Array>): Promise<string> {
  let out = "";
  for await (const chunk of body) out += Buffer.from(chunk).toString("utf8");
  return out;
}

let s: Awaited<ReturnType<typeof serve>>;
beforeAll(async () => {
  s = await serve();
});
afterAll(() => s.server.close());

const LOOPBACK: UrlRules = { allowHttp: true, allowed: parseAllowList(["127.0.0.1"]) };
/** Names that do not exist in any DNS: only the test resolver knows them. */
const resolver = { lookup: async (host: string) => (host === "git.test" ? ["127.0.0.1"] : ["203.0.113.9"]) };

describe("guardedGitHttp", () => {
  it("answers from an allowed server, connecting to the address it checked", async () => {
    const client = guardedGitHttp({ rules: LOOPBACK, resolver });
    const res = await client.request({ url: `http://git.test:${s.port}/ok` });
    expect([res.statusCode, await text(res.body)]).toEqual([200, "hello"]);
  });

  it("refuses a loopback server that is not allowed, sending nothing", async () => {
    const before = s.requests.length;
    const client = guardedGitHttp({ rules: { allowHttp: true, allowed: parseAllowList([]) }, resolver });
    await expect(client.request({ url: `http://127.0.0.1:${s.port}/ok` })).rejects.toThrow(/a loopback address/);
    expect(s.requests.length).toBe(before);
  });

  it("follows no redirect and does not name its target", async () => {
    const err = await guardedGitHttp({ rules: LOOPBACK, resolver })
      .request({ url: `http://127.0.0.1:${s.port}/redirect` })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UrlRefusedError);
    expect((err as Error).message).toMatch(/redirect \(HTTP 302\); redirects are not followed/);
    expect((err as Error).message).not.toMatch(/169\.254/);
  });

  it("hands over no body and no status text of an error answer", async () => {
    const res = await guardedGitHttp({ rules: LOOPBACK, resolver }).request({
      url: `http://127.0.0.1:${s.port}/error`,
    });
    expect([res.statusCode, res.statusMessage, await text(res.body)]).toEqual([500, "Internal Server Error", ""]);
  });

  it("caps the answer", async () => {
    const res = await guardedGitHttp({ rules: LOOPBACK, resolver, maxResponseBytes: 1024 }).request({
      url: `http://127.0.0.1:${s.port}/big`,
    });
    await expect(text(res.body)).rejects.toThrow(ResponseTooLargeError);
  });

  it.each(["/error", "/html", "/redirect"])("leaves what %s sent out of isomorphic-git's errors", async (path) => {
    const err = await git
      .listServerRefs({ http: guardedGitHttp({ rules: LOOPBACK, resolver }), url: `http://127.0.0.1:${s.port}${path}` })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    const line = describeGitError(err);
    expect(line).not.toContain(SECRET);
    expect(line.split("\n")).toHaveLength(1);
    expect(line).toMatch(/HTTP 500|smart HTTP|redirect/);
  });
});

describe("guardedGitHttp when nobody answers", () => {
  it("says the server cannot be reached, as an error that may pass", async () => {
    const err = await guardedGitHttp({ rules: LOOPBACK, resolver })
      .request({ url: "http://127.0.0.1:1/x" })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnreachableError);
    expect((err as Error).message).toBe("cannot reach http://127.0.0.1:1/x: ECONNREFUSED");
  });
});
