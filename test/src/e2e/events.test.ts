/**
 * Resumable events, end to end: a real hub (its built command, started by @flotilla/devfleet)
 * over a real redis-server and nats-server. A client reads `GET /v1/events`, goes away in the
 * middle, the hub is stopped and another started, and the client reconnects to the new one with
 * the `Last-Event-ID` it last saw: it gets every event it missed, in order, each once, and then
 * the live ones.
 */
import { type Fleet, type HubProcess, startFleet, waitsOf } from "@flotilla/devfleet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const until = waitsOf(30_000, 100);

interface Received {
  id: string;
  type: string;
  data: { kind?: string; name?: string; action?: string };
}

/** An open `GET /v1/events` (registry events only), collecting what it receives. */
class Stream {
  readonly events: Received[] = [];
  readonly #abort = new AbortController();

  static async open(hub: HubProcess, lastEventId?: string): Promise<Stream> {
    const s = new Stream();
    const res = await fetch(`${hub.url}/v1/events?types=registry`, {
      headers: { authorization: `Bearer ${hub.token}`, ...(lastEventId ? { "last-event-id": lastEventId } : {}) },
      signal: s.#abort.signal,
    });
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buffer += decoder.decode(value, { stream: true });
          for (let at = buffer.indexOf("\n\n"); at >= 0; at = buffer.indexOf("\n\n")) {
            const block = buffer.slice(0, at);
            buffer = buffer.slice(at + 2);
            const id = /^id: (.*)$/m.exec(block)?.[1];
            const type = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (id && type && data) s.events.push({ id, type, data: JSON.parse(data) });
          }
        }
      } catch {
        // closed by the test
      }
    })();
    return s;
  }

  /** The teams created, in the order their events came. */
  teams(): string[] {
    return this.events
      .filter((e) => e.data.kind === "Team" && e.data.action === "created")
      .map((e) => e.data.name ?? "");
  }

  close(): void {
    this.#abort.abort();
  }
}

describe("GET /v1/events with Last-Event-ID", () => {
  let fleet: Fleet;

  beforeAll(async () => {
    fleet = await startFleet({ hubEnv: { FLOTILLA_LOG_LEVEL: "warn" } });
  }, 120_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  const createTeam = async (hub: HubProcess, name: string) => {
    const res = await fetch(`${hub.url}/v1/teams`, {
      method: "POST",
      headers: { authorization: `Bearer ${hub.token}`, "content-type": "application/json" },
      body: JSON.stringify({ name }),
    });
    expect(res.status).toBe(201);
  };

  it("resumes after a disconnect and a hub restart without losing or repeating an event", async () => {
    const first = fleet.hub;
    const before = await Stream.open(first);
    await createTeam(first, "t1");
    await createTeam(first, "t2");
    await until("t1 and t2 on the stream", () => (before.teams().length === 2 ? true : undefined));
    const last = before.events.at(-1) as Received;
    before.close();

    // Missed while away: two events on the old hub, one on the next.
    await createTeam(first, "t3");
    await createTeam(first, "t4");
    await first.stop();
    const second = await fleet.startHub();
    await createTeam(second, "t5");

    const after = await Stream.open(second, last.id);
    await until("the missed events", () => (after.teams().length >= 3 ? true : undefined));
    await createTeam(second, "t6");
    await until("the live event after them", () => (after.teams().includes("t6") ? true : undefined));
    after.close();

    expect(before.teams()).toEqual(["t1", "t2"]);
    expect(after.teams()).toEqual(["t3", "t4", "t5", "t6"]);
    // Ids grow across the restart, and none was sent twice.
    const ids = [last, ...after.events].map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    const key = (id: string) => id.split(/[-:]/).map(Number);
    const sorted = [...ids].sort((a, b) => {
      const [x, y] = [key(a), key(b)];
      return (x[0] ?? 0) - (y[0] ?? 0) || (x[1] ?? 0) - (y[1] ?? 0) || (x[2] ?? 0) - (y[2] ?? 0);
    });
    expect(ids).toEqual(sorted);
  }, 120_000);

  it("refuses a Last-Event-ID that is not one of its ids with one line saying what to do", async () => {
    const res = await fetch(`${fleet.hub.url}/v1/events`, {
      headers: { authorization: `Bearer ${fleet.hub.token}`, "last-event-id": "42" },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toMatch(
      /"42" is not an event id of this hub .*reconnect without it/,
    );
  });
});
