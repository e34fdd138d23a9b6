/**
 * Stream settings that per-cluster credentials depend on. Subject permissions confine a
 * cluster to its own status keys, but a message's headers can reach further: with rollups
 * allowed (nats.js creates every KV bucket that way), a put to `a.web` carrying
 * `Nats-Rollup: all` purges the whole stream — every other cluster's status with it. So the
 * bucket clusters write into must be created with rollups off, before anything opens it.
 */
import { DESIRED_BUCKET, STATUS_BUCKET } from "@flotilla/proto";
import { DiscardPolicy, RetentionPolicy, StorageType, type StreamConfig } from "nats";

/** Options of {@link statusStreamConfig} and {@link desiredStreamConfig}. */
export interface StatusStreamOptions {
  /** Values kept per key. @default 1 */
  history?: number;
  /** Replicas (1 on a single server). @default 1 */
  replicas?: number;
  /** Largest value in bytes; -1 means the server's limit. @default -1 */
  maxValueSize?: number;
}

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
