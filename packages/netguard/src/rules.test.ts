import { describe, expect, it } from "vitest";
import { parseAllowList } from "./allow-list.js";
import { AllowListError, ResolveError, UrlRefusedError } from "./errors.js";
import { checkRepoUrl, type Resolver, resolveRepoUrl, STRICT_RULES, type UrlRules } from "./rules.js";

/** DNS in a table; a name it lacks does not resolve. */
const resolver = (table: Record<string, string[]>): Resolver => ({
  async lookup(host) {
    const answer = table[host];
    if (!answer) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
    return answer;
  },
});
const DNS = resolver({
  localhost: ["127.0.0.1", "::1"],
  "git.example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
  "mixed.example.com": ["93.184.216.34", "10.0.0.7"],
  "git.internal": ["10.1.2.3"],
  "metadata.google.internal": ["169.254.169.254"],
  "evil.example.com": ["168.63.129.16"],
});
const HTTP: UrlRules = { ...STRICT_RULES, allowHttp: true };

async function reason(url: string, rules: UrlRules = HTTP): Promise<string> {
  const err = await resolveRepoUrl(url, rules, DNS).then(
    () => "allowed",
    (e: unknown) => e,
  );
  if (err === "allowed") return err;
  expect(err).toBeInstanceOf(UrlRefusedError);
  const message = (err as Error).message;
  expect(message.split("\n")).toHaveLength(1);
  return message;
}

describe("repository URL rules", () => {
  it.each([
    ["http://169.254.169.254/x", /a cloud metadata address \(169\.254\.169\.254\)/],
    ["https://localhost:6379/x", /localhost resolves to a loopback address \(127\.0\.0\.1\)/],
    ["https://0x7f000001/x", /a loopback address \(127\.0\.0\.1\)/],
    ["https://2130706433/x", /a loopback address \(127\.0\.0\.1\)/],
    ["https://0177.0.0.1/x", /a loopback address \(127\.0\.0\.1\)/],
    ["https://127.1/x", /a loopback address \(127\.0\.0\.1\)/],
    ["https://[::ffff:127.0.0.1]/x", /a loopback address \(127\.0\.0\.1\)/],
    ["https://[::1]/x", /a loopback address \(::1\)/],
    ["https://10.0.0.1/x", /a private address/],
    ["https://172.16.5.4/x", /a private address/],
    ["https://192.168.1.1/x", /a private address/],
    ["https://100.64.0.1/x", /a shared \(carrier-grade NAT\) address/],
    ["https://[fd12::1]/x", /a unique-local address/],
    ["https://[fe80::1]/x", /a link-local address/],
    ["https://0.0.0.0/x", /the unspecified address/],
    ["https://[64:ff9b::7f00:1]/x", /a reserved or special-purpose address/],
    ["https://168.63.129.16/x", /a cloud metadata address/],
    ["https://metadata.google.internal/x", /metadata\.google\.internal resolves to a cloud metadata address/],
    ["https://mixed.example.com/x", /mixed\.example\.com resolves to a private address \(10\.0\.0\.7\)/],
    ["https://user:hunter2@git.example.com/x", /carries credentials/],
    ["ssh://git@git.example.com/x", /scheme ssh: is not allowed/],
    ["file:///etc/passwd", /scheme file: is not allowed/],
    ["not a url", /it is not a URL/],
  ])("refuses %s", async (url, message) => {
    expect(await reason(url)).toMatch(message);
  });

  it("never shows credentials, queries or fragments of a refused URL", async () => {
    const message = await reason("https://user:hunter2@10.0.0.1/x?token=abc#frag");
    expect(message).not.toMatch(/hunter2|token|abc|frag/);
  });

  it("refuses plain HTTP unless allowed", async () => {
    expect(await reason("http://git.example.com/x", STRICT_RULES)).toMatch(/plain HTTP is not allowed; use https/);
    expect(await reason("http://git.example.com/x", HTTP)).toBe("allowed");
  });

  it.each([
    ["https://git.example.com/org/repo.git", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]],
    ["https://8.8.8.8/repo.git", ["8.8.8.8"]],
  ])("allows %s and gives the checked addresses", async (url, addresses) => {
    expect((await resolveRepoUrl(url, STRICT_RULES, DNS)).addresses).toEqual(addresses);
  });

  it("says when a name does not resolve", async () => {
    const err = await resolveRepoUrl("https://nowhere.example.com/x", STRICT_RULES, DNS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResolveError);
    expect((err as Error).message).toBe("cannot resolve nowhere.example.com (ENOTFOUND)");
  });

  it("checks what it can without the network", () => {
    expect(() => checkRepoUrl("https://0x7f000001/x", STRICT_RULES)).toThrow(/loopback/);
    expect(checkRepoUrl("https://localhost/x", STRICT_RULES).host).toBe("localhost");
  });
});

describe("allow-list", () => {
  const rules = (entries: string[]): UrlRules => ({ allowHttp: true, allowed: parseAllowList(entries) });

  it.each([
    [["127.0.0.1"], "http://127.0.0.1:3000/x", "allowed"],
    [["127.0.0.1"], "http://127.0.0.2:3000/x", "refused"],
    [["127.0.0.0/8"], "http://127.0.0.2:3000/x", "allowed"],
    [["127.0.0.0/8"], "http://0x7f000001/x", "allowed"],
    [["::ffff:127.0.0.0/104"], "http://127.0.0.9/x", "allowed"],
    [["localhost"], "https://localhost:6379/x", "allowed"],
    [["LOCALHOST."], "https://localhost/x", "allowed"],
    [["git.internal"], "https://git.internal/x", "allowed"],
    [["10.0.0.0/8"], "https://git.internal/x", "allowed"],
    [["git.internal"], "https://10.1.2.3/x", "refused"],
    [["169.254.0.0/16"], "http://169.254.169.254/x", "refused"],
    [["169.254.169.254"], "http://169.254.169.254/x", "allowed"],
    [["metadata.google.internal"], "http://metadata.google.internal/x", "refused"],
    [["evil.example.com"], "https://evil.example.com/x", "refused"],
  ])("%j: %s is %s", async (entries, url, outcome) => {
    const result = await reason(url, rules(entries));
    expect(result === "allowed" ? "allowed" : "refused").toBe(outcome);
  });

  it.each(["10.0.0.0/33", "bad host!", "http://x"])("refuses the entry %j", (entry) => {
    expect(() => parseAllowList([entry])).toThrow(AllowListError);
  });

  it("ignores blank entries", () => {
    expect(parseAllowList(["", " "]).ranges).toEqual([]);
  });
});
