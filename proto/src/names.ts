import { InvalidNameError } from "./errors.js";

/** KV bucket holding the hub's desired state per `<cluster>.<app>`. */
export const DESIRED_BUCKET = "flotilla_desired";
/** KV bucket holding the agents' reports per `<cluster>.<app>`. */
export const STATUS_BUCKET = "flotilla_status";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** True when `value` is an RFC 1123 DNS label (what Kubernetes calls a DNS label name). */
export function isDnsLabel(value: string): boolean {
  return DNS_LABEL.test(value);
}

/**
 * Returns `value` if it is a DNS label, else throws InvalidNameError naming `kind`.
 * Names become NATS subject tokens and KV keys, so anything else is refused at the edge.
 */
export function checkName(kind: string, value: string): string {
  if (!isDnsLabel(value)) throw new InvalidNameError(kind, value);
  return value;
}

/** KV key of one app on one cluster, in both buckets. */
export function stateKey(cluster: string, app: string): string {
  return `${checkName("cluster", cluster)}.${checkName("app", app)}`;
}

/** Splits a `<cluster>.<app>` key; throws InvalidNameError when it is not one. */
export function parseStateKey(key: string): { cluster: string; app: string } {
  const parts = key.split(".");
  if (parts.length !== 2) throw new InvalidNameError("state key", key);
  const [cluster = "", app = ""] = parts;
  return { cluster: checkName("cluster", cluster), app: checkName("app", app) };
}

/**
 * Last token of the desired-bucket key under which the hub keeps its key set for a cluster. It
 * starts with `_`, which no app name (a DNS label) can, so it never names an app; and it sits
 * under the cluster's own prefix, which the cluster's credentials already let it watch.
 */
export const HUB_KEY_SET_TOKEN = "_hub-keys";

/** Desired-bucket key of the hub key set kept for one cluster: `<cluster>._hub-keys`. */
export function hubKeySetKey(cluster: string): string {
  return `${checkName("cluster", cluster)}.${HUB_KEY_SET_TOKEN}`;
}

/** Whether a desired-bucket key is a cluster's hub key set rather than an app's desired state. */
export function isHubKeySetKey(key: string): boolean {
  return key.endsWith(`.${HUB_KEY_SET_TOKEN}`);
}

/** KV watch filter for every app of one cluster. */
export function clusterKeyFilter(cluster: string): string {
  return `${checkName("cluster", cluster)}.>`;
}

/** Subject prefix of heartbeats; the hub subscribes to `flotilla.hb.*`. */
export const HEARTBEAT_PREFIX = "flotilla.hb";

/** Subject on which one cluster's agent publishes heartbeats. */
export function heartbeatSubject(cluster: string): string {
  return `${HEARTBEAT_PREFIX}.${checkName("cluster", cluster)}`;
}

/** Subject on which one cluster's agent answers on-demand commands from the hub. */
export function rpcSubject(cluster: string): string {
  return `flotilla.agent.${checkName("cluster", cluster)}.rpc`;
}

/** Prefix of the subjects agents ask the hub for new NATS credentials on. */
export const CREDS_PREFIX = "flotilla.creds";

/** Subject a cluster's agent sends its credentials requests to (answered by the hub). */
export function credsSubject(cluster: string): string {
  return `${CREDS_PREFIX}.${checkName("cluster", cluster)}`;
}

/**
 * Reply subjects of a cluster's credentials requests (`<prefix>.<id>`): under `flotilla.`, which
 * the hub's user may publish to, and subscribable by that cluster alone.
 */
export function credsReplyPrefix(cluster: string): string {
  return `${credsSubject(cluster)}.reply`;
}

/** Inbox prefix a cluster's connection must use, so replies to it stay private to it. */
export function inboxPrefix(cluster: string): string {
  return `_INBOX_${checkName("cluster", cluster)}`;
}

/**
 * Most status keys a cluster user's JWT lists one by one; a cluster assigned more apps may write
 * any key under its name (bounded then by the buckets' byte limits only). The JWT travels in the
 * client's CONNECT line, which nats-server caps at `max_control_line` (4 KiB by default: about
 * 25 apps with long names); `natsServerConfig` raises it to {@link NATS_MAX_CONTROL_LINE}, which
 * holds this many keys of the longest names (63-character cluster and app) with room to spare.
 */
export const MAX_LISTED_STATUS_KEYS = 200;

/** `max_control_line` nats-server needs for a JWT listing {@link MAX_LISTED_STATUS_KEYS} status keys. */
export const NATS_MAX_CONTROL_LINE = 64 * 1024;

/** NATS publish and subscribe permissions for one cluster's credentials. */
export interface ClusterPermissions {
  publish: string[];
  subscribe: string[];
  /** May publish one reply to the reply subject of a request it received (RPC answers). */
  allowResponses: boolean;
}

/**
 * The subjects one cluster's agent may use, and no others: watch its own desired keys,
 * write its own status keys, publish its heartbeat, answer its RPC subject, and receive on
 * its own inbox. A shared KV bucket is split per cluster by the filtered consumer-create
 * subject (`$JS.API.CONSUMER.CREATE.<stream>.<consumer>.<filter>`), so a watch of another
 * cluster's keys is refused by the server.
 *
 * No `$JS.API.INFO` and no `$JS.API.STREAM.INFO.*`: stream info with a subjects filter lists
 * every key in the bucket, which would name other clusters' apps. Clients therefore open the
 * buckets without asking for either: `nc.jetstream({ checkAPI: false }).views.kv(bucket,
 * { bindOnly: true, allow_direct: true })`.
 *
 * With `apps`, the cluster may write only the status keys of those apps (`<cluster>.<app>`):
 * the keys it may hold are then exactly its assigned apps, so its share of the status bucket is
 * bounded by apps × the bucket's largest value, whatever it writes. Without, or with more than
 * {@link MAX_LISTED_STATUS_KEYS} apps, any key under its own name (the hub warns and counts
 * `flotilla_hub_wide_status_grants_total` when it mints such a JWT).
 */
export function clusterPermissions(cluster: string, apps?: readonly string[]): ClusterPermissions {
  const c = checkName("cluster", cluster);
  const listed = apps === undefined ? undefined : [...new Set(apps)].sort();
  const statusKeys =
    listed === undefined || listed.length > MAX_LISTED_STATUS_KEYS
      ? [`$KV.${STATUS_BUCKET}.${c}.>`]
      : listed.map((app) => statusSubject(c, app));
  const desired = `KV_${DESIRED_BUCKET}`;
  const status = `KV_${STATUS_BUCKET}`;
  return {
    publish: [
      `$JS.API.CONSUMER.CREATE.${desired}.*.$KV.${DESIRED_BUCKET}.${c}.>`,
      `$JS.API.CONSUMER.DELETE.${desired}.*`,
      `$JS.FC.${desired}.>`,
      `$JS.ACK.${desired}.>`,
      `$JS.API.DIRECT.GET.${desired}.$KV.${DESIRED_BUCKET}.${c}.>`,
      ...statusKeys,
      `$JS.API.DIRECT.GET.${status}.$KV.${STATUS_BUCKET}.${c}.>`,
      heartbeatSubject(c),
      credsSubject(c),
    ],
    subscribe: [`${inboxPrefix(c)}.>`, rpcSubject(c), `${credsReplyPrefix(c)}.>`],
    allowResponses: true,
  };
}

/** Subject a write of one status key goes to (`$KV.<bucket>.<cluster>.<app>`). */
export function statusSubject(cluster: string, app: string): string {
  return `$KV.${STATUS_BUCKET}.${stateKey(cluster, app)}`;
}

/**
 * Whether `subject` matches the NATS subject `pattern` (`*` one token, `>` one or more at the
 * end), as nats-server matches permissions.
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return i === p.length - 1 && s.length > i;
    if (i >= s.length || (p[i] !== "*" && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

/**
 * Whether a user allowed to publish to `publishAllow` (a user JWT's `pub.allow`, from
 * {@link clusterPermissions}) may write the status key of `app` on `cluster`: what an agent reads
 * of its own JWT to tell a newly assigned app (ask the hub for a renewal) from a granted one.
 */
export function grantsStatusKey(publishAllow: readonly string[], cluster: string, app: string): boolean {
  const subject = statusSubject(cluster, app);
  return publishAllow.some((pattern) => subjectMatches(pattern, subject));
}
