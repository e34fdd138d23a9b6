/**
 * @flotilla/netguard — which Git URLs the hub and the agents may reach, decided the same way at
 * both ends: the URL and address rules, the DNS check, and an HTTP client for isomorphic-git that
 * pins checked addresses, follows no redirect and never surfaces a server's answer.
 */
export { type AddressClass, classifyAddress, describeClass, METADATA_ADDRESSES } from "./address.js";
export { type AllowList, admitsHost, allowListProblem, EMPTY_ALLOW_LIST, parseAllowList } from "./allow-list.js";
export * from "./errors.js";
export {
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_RESPONSE_BYTES,
  describeGitError,
  type GitHttpClient,
  type GitHttpRequest,
  type GitHttpResponse,
  type GuardedHttpOptions,
  guardedGitHttp,
} from "./http.js";
export { guardedLookup, pinnedLookup } from "./lookup.js";
export {
  checkRepoUrl,
  GIT_RULE_SETTINGS,
  type RepoTarget,
  type Resolver,
  type RuleSettings,
  resolveRepoUrl,
  resolveTarget,
  STRICT_RULES,
  systemResolver,
  type UrlRules,
} from "./rules.js";
