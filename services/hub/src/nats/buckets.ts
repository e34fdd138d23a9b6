/**
 * The two KV buckets, and the stream settings that per-cluster credentials depend on. Subject
 * permissions confine a cluster to its own status keys, but a message's headers can reach
 * further: with rollups allowed (nats.js creates every KV bucket that way), a put to `a.web`
 * carrying `Nats-Rollup: all` purges the whole stream — every other cluster's status with it.
 * So the bucket clusters write into must be created with rollups off, before anything opens it.
 */
import { clusterKeyFilter, DESIRED_BUCKET, MAX_PAYLOAD_BYTES, STATUS_BUCKET } from "@flotilla/proto";
import {
  DiscardPolicy,
  type JetStreamManager,
  type KV,
  type NatsConnection,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type StreamInfo,
} from "nats";
import type { Logger } from "pino";

/** Options of {@link statusStreamConfig} and {@link desiredStreamConfig}. */
export interface StatusStreamOptions {
  /** Values kept per key. @default 1 */
  history?: number;
  /** Replicas (1 on a single server). @default 1 */
  replicas?: number;
  /** Largest value in bytes; -1 means the server's limit. @default -1 */
  maxValueSize?: number;
  /** Bytes the whole bucket may hold; a write past it is refused (discard new). -1: no limit. @default -1 */
  maxBytes?: number;
}

/**
 * Byte limits of both buckets: what the hub creates them with and sets on an existing bucket at
 * start. Sizing (docs/architecture.md, "Bus limits"): a cluster may hold one status value per
 * assigned app, so the status bucket needs about clusters × apps per cluster × report size.
 */
export interface BucketLimits {
  /** Largest report an agent may write. @default {@link DEFAULT_STATUS_MAX_VALUE_SIZE} */
  statusMaxValueSize: number;
  /** Bytes of the status bucket. @default {@link DEFAULT_STATUS_MAX_BYTES} */
  statusMaxBytes: number;
  /** Largest desired state the hub may write. @default {@link DEFAULT_DESIRED_MAX_VALUE_SIZE} */
  desiredMaxValueSize: number;
  /** Bytes of the desired bucket (with its history). @default {@link DEFAULT_DESIRED_MAX_BYTES} */
  desiredMaxBytes: number;
}

/** Room for a signed envelope's own fields around its payload, with margin. */
const ENVELOPE_ROOM = 1024;

/**
 * Default largest report: the wire contract's largest report payload plus its envelope (513
 * KiB). A report is a few hundred bytes plus about 150 bytes per resource it lists.
 */
export const DEFAULT_STATUS_MAX_VALUE_SIZE = MAX_PAYLOAD_BYTES.report + ENVELOPE_ROOM;
/** Default size of the status bucket: 1 GiB. */
export const DEFAULT_STATUS_MAX_BYTES = 1024 ** 3;
/** Default largest desired state: the wire contract's largest desired payload plus its envelope (65 KiB). */
export const DEFAULT_DESIRED_MAX_VALUE_SIZE = MAX_PAYLOAD_BYTES.desired + ENVELOPE_ROOM;
/** Default size of the desired bucket, history included: 1 GiB. */
export const DEFAULT_DESIRED_MAX_BYTES = 1024 ** 3;

export const DEFAULT_BUCKET_LIMITS: Readonly<BucketLimits> = Object.freeze({
  statusMaxValueSize: DEFAULT_STATUS_MAX_VALUE_SIZE,
  statusMaxBytes: DEFAULT_STATUS_MAX_BYTES,
  desiredMaxValueSize: DEFAULT_DESIRED_MAX_VALUE_SIZE,
  desiredMaxBytes: DEFAULT_DESIRED_MAX_BYTES,
});

/** Default number of values kept per status key: only the latest report matters. */
export const DEFAULT_STATUS_HISTORY = 1;

/** Default number of values kept per desired-state key: the latest is acted on, a few help debugging. */
export const DEFAULT_DESIRED_HISTORY = 5;

/**
 * A KV bucket's stream as nats.js would create it for `js.views.kv(bucket, { storage: File })`,
 * but with `allow_rollup_hdrs: false` and deletes through the stream API refused.
 */
function kvStreamConfig(bucket: string, history: number, options: StatusStreamOptions): Partial<StreamConfig> {
  return {
    name: `KV_${bucket}`,
    subjects: [`$KV.${bucket}.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_msgs_per_subject: history,
    max_msg_size: options.maxValueSize ?? -1,
    max_bytes: options.maxBytes ?? -1,
    num_replicas: options.replicas ?? 1,
    discard: DiscardPolicy.New,
    allow_direct: true,
    allow_rollup_hdrs: false,
    deny_delete: true,
  };
}

/**
 * The JetStream stream behind the `flotilla_status` KV bucket: what nats.js would create for
 * `js.views.kv(STATUS_BUCKET, { storage: File })`, but with `allow_rollup_hdrs: false`. Create
 * it with `jsm.streams.add(statusStreamConfig())` first; `js.views.kv(STATUS_BUCKET)` then
 * binds to it unchanged. put and delete keep working; `kv.purge` does not (it is a rollup), so
 * the hub clears a cluster's keys with `jsm.streams.purge(stream, { filter })` instead.
 */
export function statusStreamConfig(options: StatusStreamOptions = {}): Partial<StreamConfig> {
  return kvStreamConfig(STATUS_BUCKET, options.history ?? DEFAULT_STATUS_HISTORY, options);
}

/**
 * The stream behind the `flotilla_desired` bucket, rollups off like the status bucket's. Only
 * the hub writes it, but nothing it does needs a rollup, and a rollup there (a stray
 * `Nats-Rollup: all` from any writer) would wipe every cluster's desired state at once.
 */
export function desiredStreamConfig(options: StatusStreamOptions = {}): Partial<StreamConfig> {
  return kvStreamConfig(DESIRED_BUCKET, options.history ?? DEFAULT_DESIRED_HISTORY, options);
}

/**
 * Creates a KV bucket's stream with rollup headers refused, or turns them off on a stream an
 * older hub created the nats.js way. Must run before `js.views.kv`, which then binds to the
 * stream as it is.
 */
async function ensureKvStream(jsm: JetStreamManager, wanted: Partial<StreamConfig>, log: Logger): Promise<void> {
  const name = wanted.name ?? "";
  let existing: StreamInfo | undefined;
  try {
    existing = await jsm.streams.info(name);
  } catch {
    existing = undefined;
  }
  if (!existing) {
    await jsm.streams.add(wanted);
    return;
  }
  const replicas = wanted.num_replicas ?? 1;
  const unsafe = existing.config.allow_rollup_hdrs || !existing.config.deny_delete;
  if (unsafe) log.warn({ stream: name }, "KV stream allowed rollups or deletes; turning them off");
  if (existing.config.num_replicas !== replicas) {
    log.info({ stream: name, from: existing.config.num_replicas, to: replicas }, "scaling KV stream replicas");
  }
  const maxBytes = wanted.max_bytes ?? -1;
  const maxValueSize = wanted.max_msg_size ?? -1;
  const limitsChanged = existing.config.max_bytes !== maxBytes || existing.config.max_msg_size !== maxValueSize;
  if (limitsChanged) {
    log.info(
      {
        stream: name,
        maxBytes: { from: existing.config.max_bytes, to: maxBytes },
        maxValueSize: { from: existing.config.max_msg_size, to: maxValueSize },
      },
      "setting KV stream byte limits",
    );
  }
  if (unsafe || limitsChanged || existing.config.num_replicas !== replicas) {
    await jsm.streams.update(name, {
      ...existing.config,
      allow_rollup_hdrs: false,
      deny_delete: true,
      num_replicas: replicas,
      max_bytes: maxBytes,
      max_msg_size: maxValueSize,
      discard: DiscardPolicy.New,
    });
  }
}

/** The hub's handles on the two buckets. */
export interface Buckets {
  /** `flotilla_desired`: signed desired states, written by the leader's publisher. */
  desired: KV;
  /** `flotilla_status`: signed agent reports, watched by the leader's ingester. */
  status: KV;
  /**
   * Clears a deregistered cluster's keys from both buckets, so nothing is left for a
   * re-registered namesake to misread. A stream purge by subject, since `kv.purge` is a rollup.
   */
  purgeCluster(cluster: string): Promise<void>;
}

/** Options of {@link openBuckets}. */
export interface BucketOptions {
  /** Replicas of both streams: 3 on a three-node JetStream cluster. @default 1 */
  replicas?: number;
  /** Byte limits of both streams. @default {@link DEFAULT_BUCKET_LIMITS} */
  limits?: Partial<BucketLimits>;
}

/**
 * Creates the buckets' streams if missing (rollups off, see above, and `replicas` copies) and
 * opens both buckets. A stream that exists with another replica count is scaled to it.
 */
export async function openBuckets(nc: NatsConnection, log: Logger, options: BucketOptions = {}): Promise<Buckets> {
  const jsm = await nc.jetstreamManager();
  const replicas = options.replicas ?? 1;
  const limits = { ...DEFAULT_BUCKET_LIMITS, ...options.limits };
  await ensureKvStream(
    jsm,
    desiredStreamConfig({
      history: DEFAULT_DESIRED_HISTORY,
      replicas,
      maxBytes: limits.desiredMaxBytes,
      maxValueSize: limits.desiredMaxValueSize,
    }),
    log,
  );
  await ensureKvStream(
    jsm,
    statusStreamConfig({
      history: DEFAULT_STATUS_HISTORY,
      replicas,
      maxBytes: limits.statusMaxBytes,
      maxValueSize: limits.statusMaxValueSize,
    }),
    log,
  );
  const js = nc.jetstream();
  return {
    desired: await js.views.kv(DESIRED_BUCKET, {
      history: DEFAULT_DESIRED_HISTORY,
      storage: StorageType.File,
      replicas,
    }),
    status: await js.views.kv(STATUS_BUCKET, { history: DEFAULT_STATUS_HISTORY, storage: StorageType.File, replicas }),
    purgeCluster: async (cluster) => {
      for (const bucket of [DESIRED_BUCKET, STATUS_BUCKET]) {
        await jsm.streams.purge(`KV_${bucket}`, { filter: `$KV.${bucket}.${clusterKeyFilter(cluster)}` });
      }
    },
  };
}
