import { describe, expect, it } from "vitest";
import { GRANT_MAX_ASKS, GRANT_RETRY_FIRST_MS, GRANT_SPREAD_MS, GrantWants, MAX_APPS_PER_REQUEST } from "./grants.js";

const none = () => false;

describe("GrantWants", () => {
  it("coalesces wanted apps into one request and forgets those the new JWT grants", () => {
    const w = new GrantWants();
    expect(w.delayMs(0.5)).toBeUndefined();
    expect(w.want("web")).toBe(true);
    expect(w.want("web")).toBe(false);
    expect(w.want("api")).toBe(true);
    expect(w.toAsk()).toEqual(["api", "web"]);
    // Spread: the first ask waits a random part of the spread, never more.
    expect(w.delayMs(0)).toBe(0);
    expect(w.delayMs(0.999)).toBeLessThan(GRANT_SPREAD_MS);
    expect(w.answered(["api", "web"], () => true, none)).toEqual({ lacking: [], givenUp: [] });
    expect(w.size).toBe(0);
    expect(w.delayMs(0.5)).toBeUndefined();
  });

  it("backs off, doubling, while the hub does not grant an asked app, then gives up on it", () => {
    const w = new GrantWants();
    w.want("web");
    const delays: number[] = [];
    for (let ask = 1; ask < GRANT_MAX_ASKS; ask++) {
      expect(w.answered(["web"], none, none)).toEqual({ lacking: ["web"], givenUp: [] });
      delays.push(w.delayMs(0.999_999) ?? -1);
    }
    expect(delays[0]).toBe(GRANT_RETRY_FIRST_MS - 1);
    for (let i = 1; i < delays.length; i++) expect(delays[i]).toBe(2 * ((delays[i - 1] ?? 0) + 1) - 1);
    // With jitter, never less than half the backoff.
    expect(w.delayMs(0)).toBe((GRANT_RETRY_FIRST_MS * 2 ** (GRANT_MAX_ASKS - 2)) / 2);
    expect(w.answered(["web"], none, none)).toEqual({ lacking: [], givenUp: ["web"] });
    expect(w.gaveUp("web")).toBe(true);
    // Not asked for again, until a new desired state for it arrives.
    expect(w.want("web")).toBe(false);
    w.reopen("web");
    expect(w.want("web")).toBe(true);
  });

  it("gives up at once on a removal the hub no longer grants", () => {
    const w = new GrantWants();
    w.want("old");
    w.want("web");
    expect(w.answered(["old", "web"], none, (app) => app === "old")).toEqual({ lacking: ["web"], givenUp: ["old"] });
  });

  it("asks for a new app at once (spread) even while another is backed off", () => {
    const w = new GrantWants();
    w.want("web");
    w.answered(["web"], none, none);
    w.answered(["web"], none, none);
    expect(w.delayMs(0)).toBe(GRANT_RETRY_FIRST_MS);
    w.want("api");
    expect(w.delayMs(0)).toBe(0);
    // An app that was wanted after the request went out is not counted as asked.
    expect(w.answered(["web"], (app) => app === "web", none)).toEqual({ lacking: [], givenUp: [] });
    expect(w.toAsk()).toEqual(["api"]);
  });

  it("names at most MAX_APPS_PER_REQUEST apps, the least asked first", () => {
    const w = new GrantWants();
    w.want("zz-old");
    w.answered(["zz-old"], none, none);
    for (let i = 0; i < MAX_APPS_PER_REQUEST + 5; i++) w.want(`app-${String(i).padStart(3, "0")}`);
    const asked = w.toAsk();
    expect(asked).toHaveLength(MAX_APPS_PER_REQUEST);
    expect(asked).not.toContain("zz-old");
  });
});
