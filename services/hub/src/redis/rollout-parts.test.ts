import { describe, expect, it } from "vitest";
import { HubError } from "../errors.js";
import { createRollout, parsePolicy, type RolloutState, recordWrites } from "../rollout/index.js";
import {
  changedEntries,
  changedSince,
  entryTexts,
  headerRevision,
  joinRollout,
  splitRollout,
  withChanges,
} from "./rollout-parts.js";

function rollout(): RolloutState {
  return createRollout({
    id: "web-prod-1",
    app: "web",
    environment: "prod",
    to: { revision: "b".repeat(40), settings: "s".repeat(64) },
    policy: parsePolicy({
      waves: [
        { name: "canary", selector: { tier: "canary" }, maxConcurrency: "100%" },
        { name: "rest", selector: {}, maxConcurrency: "100%" },
      ],
    }),
    clusters: ["c-1", "c-2", "c-3"].map((name, i) => ({
      name,
      labels: (i === 0 ? { tier: "canary" } : {}) as Record<string, string>,
      state: "Ready" as const,
    })),
    detectedAtMs: 1_000,
  });
}

const asRecord = (entries: ReadonlyMap<string, string>) => Object.fromEntries(entries);

describe("rollout parts", () => {
  it("joins what it split into the same rollout, whatever order the hash answers in", () => {
    const r = rollout();
    expect(r.waves.map((w) => w.clusters.length)).toEqual([1, 2]);
    const parts = splitRollout(r, 7);
    expect(JSON.parse(parts.header).waves.every((w: { clusters: unknown[] }) => w.clusters.length === 0)).toBe(true);
    const shuffled = Object.fromEntries([...parts.entries].reverse());
    const read = joinRollout(parts.header, shuffled);
    expect(read.rollout).toEqual(r);
    expect(read.rev).toBe(7);
    expect(headerRevision(parts.header)).toBe(7);
  });

  it("reads a whole document stored by an earlier hub, with nothing to compare entries against", () => {
    const r = rollout();
    const read = joinRollout(JSON.stringify(r), {});
    expect(read.rollout).toEqual(r);
    expect(read.rev).toBe(0);
    expect(read.entries.size).toBe(0);
    expect(changedEntries(read.entries, entryTexts(r))).toHaveLength(2 * 3);
  });

  it("names only the entries of clusters that changed", () => {
    const r = rollout();
    const before = entryTexts(r);
    const write = {
      kind: "WriteDesired" as const,
      rolloutId: r.id,
      app: r.app,
      environment: r.environment,
      atMs: 2_000,
      cluster: "c-2",
      target: r.to,
    };
    const next = recordWrites(r, [{ write, generation: 3 }], 2_000);
    const pairs = changedEntries(before, entryTexts(next));
    expect(pairs.filter((_, i) => i % 2 === 0)).toEqual(["c-2"]);
    expect(joinRollout(splitRollout(next, 2).header, asRecord(entryTexts(next))).rollout).toEqual(next);
  });

  it("keeps the texts of clusters a copy-on-write change shares, and writes the changed ones anew", () => {
    const r = rollout();
    const before = entryTexts(r);
    const write = {
      kind: "WriteDesired" as const,
      rolloutId: r.id,
      app: r.app,
      environment: r.environment,
      atMs: 2_000,
      cluster: "c-3",
      target: r.to,
    };
    const next = recordWrites(r, [{ write, generation: 4 }], 2_000);
    expect(next.waves[1]?.clusters[0]).toBe(r.waves[1]?.clusters[0]);
    expect(next.waves[1]?.clusters[1]).not.toBe(r.waves[1]?.clusters[1]);
    // A stale text for a shared cluster is not compared: proof that it was not turned into text again.
    const stale = new Map(before).set("c-2", "kept");
    const pairs = changedSince(r, stale, next);
    expect(pairs).toEqual(["c-3", entryTexts(next).get("c-3")]);
    expect(changedSince(r, before, next)).toEqual(pairs);
    expect(withChanges(before, pairs)).toEqual(entryTexts(next));
    expect(changedSince(next, withChanges(before, pairs), next)).toEqual([]);
  });

  it("refuses a rollout whose entries are missing or misplaced, naming it", () => {
    const parts = splitRollout(rollout(), 1);
    const missing = asRecord(parts.entries);
    delete missing["c-3"];
    expect(() => joinRollout(parts.header, missing)).toThrow(HubError);
    expect(() => joinRollout(parts.header, missing)).toThrow(/web-prod-1: 1 of its 3 cluster entries are missing/);
    const misplaced = { ...asRecord(parts.entries), "c-3": parts.entries.get("c-2") ?? "" };
    expect(() => joinRollout(parts.header, misplaced)).toThrow(/cluster c-3 does not fit/);
  });
});
