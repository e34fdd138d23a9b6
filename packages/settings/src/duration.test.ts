import { describe, expect, it } from "vitest";
import { durationSchema, parseDuration } from "./duration.js";

describe("parseDuration", () => {
  it.each([
    ["10", 10_000],
    ["2.5", 2_500],
    ["10s", 10_000],
    ["500ms", 500],
    ["2m", 120_000],
    ["1h", 3_600_000],
    [" 3s ", 3_000],
    ["0.5s", 500],
  ])("%j is %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "s", "-5s", "10x", "1m30s", "2 days", "1e3", "ten"])("%j is not a duration", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe("durationSchema", () => {
  it("takes strings in the grammar and milliseconds from code", () => {
    expect(durationSchema.parse("2m")).toBe(120_000);
    expect(durationSchema.parse(250)).toBe(250);
  });

  it.each(["0s", "soon", 0, -5])("refuses %j, quoting it", (value) => {
    const result = durationSchema.safeParse(value);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe(
      `${JSON.stringify(value)} is not a duration like 15s, 500ms, 2m or 30 (seconds)`,
    );
  });
});
