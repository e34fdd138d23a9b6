import { describe, expect, it } from "vitest";
import { Condition } from "./condition.js";

describe("Condition", () => {
  it("logs a condition seen on every pass once, then its change and its end", () => {
    const c = new Condition();
    // Three minutes of 10 s drift checks with the same drift: one line.
    const passes = Array.from({ length: 18 }, () => c.observe("ConfigMap/cfg: data.x"));
    expect(passes.filter((p) => p !== undefined)).toEqual(["started"]);
    expect(c.holds).toBe(true);
    expect(c.observe("ConfigMap/cfg: data.x,data.y")).toBe("changed");
    expect(c.observe(undefined)).toBe("ended");
    expect(c.observe(undefined)).toBeUndefined();
    expect(c.holds).toBe(false);
    expect(c.observe("ConfigMap/cfg: data.x")).toBe("started");
  });
});
