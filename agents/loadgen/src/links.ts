/**
 * The NATS side of a simulated fleet. Without auth, clusters share a few connections and one
 * watch of the whole desired bucket (a real agent's own connection and watch would cost the
 * NATS server one consumer per cluster, which is the server's load, not the hub's). In operator
 * mode every cluster has its own credentials, so each gets its own connection and a watch of
 * its own keys, within the permissions a real agent has.
 */
import { renewCreds } from "@flotilla/agent/creds";
import {
  clusterKeyFilter,
  credsReplyPrefix,
  DESIRED_BUCKET,
  heartbeatSubject,
  inboxPrefix,
  type KeyRing,
  parseStateKey,
  type SigningKey,
  STATUS_BUCKET,
  stateKey,
  statusSubject,
} from "@flotilla/proto";
import {
  connect,
  credsAuthenticator,
  type KV,
  type KvEntry,
  type NatsConnection,
  nuid,
  type QueuedIterator,
  type TlsOptions,
} from "nats";
import type { ClusterLink } from "./cluster.js";

/** Receives every value written to one cluster's keys of the desired bucket. */
export type DesiredHandler = (cluster: string, app: string, value: Uint8Array) => void;

/** Connections, watches and links of one fleet. */
export interface FleetLinks {
  link(cluster: string): ClusterLink;
  /** Resolves when the connections have sent everything queued (after a burst of heartbeats). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** A cluster's own credentials reach only its own keys: bind without stream info, read through direct get. */
function openBucket(nc: NatsConnection, bucket: string): Promise<KV> {
  return nc.jetstream({ checkAPI: false }).views.kv(bucket, { bindOnly: true, allow_direct: true });
}

function consume(watch: QueuedIterator<KvEntry>, onDesired: DesiredHandler): Promise<void> {
  return (async () => {
    for await (const e of watch) {
      if (e.operation !== "PUT") continue;
      let key: { cluster: string; app: string };
      try {
        key = parseStateKey(e.key);
      } catch {
        continue;
      }
      onDesired(key.cluster, key.app, e.value);
    }
  })();
}

/** The connection `app`'s reports go through once the hub granted its status key (operator mode). */
type GrantWaiter = (app: string) => Promise<Reporter>;

class ConnectionLink implements ClusterLink {
  /**
   * `beats` carries the heartbeats; `status` the reports, through `reports`, its connection
   * (the same as `beats`, or not). With `granted`, a report waits for its app's grant first.
   */
  constructor(
    private readonly beats: NatsConnection,
    private readonly reports: NatsConnection,
    private readonly status: KV,
    private readonly cluster: string,
    private readonly granted?: GrantWaiter,
  ) {}

  async putReport(app: string, bytes: Uint8Array): Promise<void> {
    const status = this.granted ? (await this.granted(app)).status : this.status;
    await status.put(stateKey(this.cluster, app), bytes);
  }

  publishReport(app: string, bytes: Uint8Array): void {
    if (!this.granted) {
      this.reports.publish(statusSubject(this.cluster, app), bytes);
      return;
    }
    this.granted(app).then(
      (r) => r.nc.publish(statusSubject(this.cluster, app), bytes),
      () => {},
    );
  }

  publishHeartbeat(bytes: Uint8Array): void {
    this.beats.publish(heartbeatSubject(this.cluster), bytes);
  }
}

interface Opened {
  nc: NatsConnection;
  status: KV;
  watch?: QueuedIterator<KvEntry>;
}

async function closeAll(opened: readonly Opened[], loops: readonly Promise<void>[]): Promise<void> {
  for (const o of opened) o.watch?.stop();
  await Promise.allSettled(opened.map((o) => o.nc.drain().catch(() => o.nc.close())));
  await Promise.allSettled(loops);
}

/** Where simulated agents connect: comma-separated URLs, and whether to stay on them. */
export interface NatsTarget {
  url: string;
  /** Never connect to the servers the first one gossips (a link through a proxy). */
  ignoreClusterUpdates?: boolean;
  /** nats.js's `tls` option: TLS required (an object), or plaintext (null). */
  tls: TlsOptions | null;
}

function connectTarget(nats: NatsTarget) {
  return {
    servers: nats.url.split(",").map((s) => s.trim()),
    tls: nats.tls,
    // Every report is a JetStream request; a stack trace captured for each one is load
    // generator CPU that thousands of simulated agents cannot spare.
    noAsyncTraces: true,
    ...(nats.ignoreClusterUpdates ? { ignoreClusterUpdates: true } : {}),
  };
}

/**
 * Shared links: one connection per `perConnection` clusters, and one watch of the whole desired
 * bucket on the first, dispatched by key. Heartbeats go on a connection of their own: a real
 * agent's beat waits behind its own few reports, not behind the report bursts of hundreds of
 * clusters, which would make the load generator's queue look like silence to the hub.
 */
export async function sharedLinks(
  nats: NatsTarget,
  clusters: readonly string[],
  perConnection: number,
  onDesired: DesiredHandler,
): Promise<FleetLinks> {
  const count = Math.max(1, Math.ceil(clusters.length / perConnection));
  const opened: Opened[] = [];
  const loops: Promise<void>[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const nc = await connect({
        ...connectTarget(nats),
        name: `flotilla-loadgen-${i}`,
        maxReconnectAttempts: -1,
      });
      opened.push({ nc, status: await openBucket(nc, STATUS_BUCKET) });
    }
    const beats = await connect({
      ...connectTarget(nats),
      name: "flotilla-loadgen-beats",
      maxReconnectAttempts: -1,
    });
    opened.push({ nc: beats, status: await openBucket(beats, STATUS_BUCKET) });
    const first = opened[0]!;
    first.watch = await (await openBucket(first.nc, DESIRED_BUCKET)).watch({ key: ">" });
    loops.push(consume(first.watch, onDesired));
  } catch (err) {
    await closeAll(opened, loops);
    throw err;
  }
  const links = new Map<string, ClusterLink>();
  const beats = opened[opened.length - 1]!.nc;
  clusters.forEach((name, i) => {
    const o = opened[Math.floor(i / perConnection)]!;
    links.set(name, new ConnectionLink(beats, o.nc, o.status, name));
  });
  return {
    link: (cluster) => links.get(cluster)!,
    flush: async () => {
      await Promise.all(opened.map((o) => o.nc.flush()));
    },
    close: () => closeAll(opened, loops),
  };
}

/** Connections opened at once while an isolated fleet starts. */
const CONNECT_CONCURRENCY = 32;
/** Longest wait for the hub's answer to a credentials request. */
const GRANT_TIMEOUT_MS = 10_000;

/** A cluster of an isolated fleet: its credentials, and what the agent needs to renew them. */
export interface IsolatedCluster {
  name: string;
  creds: string;
  agentKey: SigningKey;
}

/** A connection and status bucket a cluster's reports go through. */
interface Reporter {
  nc: NatsConnection;
  status: KV;
}

/**
 * The status-key grants of one cluster's user, as a real agent keeps them: a new registration
 * may write no status key; the first report of an app asks the hub for a JWT naming it with
 * the agent's own renewal (`renewCreds`: signed with the agent key, the answer checked against
 * the hub keys, a new user key when the hub asks for a rotation). Reports then go through a connection made with that JWT (a real agent reconnects
 * its one connection; a second connection keeps the simulated agent's watch and beats
 * undisturbed). Asks are coalesced: one request at a time per cluster.
 */
class Grants {
  #creds: string;
  readonly #granted = new Set<string>();
  readonly #wanted = new Set<string>();
  #asking: Promise<void> | undefined;
  #reporter: Reporter | undefined;
  nc: NatsConnection | undefined;

  constructor(
    private readonly cluster: IsolatedCluster,
    private readonly hubKeys: KeyRing,
    private readonly nats: NatsTarget,
  ) {
    this.#creds = cluster.creds;
  }

  /** The connection reports of `app` may go through, once the hub granted its key. */
  async reporter(app: string): Promise<Reporter> {
    while (!this.#granted.has(app) || !this.#reporter) {
      this.#wanted.add(app);
      this.#asking ??= this.#ask().finally(() => {
        this.#asking = undefined;
      });
      await this.#asking;
    }
    return this.#reporter;
  }

  async close(): Promise<void> {
    await this.#reporter?.nc.drain().catch(() => this.#reporter?.nc.close());
  }

  async #ask(): Promise<void> {
    const nc = this.nc;
    if (!nc) throw new Error(`${this.cluster.name} is not connected`);
    const apps = [...new Set([...this.#granted, ...this.#wanted])];
    const { creds } = await renewCreds({
      cluster: this.cluster.name,
      current: this.#creds,
      agentKey: this.cluster.agentKey,
      hubKeys: this.hubKeys,
      apps,
      request: async (subject, data) =>
        (
          await nc.request(subject, data, {
            timeout: GRANT_TIMEOUT_MS,
            noMux: true,
            reply: `${credsReplyPrefix(this.cluster.name)}.${nuid.next()}`,
          })
        ).data,
    });
    this.#creds = creds;
    const next = await connect({
      ...connectTarget(this.nats),
      name: `flotilla-loadgen-${this.cluster.name}-reports`,
      inboxPrefix: inboxPrefix(this.cluster.name),
      authenticator: credsAuthenticator(new TextEncoder().encode(this.#creds)),
      maxReconnectAttempts: -1,
    });
    const previous = this.#reporter;
    this.#reporter = { nc: next, status: await openBucket(next, STATUS_BUCKET) };
    for (const app of apps) this.#granted.add(app);
    this.#wanted.clear();
    await previous?.nc.drain().catch(() => previous.nc.close());
  }
}

/**
 * Isolated links: each cluster connects with its own credentials and inbox prefix, as a real
 * agent does, and watches only its own keys.
 */
export async function isolatedLinks(
  nats: NatsTarget,
  clusters: readonly IsolatedCluster[],
  hubKeys: KeyRing,
  onDesired: DesiredHandler,
): Promise<FleetLinks> {
  const opened = new Map<string, Opened>();
  const grants = new Map<string, Grants>();
  const loops: Promise<void>[] = [];
  const open = async (c: IsolatedCluster) => {
    const g = new Grants(c, hubKeys, nats);
    const nc = await connect({
      ...connectTarget(nats),
      name: `flotilla-loadgen-${c.name}`,
      inboxPrefix: inboxPrefix(c.name),
      authenticator: credsAuthenticator(new TextEncoder().encode(c.creds)),
      maxReconnectAttempts: -1,
    });
    g.nc = nc;
    grants.set(c.name, g);
    const o: Opened = { nc, status: await openBucket(nc, STATUS_BUCKET) };
    opened.set(c.name, o);
    o.watch = await (await openBucket(nc, DESIRED_BUCKET)).watch({ key: clusterKeyFilter(c.name) });
    loops.push(consume(o.watch, onDesired));
  };
  try {
    for (let i = 0; i < clusters.length; i += CONNECT_CONCURRENCY) {
      await Promise.all(clusters.slice(i, i + CONNECT_CONCURRENCY).map(open));
    }
  } catch (err) {
    await closeAll([...opened.values()], loops);
    throw err;
  }
  return {
    link: (cluster) => {
      const o = opened.get(cluster)!;
      const g = grants.get(cluster)!;
      return new ConnectionLink(o.nc, o.nc, o.status, cluster, (app) => g.reporter(app));
    },
    flush: async () => {
      await Promise.all([...opened.values()].map((o) => o.nc.flush()));
    },
    close: async () => {
      await Promise.allSettled([...grants.values()].map((g) => g.close()));
      await closeAll([...opened.values()], loops);
    },
  };
}
