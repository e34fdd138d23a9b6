import { describe, expect, it } from "vitest";
import { type Cell, cellState, countOf, labelPredicate, withDesired, withReport, withSnapshot } from "./model.js";

const published = { generation: 3, revision: "bbbbbbb2", rolloutId: "r1", publishedAtMs: 1 };
const report = (generation: number, revision: string, phase = "synced", health = "healthy") => ({
  revision,
  observedGeneration: generation,
  phase,
  health,
  receivedAtMs: 2,
});
const cell = (c: Partial<Cell>): Cell => ({ cluster: "c1", app: "web", desired: null, report: null, ...c });

describe("cellState", () => {
  it.each([
    ["nothing published or reported", cell({}), "Ready", "none"],
    [
      "report of the published generation, healthy",
      cell({ desired: published, report: report(3, "bbbbbbb2") }),
      "Ready",
      "current",
    ],
    ["older generation reported", cell({ desired: published, report: report(2, "aaaaaaa1") }), "Ready", "progressing"],
    [
      "failed apply",
      cell({ desired: published, report: report(3, "bbbbbbb2", "failed", "unknown") }),
      "Ready",
      "failed",
    ],
    [
      "failed even when offline",
      cell({ desired: published, report: report(3, "bbbbbbb2", "rejected") }),
      "Offline",
      "failed",
    ],
    ["offline cluster", cell({ desired: published, report: report(3, "bbbbbbb2") }), "Offline", "offline"],
    ["drift", cell({ desired: published, report: report(3, "bbbbbbb2", "out_of_sync") }), "Ready", "drifted"],
    [
      "degraded",
      cell({ desired: published, report: report(3, "bbbbbbb2", "synced", "degraded") }),
      "Ready",
      "degraded",
    ],
  ] as const)("%s → %s", (_what, c, clusterState, want) => {
    expect(cellState(c, clusterState)).toBe(want);
  });
});

describe("events fold into cells", () => {
  it("a report replaces an older one and never a newer one", () => {
    const base = cell({ desired: published, report: report(3, "bbbbbbb2") });
    const older = {
      type: "report",
      cluster: "c1",
      app: "web",
      revision: "aaaaaaa1",
      observedGeneration: 2,
      phase: "synced",
      health: "healthy",
      atMs: 9,
    } as const;
    expect(withReport(base, older)).toBe(base);
    const newer = { ...older, revision: "ccccccc3", observedGeneration: 4, atMs: 10 };
    expect(withReport(base, newer).report).toEqual({ ...report(4, "ccccccc3"), receivedAtMs: 10 });
  });
  it("a desired state moves the cell to progressing until the agent reports it", () => {
    const base = cell({ desired: published, report: report(3, "bbbbbbb2") });
    const next = withDesired(base, {
      type: "desired",
      cluster: "c1",
      app: "web",
      revision: "ccccccc3",
      generation: 4,
      rolloutId: "r2",
      atMs: 5,
    });
    expect(cellState(next, "Ready")).toBe("progressing");
    expect(
      withDesired(next, {
        type: "desired",
        cluster: "c1",
        app: "web",
        revision: "x",
        generation: 3,
        rolloutId: "r1",
        atMs: 6,
      }),
    ).toBe(next);
  });
});

describe("labelPredicate", () => {
  it.each([
    ["", { env: "prod" }, true],
    ["env=prod", { env: "prod" }, true],
    ["env=prod", { env: "dev" }, false],
    ["env=prod,tier!=canary", { env: "prod", tier: "canary" }, false],
    ["env=prod, tier!=canary", { env: "prod" }, true],
    ["tier", { env: "prod" }, false],
    ["tier", { tier: "" }, true],
  ] as const)("%j on %j → %s", (text, labels, want) => {
    expect(labelPredicate(text)(labels)).toBe(want);
  });
});

describe("countOf", () => {
  it("counts clusters by state and cells by how they read", () => {
    const rows = [
      { name: "c1", labels: {}, environment: "prod", state: "Ready" },
      { name: "c2", labels: {}, environment: "prod", state: "Offline" },
    ];
    const cells = [
      cell({ desired: published, report: report(3, "bbbbbbb2") }),
      cell({ cluster: "c2", desired: published, report: report(3, "bbbbbbb2") }),
    ];
    const counts = countOf(rows, cells);
    expect(counts.clusters).toMatchObject({ Ready: 1, Offline: 1, Pending: 0 });
    expect(counts.cells).toMatchObject({ current: 1, offline: 1, failed: 0 });
  });
});

describe("withSnapshot", () => {
  const older = { generation: 2, revision: "aaaaaaa1", rolloutId: "r0", publishedAtMs: 1 };
  it.each([
    ["empty cell takes the snapshot", cell({}), cell({ desired: published, report: report(3, "bbbbbbb2") }), 3, 3],
    [
      "a snapshot older than the events applied changes nothing",
      cell({ desired: published, report: report(3, "bbbbbbb2") }),
      cell({ desired: older, report: report(2, "aaaaaaa1") }),
      3,
      3,
    ],
    [
      "a newer snapshot wins",
      cell({ desired: older, report: report(2, "aaaaaaa1") }),
      cell({ desired: published, report: report(3, "bbbbbbb2") }),
      3,
      3,
    ],
    [
      "each half keeps its newer side",
      cell({ desired: published, report: report(2, "aaaaaaa1") }),
      cell({ desired: older, report: report(3, "bbbbbbb2") }),
      3,
      3,
    ],
  ])("%s", (_, held, snap, generation, observed) => {
    const out = withSnapshot(held, snap);
    expect(out.desired?.generation).toBe(generation);
    expect(out.report?.observedGeneration).toBe(observed);
  });

  it("at one generation, keeps the report received last", () => {
    const early = { ...report(3, "bbbbbbb2", "synced", "progressing"), receivedAtMs: 5 };
    const late = { ...report(3, "bbbbbbb2"), receivedAtMs: 9 };
    expect(withSnapshot(cell({ report: late }), cell({ report: early })).report).toBe(late);
    expect(withSnapshot(cell({ report: early }), cell({ report: late })).report).toBe(late);
  });
});
