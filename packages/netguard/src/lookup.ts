/**
 * `lookup` functions for `net.connect`/`tls.connect` (and so for node:http, node:https and
 * undici's `connect` option) that hand the socket only addresses the rules passed: the socket
 * connects to the address checked, never to a second DNS answer, while the TLS server name and
 * the Host header stay the URL's host.
 */
import type { LookupFunction } from "node:net";
import { parseAddress } from "./address.js";
import { normalizeHost } from "./allow-list.js";
import { type RepoTarget, type Resolver, resolveTarget, systemResolver, type UrlRules } from "./rules.js";

type AllCallback = (err: NodeJS.ErrnoException | null, addresses: { address: string; family: number }[]) => void;

/** Answers a lookup with `addresses` (all of them, or the first one, as `opts.all` asks). */
function answer(opts: unknown, callback: Parameters<LookupFunction>[2], addresses: readonly string[]): void {
  const entries = addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  if ((opts as { all?: boolean }).all) (callback as unknown as AllCallback)(null, entries);
  else {
    const first = entries[0] as { address: string; family: number };
    callback(null, first.address, first.family);
  }
}

/** A lookup that answers every name with `addresses` (already checked). */
export function pinnedLookup(addresses: readonly string[]): LookupFunction {
  if (addresses.length === 0) throw new TypeError("pinnedLookup needs at least one address");
  return (_host, opts, callback) => answer(opts, callback, addresses);
}

/**
 * A lookup that resolves the name with `resolver` at connect time and checks every address
 * against `rules` (as {@link resolveRepoUrl} does), then hands the socket the checked addresses.
 * A refused address fails the connection with UrlRefusedError; a name that does not resolve
 * with ResolveError. For clients that resolve by themselves (undici's `connect.lookup`), so a
 * DNS answer that changed since an earlier check cannot send the connection elsewhere.
 */
export function guardedLookup(rules: UrlRules, resolver: Resolver = systemResolver): LookupFunction {
  return (hostname, opts, callback) => {
    const host = normalizeHost(hostname);
    const target: RepoTarget = {
      url: new URL(`https://${host.includes(":") ? `[${host}]` : host}`),
      display: host,
      host,
      literal: undefined,
    };
    const literal = parseAddress(host);
    const checked = literal
      ? // net skips lookups of addresses; answer one anyway, checked.
        resolveTarget(target, rules, { lookup: async () => [literal.toString()] })
      : resolveTarget(target, rules, resolver);
    checked.then(
      (addresses) => answer(opts, callback, addresses),
      (err: NodeJS.ErrnoException) => callback(err, "", 4),
    );
  };
}
