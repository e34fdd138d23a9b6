import type { Delivery } from "@flotilla/api";
import type { Redis } from "ioredis";
import type { ReceiverRecord, ReceiverStore } from "../store.js";
import { keys } from "./keys.js";

/** Deliveries read per round trip while filtering by receiver. */
const PAGE = 200;
/** The one field of a delivery entry: the delivery as JSON (without its id, which is the stream's). */
const FIELD = "e";

/**
 * Receivers in one hash (name → record JSON, URL and secret sealed) and deliveries in a stream
 * capped with `MAXLEN ~`, as the audit trail is.
 */
export class RedisReceiverStore implements ReceiverStore {
  constructor(
    private readonly redis: Redis,
    private readonly maxDeliveries: number,
  ) {}

  async putReceiver(record: ReceiverRecord): Promise<boolean> {
    return (await this.redis.hset(keys.receivers, record.name, JSON.stringify(record))) === 1;
  }

  async getReceiver(name: string): Promise<ReceiverRecord | undefined> {
    const text = await this.redis.hget(keys.receivers, name);
    return text ? (JSON.parse(text) as ReceiverRecord) : undefined;
  }

  async listReceivers(): Promise<ReceiverRecord[]> {
    const all = await this.redis.hvals(keys.receivers);
    return all.map((t) => JSON.parse(t) as ReceiverRecord).sort((a, b) => a.name.localeCompare(b.name));
  }

  async deleteReceiver(name: string): Promise<boolean> {
    return (await this.redis.hdel(keys.receivers, name)) === 1;
  }

  async appendDelivery(delivery: Omit<Delivery, "id">): Promise<string> {
    const id = await this.redis.xadd(
      keys.deliveries,
      "MAXLEN",
      "~",
      this.maxDeliveries,
      "*",
      FIELD,
      JSON.stringify(delivery),
    );
    return id ?? "";
  }

  async listDeliveries(receiver: string, limit: number): Promise<Delivery[]> {
    const out: Delivery[] = [];
    let end = "+";
    for (;;) {
      const page = await this.redis.xrevrange(keys.deliveries, end, "-", "COUNT", PAGE);
      for (const [id, fields] of page) {
        const text = fields[fields.indexOf(FIELD) + 1];
        if (text === undefined) continue;
        const d: Delivery = { id, ...(JSON.parse(text) as Omit<Delivery, "id">) };
        if (d.receiver === receiver) out.push(d);
        if (out.length >= limit) return out;
      }
      const last = page.at(-1);
      if (!last || page.length < PAGE) return out;
      end = `(${last[0]}`;
    }
  }
}
