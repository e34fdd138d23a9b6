import { describe, expect, it } from "vitest";
import { mapSettled } from "./pool.js";

describe("mapSettled", () => {
  it("keeps order, reports every failure and never exceeds the limit", async () => {
    let inFlight = 0;
    let peak = 0;
    const results = await mapSettled([1, 2, 3, 4, 5, 6], 2, async (n) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      if (n % 3 === 0) throw new Error(`bad ${n}`);
      return n * 10;
    });
    expect(peak).toBe(2);
    expect(results.map((r) => (r.ok ? r.value : (r.error as Error).message))).toEqual([
      10,
      20,
      "bad 3",
      40,
      50,
      "bad 6",
    ]);
  });
});
