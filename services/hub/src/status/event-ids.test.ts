import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.js";
import { compareEventIds, eventIdOf, parseEventId, streamIdOf } from "./event-ids.js";

describe("event ids", () => {
  it("round-trips a stream entry and an index", () => {
    const id = parseEventId(eventIdOf("1764476200000-3", 7));
    expect(id).toEqual({ ms: 1764476200000, seq: 3, index: 7 });
    expect(streamIdOf(id)).toBe("1764476200000-3");
  });

  it.each([
    ["1-0:0", "1-0:1", -1],
    ["1-0:9", "1-1:0", -1],
    ["2-0:0", "1-9:9", 1],
    ["5-5:5", "5-5:5", 0],
  ])("orders %s against %s", (a, b, sign) => {
    expect(Math.sign(compareEventIds(parseEventId(a), parseEventId(b)))).toBe(sign);
  });

  it.each(["42", "1-0", "x-0:1", "1-0:1:2", ""])("refuses %j, naming the header", (text) => {
    expect(() => parseEventId(text)).toThrow(ValidationError);
    expect(() => parseEventId(text)).toThrow(/^Last-Event-ID: .* is not an event id of this hub/);
  });
});
