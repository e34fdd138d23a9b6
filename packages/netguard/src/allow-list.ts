/**
 * Hosts and networks an operator lets Git URLs reach although they are not public: a company's
 * Git server on a private network, or the local fleet's Git server on loopback. Entries are host
 * names (matched whole, case-insensitively), IP addresses or CIDR ranges.
 */
import ipaddr from "ipaddr.js";
import { parseAddress } from "./address.js";
import { AllowListError } from "./errors.js";

/** A parsed allow-list. */
export interface AllowList {
  /** Host names, lowercase, without a trailing dot. */
  readonly hosts: ReadonlySet<string>;
  readonly ranges: readonly [ipaddr.IPv4 | ipaddr.IPv6, number][];
}

export const EMPTY_ALLOW_LIST: AllowList = { hosts: new Set(), ranges: [] };

const HOST_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Lowercase, without brackets or a trailing dot. */
export function normalizeHost(host: string): string {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  return bare.toLowerCase().replace(/\.$/, "");
}

/** Parses entries (host names, addresses, CIDR ranges); throws AllowListError naming a bad one. */
export function parseAllowList(entries: readonly string[]): AllowList {
  const hosts = new Set<string>();
  const ranges: [ipaddr.IPv4 | ipaddr.IPv6, number][] = [];
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === "") continue;
    if (entry.includes("/")) {
      let range: [ipaddr.IPv4 | ipaddr.IPv6, number];
      try {
        range = ipaddr.parseCIDR(entry);
      } catch {
        throw new AllowListError(entry);
      }
      const [address, bits] = range;
      // A mapped IPv6 range is written for the IPv4 addresses inside it.
      ranges.push(
        address.kind() === "ipv6" && (address as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96
          ? [(address as ipaddr.IPv6).toIPv4Address(), bits - 96]
          : range,
      );
      continue;
    }
    const address = parseAddress(entry);
    if (address) {
      ranges.push([address, address.kind() === "ipv4" ? 32 : 128]);
      continue;
    }
    const host = normalizeHost(entry);
    if (!HOST_NAME.test(host)) throw new AllowListError(entry);
    hosts.add(host);
  }
  return { hosts, ranges };
}

/** Whether the list names host `host` (a name, not an address). */
export function admitsHost(list: AllowList, host: string): boolean {
  return list.hosts.has(normalizeHost(host));
}

/**
 * Whether the list admits `address`. `exact` asks for an entry naming that one address (a /32 or
 * /128), as cloud metadata endpoints do: a wide range written for a network does not admit them.
 */
export function admitsAddress(list: AllowList, address: ipaddr.IPv4 | ipaddr.IPv6, exact = false): boolean {
  return list.ranges.some(([net, bits]) => {
    if (net.kind() !== address.kind()) return false;
    if (exact && bits !== (address.kind() === "ipv4" ? 32 : 128)) return false;
    return address.match(net, bits);
  });
}

/** Why `entries` is not an allow-list (the AllowListError's line), or undefined when it is one. */
export function allowListProblem(entries: readonly string[]): string | undefined {
  try {
    parseAllowList(entries);
    return undefined;
  } catch (err) {
    if (err instanceof AllowListError) return err.message;
    throw err;
  }
}
