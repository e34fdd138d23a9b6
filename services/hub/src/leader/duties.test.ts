import { describe, expect, it } from "vitest";
import type { Lease } from "../store.js";
import { type Duty, dutiesOf } from "./duties.js";

const LEASE: Lease = { holder: "test", token: 1 };

function recorder() {
  const seen: string[] = [];
  const duty = (name: string, failStart = false): Duty => ({
    start: async () => {
      seen.push(`start ${name}`);
      if (failStart) throw new Error(`${name} failed`);
    },
    stop: async () => {
      seen.push(`stop ${name}`);
    },
  });
  return { seen, duty };
}

describe("dutiesOf", () => {
  it("starts duties in order, stops them in reverse, and builds a fresh set each term", async () => {
    const { seen, duty } = recorder();
    let terms = 0;
    const duties = dutiesOf(() => {
      terms++;
      return [duty("ingest"), duty("conduct"), duty("track")];
    });
    await duties.start(LEASE);
    await duties.stop();
    await duties.start(LEASE);
    expect(terms).toBe(2);
    expect(seen).toEqual([
      "start ingest",
      "start conduct",
      "start track",
      "stop track",
      "stop conduct",
      "stop ingest",
      "start ingest",
      "start conduct",
      "start track",
    ]);
  });

  it("stops what had started when a later duty fails to start", async () => {
    const { seen, duty } = recorder();
    const duties = dutiesOf(() => [duty("ingest"), duty("conduct", true), duty("track")]);
    await expect(duties.start(LEASE)).rejects.toThrow(/conduct failed/);
    await duties.stop();
    expect(seen).toEqual(["start ingest", "start conduct", "stop conduct", "stop ingest"]);
  });
});
