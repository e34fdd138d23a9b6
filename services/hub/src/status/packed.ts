/**
 * Batches of signed items as they cross to a verification thread (see verifier.ts), laid out
 * in columns: one array of strings per field and every item's bytes in one buffer that is
 * transferred, not copied. Posting an array of small objects costs the main thread a few
 * microseconds per object to clone; columns cost a fraction of that, and the main thread is
 * where ingestion's time goes.
 */
import type { SignedItem, SignedReport } from "./verification.js";

/** A batch as a verification thread receives it. */
export interface PackedTask {
  clusters: string[];
  pems: string[];
  /** Present for reports only. */
  apps?: string[];
  /** Where each item's bytes end in {@link buffer}; the first starts at 0. */
  ends: Uint32Array;
  buffer: ArrayBuffer;
}

/** The buffers to transfer with a packed task. */
export function transferList(task: PackedTask): ArrayBuffer[] {
  return [task.buffer, task.ends.buffer as ArrayBuffer];
}

/** Packs signed items (reports when they carry `app`) into columns. */
export function packItems(items: readonly (SignedItem | SignedReport)[]): PackedTask {
  let total = 0;
  for (const it of items) total += it.bytes.length;
  const buffer = new ArrayBuffer(total);
  const view = new Uint8Array(buffer);
  const ends = new Uint32Array(items.length);
  let offset = 0;
  items.forEach((it, i) => {
    view.set(it.bytes, offset);
    offset += it.bytes.length;
    ends[i] = offset;
  });
  const task: PackedTask = { clusters: items.map((i) => i.cluster), pems: items.map((i) => i.pem), ends, buffer };
  if (items.length > 0 && items.every((i) => "app" in i)) task.apps = items.map((i) => (i as SignedReport).app);
  return task;
}

/** The items of a packed task again, each with its bytes as a view into the task's buffer. */
export function unpackItems(task: PackedTask): SignedItem[] {
  return task.clusters.map((cluster, i) => ({
    cluster,
    pem: task.pems[i] ?? "",
    bytes: new Uint8Array(
      task.buffer,
      i === 0 ? 0 : (task.ends[i - 1] ?? 0),
      (task.ends[i] ?? 0) - (i === 0 ? 0 : (task.ends[i - 1] ?? 0)),
    ),
  }));
}

/** The reports of a packed task again; items without an app get "". */
export function unpackReports(task: PackedTask): SignedReport[] {
  return unpackItems(task).map((item, i) => ({ ...item, app: task.apps?.[i] ?? "" }));
}
