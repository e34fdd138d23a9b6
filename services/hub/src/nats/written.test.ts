import { describe, expect, it } from "vitest";
import { WrittenEntries, type WrittenEntry } from "./written.js";

const entry = (revision: number): WrittenEntry => ({
  revision,
  generation: revision,
  fingerprint: `fp${revision}`,
  rolloutId: "r",
});

describe("WrittenEntries", () => {
  it("answers the last write of a key and forgets it on request", () => {
    const w = new WrittenEntries();
    expect(w.get("c1.web")).toBeUndefined();
    w.remember("c1.web", entry(1));
    w.remember("c1.web", entry(4));
    expect(w.get("c1.web")).toEqual(entry(4));
    w.forget("c1.web");
    expect(w.get("c1.web")).toBeUndefined();
    expect(w.size).toBe(0);
  });

  it("forgets the least recently written key past its bound", () => {
    const w = new WrittenEntries(2);
    w.remember("a", entry(1));
    w.remember("b", entry(2));
    w.remember("a", entry(3));
    w.remember("c", entry(4));
    expect(w.get("b")).toBeUndefined();
    expect(w.get("a")).toEqual(entry(3));
    expect(w.get("c")).toEqual(entry(4));
    expect(w.size).toBe(2);
  });
});
