/**
 * A verification thread's entry point (see verifier.ts): opens the batches it is given with
 * its own cache of parsed agent keys; each batch's bytes come packed in one transferred buffer.
 */
import { AgentKeys } from "../registry/agent-keys.js";
import type { SerializedReport } from "../store.js";
import { type PackedTask, unpackItems, unpackReports } from "./packed.js";
import { type HeartbeatFacts, openHeartbeat, openReportSerialized, type Verdict } from "./verification.js";

const keys = new AgentKeys();

export function reports(task: PackedTask & { receivedAtMs: number }): Verdict<SerializedReport>[] {
  return unpackReports(task).map((item) => openReportSerialized(keys, item, task.receivedAtMs));
}

export function heartbeats(task: PackedTask): Verdict<HeartbeatFacts>[] {
  return unpackItems(task).map((item) => openHeartbeat(keys, item));
}
