import { describe, expect, it } from "vitest";
import { replayIncomplete, retryDelayMs } from "./stream.js";

describe("retryDelayMs", () => {
  it.each([
    [0, 500],
    [1, 1_000],
    [3, 4_000],
    [4, 8_000],
    [30, 8_000],
    [-1, 500],
  ])("attempt %i → %i ms", (attempt, want) => {
    expect(retryDelayMs(attempt)).toBe(want);
  });
});

describe("replayIncomplete", () => {
  it.each([
    ["some events after the Last-Event-ID are no longer kept", true],
    ["the events missed could not be read; going on from now", true],
    ["keepalive", false],
    ["connected", false],
  ])("%s → %s", (comment, want) => {
    expect(replayIncomplete(comment)).toBe(want);
  });
});
