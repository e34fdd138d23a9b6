import type { LookupFunction } from "node:net";
import { describe, expect, it } from "vitest";
import { parseAllowList } from "./allow-list.js";
import { ResolveError, UrlRefusedError } from "./errors.js";
import { guardedLookup, pinnedLookup } from "./lookup.js";
import { type Resolver, STRICT_RULES } from "./rules.js";

const DNS: Resolver = {
  async lookup(host) {
    const table: Record<string, string[]> = {
      "hooks.example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
      "rebound.example.com": ["93.184.216.34", "127.0.0.1"],
      "hooks.internal": ["10.1.2.3"],
    };
    const answer = table[host];
    if (!answer) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
    return answer;
  },
};

/** What `lookup` hands a socket, as `net.connect` asks with and without `all`. */
function ask(lookup: LookupFunction, host: string, all: boolean): Promise<unknown> {
  return new Promise((resolve, reject) =>
    lookup(host, { all }, (err, address, family) => (err ? reject(err) : resolve(all ? address : { address, family }))),
  );
}

describe("guardedLookup", () => {
  it("hands over the checked addresses of a public name", async () => {
    const lookup = guardedLookup(STRICT_RULES, DNS);
    expect(await ask(lookup, "hooks.example.com", true)).toEqual([
      { address: "93.184.216.34", family: 4 },
      { address: "2606:2800:220:1:248:1893:25c8:1946", family: 6 },
    ]);
    expect(await ask(lookup, "HOOKS.example.com.", false)).toEqual({ address: "93.184.216.34", family: 4 });
  });

  it("fails the connection when any answer is refused", async () => {
    const err = await ask(guardedLookup(STRICT_RULES, DNS), "rebound.example.com", true).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UrlRefusedError);
    expect((err as UrlRefusedError).reason).toMatch(
      /rebound\.example\.com resolves to a loopback address \(127\.0\.0\.1\)/,
    );
  });

  it("admits what the allow-list admits, and says when a name does not resolve", async () => {
    const loose = { allowHttp: false, allowed: parseAllowList(["hooks.internal"]) };
    expect(await ask(guardedLookup(loose, DNS), "hooks.internal", false)).toEqual({ address: "10.1.2.3", family: 4 });
    await expect(ask(guardedLookup(STRICT_RULES, DNS), "hooks.internal", false)).rejects.toThrow(/a private address/);
    await expect(ask(guardedLookup(STRICT_RULES, DNS), "nowhere.example.com", false)).rejects.toThrow(ResolveError);
  });

  it("checks an address given as the host", async () => {
    await expect(ask(guardedLookup(STRICT_RULES, DNS), "127.0.0.1", false)).rejects.toThrow(/loopback/);
    await expect(ask(guardedLookup(STRICT_RULES, DNS), "::1", false)).rejects.toThrow(/loopback/);
  });
});

describe("pinnedLookup", () => {
  it("answers every name with the pinned addresses", async () => {
    const lookup = pinnedLookup(["10.0.0.1", "fd00::1"]);
    expect(await ask(lookup, "anything.example.com", true)).toEqual([
      { address: "10.0.0.1", family: 4 },
      { address: "fd00::1", family: 6 },
    ]);
    expect(await ask(lookup, "other", false)).toEqual({ address: "10.0.0.1", family: 4 });
    expect(() => pinnedLookup([])).toThrow(/at least one address/);
  });
});
