/**
 * The rules a Git repository URL must pass before the hub or an agent sends it a request:
 *
 * - `https:` only, or `http:` where plain HTTP is allowed (the local fleet's Git server);
 * - no credentials in the URL (they would be stored and logged with it);
 * - the host, and every address its name resolves to, must be public: loopback, private,
 *   link-local, cloud metadata, shared (CGNAT), unique-local and special-purpose addresses are
 *   refused unless the allow-list admits them (a host name entry admits whatever that name
 *   resolves to; metadata addresses only by an entry naming that exact address).
 *
 * The name is resolved, and the addresses checked, before every use: DNS can change between the
 * time a repository is saved and the time it is read. The HTTP client of `http.ts` then connects
 * to the address checked, so a second answer from DNS cannot redirect it.
 */
import { lookup } from "node:dns/promises";
import type ipaddr from "ipaddr.js";
import { classify, describeClass, parseAddress } from "./address.js";
import { type AllowList, admitsAddress, admitsHost, EMPTY_ALLOW_LIST, normalizeHost } from "./allow-list.js";
import { ResolveError, UrlRefusedError } from "./errors.js";

/** What Git URLs may reach. */
export interface UrlRules {
  /** Allow `http:` as well as `https:`. @default false */
  allowHttp: boolean;
  /** Non-public hosts and networks that may be reached. @default none */
  allowed: AllowList;
  /**
   * The settings that loosen these rules, named in refusals: the Git ones by default; the hub's
   * notification receivers pass their own. @default {@link GIT_RULE_SETTINGS}
   */
  settings?: RuleSettings;
}

/** The names of the two settings that loosen a set of rules, as an operator sets them. */
export interface RuleSettings {
  allowHttp: string;
  allowedHosts: string;
}

/** The Git URL rules' settings, shared by the hub and the agents. */
export const GIT_RULE_SETTINGS: RuleSettings = {
  allowHttp: "FLOTILLA_GIT_ALLOW_HTTP",
  allowedHosts: "FLOTILLA_GIT_ALLOWED_HOSTS",
};

/** The strict rules: HTTPS to public addresses only. */
export const STRICT_RULES: UrlRules = { allowHttp: false, allowed: EMPTY_ALLOW_LIST };

/** A URL that passed the syntactic rules. */
export interface RepoTarget {
  url: URL;
  /** The URL fit to show: without credentials, query or fragment. */
  display: string;
  /** Host name or address, lowercase, without brackets. */
  host: string;
  /** The address when the host is one (any of its textual forms). */
  literal: ipaddr.IPv4 | ipaddr.IPv6 | undefined;
}

/** How the system resolves names; tests give their own. */
export interface Resolver {
  /** Every address `host` resolves to. Rejects with an error carrying a DNS `code` (ENOTFOUND...). */
  lookup(host: string): Promise<string[]>;
}

/** The system resolver (getaddrinfo, as connections use). */
export const systemResolver: Resolver = {
  async lookup(host) {
    const answers = await lookup(host, { all: true, verbatim: true });
    return answers.map((a) => a.address);
  },
};

/** `https://host/path` of a URL string, without credentials; the input itself when it does not parse. */
function displayOf(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/**
 * Checks what can be checked without the network: scheme, credentials, and a host given as an
 * address. Throws UrlRefusedError with the reason.
 */
export function checkRepoUrl(text: string, rules: UrlRules): RepoTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UrlRefusedError(JSON.stringify(text.slice(0, 200)), "it is not a URL");
  }
  const display = displayOf(url);
  if (url.protocol === "http:" && !rules.allowHttp) {
    throw new UrlRefusedError(
      display,
      `plain HTTP is not allowed; use https (${(rules.settings ?? GIT_RULE_SETTINGS).allowHttp}=true allows http)`,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new UrlRefusedError(display, `scheme ${url.protocol} is not allowed; use https`);
  }
  if (url.username || url.password) {
    throw new UrlRefusedError(display, "it carries credentials; store them as Git credentials instead");
  }
  const host = normalizeHost(url.hostname);
  if (!host) throw new UrlRefusedError(display, "it has no host");
  const literal = parseAddress(url.hostname);
  const target = { url, display, host, literal };
  if (literal) checkAddress(target, literal, rules);
  return target;
}

/** Throws UrlRefusedError when `address` (of `target`'s host) may not be reached. */
export function checkAddress(target: RepoTarget, address: ipaddr.IPv4 | ipaddr.IPv6, rules: UrlRules): void {
  const c = classify(address);
  if (c === "public") return;
  if (c === "metadata" ? admitsAddress(rules.allowed, address, true) : admitsAddress(rules.allowed, address)) return;
  const resolved = target.literal ? "" : `${target.host} resolves to `;
  throw new UrlRefusedError(
    target.display,
    `${resolved}${describeClass(c)} (${address.toString()}); only public addresses are allowed unless ${(rules.settings ?? GIT_RULE_SETTINGS).allowedHosts} admits it`,
  );
}

/**
 * Checks `text` fully: the syntactic rules, then every address its host resolves to. Resolves
 * the target and the addresses to connect to (the checked ones). Throws UrlRefusedError, or
 * ResolveError when the name does not resolve.
 */
export async function resolveRepoUrl(
  text: string,
  rules: UrlRules,
  resolver: Resolver = systemResolver,
): Promise<{ target: RepoTarget; addresses: string[] }> {
  const target = checkRepoUrl(text, rules);
  if (target.literal) return { target, addresses: [target.literal.toString()] };
  return { target, addresses: await resolveTarget(target, rules, resolver) };
}

/**
 * Resolves `target`'s host (a name) and checks every address it resolves to. Resolves the
 * addresses to connect to (the checked ones). Throws UrlRefusedError when one is refused, or
 * ResolveError when the name does not resolve.
 */
export async function resolveTarget(target: RepoTarget, rules: UrlRules, resolver: Resolver): Promise<string[]> {
  let answers: string[];
  try {
    answers = await resolver.lookup(target.host);
  } catch (err) {
    throw new ResolveError(target.host, String((err as { code?: string }).code ?? "no answer"));
  }
  if (answers.length === 0) throw new ResolveError(target.host, "no address");
  const named = admitsHost(rules.allowed, target.host);
  const addresses: string[] = [];
  for (const answer of answers) {
    const address = parseAddress(answer);
    if (!address) throw new ResolveError(target.host, "not an address");
    // A name the operator trusts admits what it resolves to, except a metadata endpoint.
    if (!named || classify(address) === "metadata") checkAddress(target, address, rules);
    addresses.push(address.toString());
  }
  return addresses;
}
