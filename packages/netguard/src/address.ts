/**
 * What kind of address an IP is, for deciding whether a Git URL may reach it. Every textual form
 * an attacker might use for the same address (`0x7f000001`, `2130706433`, `0177.0.0.1`, `127.1`,
 * `::ffff:127.0.0.1`) is parsed by ipaddr.js to the one address it denotes, and IPv4-mapped IPv6
 * addresses are judged as the IPv4 address they carry.
 */
import ipaddr from "ipaddr.js";

/** An address kind. Only `public` addresses are reachable unless an allow-list admits others. */
export type AddressClass =
  | "public"
  | "loopback"
  | "private"
  | "link-local"
  | "metadata"
  | "shared"
  | "unique-local"
  | "unspecified"
  | "multicast"
  | "special";

/**
 * Cloud instance metadata endpoints. Most are link-local or shared (CGNAT) already; Azure's
 * wire server is a public address, so it is named here.
 */
export const METADATA_ADDRESSES: readonly string[] = [
  "169.254.169.254",
  "169.254.170.2",
  "169.254.170.23",
  "168.63.129.16",
  "100.100.100.200",
  "fd00:ec2::254",
  "fd00:ec2::23",
];

const metadata = new Set(METADATA_ADDRESSES.map((a) => ipaddr.process(a).toString()));

/** The address `text` denotes (any IPv4 or IPv6 form, brackets allowed), or undefined when it is not one. */
export function parseAddress(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  try {
    return ipaddr.process(bare);
  } catch {
    return undefined;
  }
}

/** The kind of `address` (already parsed). */
export function classify(address: ipaddr.IPv4 | ipaddr.IPv6): AddressClass {
  if (metadata.has(address.toString())) return "metadata";
  const range = address.range();
  switch (range) {
    case "unicast":
      return "public";
    case "loopback":
      return "loopback";
    case "private":
      return "private";
    case "linkLocal":
      return "link-local";
    case "carrierGradeNat":
      return "shared";
    case "uniqueLocal":
      return "unique-local";
    case "unspecified":
      return "unspecified";
    case "multicast":
    case "broadcast":
      return "multicast";
    default:
      // NAT64, 6to4 and Teredo embed IPv4 addresses; documentation and reserved ranges are nobody's.
      return "special";
  }
}

/** The kind of the address `text`, or undefined when `text` is not an address. */
export function classifyAddress(text: string): AddressClass | undefined {
  const address = parseAddress(text);
  return address ? classify(address) : undefined;
}

const DESCRIPTIONS: Record<AddressClass, string> = {
  public: "a public address",
  loopback: "a loopback address",
  private: "a private address",
  "link-local": "a link-local address",
  metadata: "a cloud metadata address",
  shared: "a shared (carrier-grade NAT) address",
  "unique-local": "a unique-local address",
  unspecified: "the unspecified address",
  multicast: "a multicast or broadcast address",
  special: "a reserved or special-purpose address",
};

/** `a loopback address`, for messages. */
export function describeClass(c: AddressClass): string {
  return DESCRIPTIONS[c];
}
