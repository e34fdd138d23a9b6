import type { AuditEntry } from "@flotilla/api";
import type { Redis } from "ioredis";
import type { AuditFilter, AuditStore } from "../store.js";
import { keys } from "./keys.js";

/** Entries read per round trip while filtering. */
const PAGE = 200;
/** The one field of a stream entry: the entry as JSON (without its id, which is the stream's). */
const FIELD = "e";

/**
 * The audit trail as a Redis stream capped with `MAXLEN ~` (Redis trims whole nodes, so the cap
 * is approximate and trimming costs next to nothing). Stream ids are `<ms>-<seq>`, so `since` is
 * a range bound; other filters are applied while paging back from the newest entry, so a read
 * looks at no more than the cap.
 */
export class RedisAuditStore implements AuditStore {
  constructor(
    private readonly redis: Redis,
    private readonly maxEntries: number,
  ) {}

  async append(entry: Omit<AuditEntry, "id">): Promise<string> {
    const id = await this.redis.xadd(keys.audit, "MAXLEN", "~", this.maxEntries, "*", FIELD, JSON.stringify(entry));
    return id ?? "";
  }

  async list(filter: AuditFilter): Promise<AuditEntry[]> {
    const out: AuditEntry[] = [];
    const start = filter.sinceMs !== undefined ? `${Math.max(0, Math.floor(filter.sinceMs))}-0` : "-";
    let end = "+";
    for (;;) {
      const page = await this.redis.xrevrange(keys.audit, end, start, "COUNT", PAGE);
      for (const [id, fields] of page) {
        const text = fields[fields.indexOf(FIELD) + 1];
        if (text === undefined) continue;
        const entry: AuditEntry = { id, ...(JSON.parse(text) as Omit<AuditEntry, "id">) };
        if (matches(entry, filter)) out.push(entry);
        if (out.length >= filter.limit) return out;
      }
      const last = page.at(-1);
      if (!last || page.length < PAGE) return out;
      end = `(${last[0]}`;
    }
  }
}

function matches(e: AuditEntry, f: AuditFilter): boolean {
  if (f.team !== undefined && e.team !== f.team && e.actor.team !== f.team) return false;
  if (f.kind !== undefined && e.kind !== f.kind) return false;
  if (f.object !== undefined && e.object !== f.object) return false;
  return true;
}
