import type { AuditEntry } from "@flotilla/api";
import type { Logger } from "pino";
import type { AuditStore } from "../store.js";

/**
 * Records audit entries: each is stored in the capped trail and written to the log as one line.
 * A failure to store is logged, never thrown: the change it describes is already made, and the
 * log line still holds it.
 */
export class AuditTrail {
  constructor(
    private readonly store: AuditStore,
    private readonly log: Logger,
  ) {}

  async record(entry: Omit<AuditEntry, "id">): Promise<void> {
    let id = "";
    try {
      id = await this.store.append(entry);
    } catch (err) {
      this.log.error({ err, audit: entry }, "could not store an audit entry; it is only in this log line");
      return;
    }
    this.log.info({ audit: { id, ...entry } }, "audit");
  }
}
