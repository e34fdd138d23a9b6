/**
 * A verification thread's entry point (see verifier.ts): opens the batches it is given with
 * its own cache of parsed agent keys.
 */
import { AgentKeys } from "../registry/agent-keys.js";
import type { ReportRecord } from "../store.js";
import {
  type HeartbeatFacts,
  openHeartbeat,
  openReport,
  type SignedItem,
  type SignedReport,
  type Verdict,
} from "./verification.js";

const keys = new AgentKeys();

export function reports(task: { items: SignedReport[]; receivedAtMs: number }): Verdict<ReportRecord>[] {
  return task.items.map((item) => openReport(keys, item, task.receivedAtMs));
}

export function heartbeats(task: { items: SignedItem[] }): Verdict<HeartbeatFacts>[] {
  return task.items.map((item) => openHeartbeat(keys, item));
}
