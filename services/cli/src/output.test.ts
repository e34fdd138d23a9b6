import { describe, expect, it } from "vitest";
import {
  formatAge,
  formatCounts,
  formatData,
  formatDetail,
  formatDuration,
  formatLabels,
  formatTable,
  shortSha,
} from "./output.js";

describe("formatTable", () => {
  it("aligns columns two spaces apart with upper-case headers and no trailing spaces", () => {
    expect(
      formatTable(
        ["name", "state", "labels"],
        [
          ["prod-eu-1", "Ready", "env=prod"],
          ["dev", "Pending", ""],
        ],
      ),
    ).toBe(["NAME       STATE    LABELS", "prod-eu-1  Ready    env=prod", "dev        Pending  -"].join("\n"));
  });

  it("counts wide characters as one column and keeps every row on one line", () => {
    const t = formatTable(
      ["rev", "x"],
      [
        ["a → b", "1"],
        ["line\nbreak", "2"],
      ],
    );
    expect(t.split("\n")).toEqual(["REV         X", "a → b       1", "line break  2"]);
  });
});

describe("formatDetail", () => {
  it("aligns values and leaves out undefined ones", () => {
    expect(
      formatDetail([
        ["Name", "web"],
        ["Missing", undefined],
        ["Description", "shop"],
      ]),
    ).toBe("Name:         web\nDescription:  shop");
  });
});

describe("small formats", () => {
  it("labels sorted, '-' for none", () => {
    expect(formatLabels({ tier: "canary", env: "prod" })).toBe("env=prod,tier=canary");
    expect(formatLabels({})).toBe("-");
  });
  it("durations in the largest whole unit", () => {
    expect([0, 45_000, 119_000, 180_000, 7_200_000, 172_800_000].map(formatDuration)).toEqual([
      "0s",
      "45s",
      "119s",
      "3m",
      "2h",
      "2d",
    ]);
    expect(formatAge(undefined, 0)).toBe("-");
    expect(formatAge(1_000, 61_000)).toBe("60s");
  });
  it("short SHAs, counts without zeros", () => {
    expect(shortSha("0123456789abcdef")).toBe("0123456");
    expect(shortSha("")).toBe("-");
    expect(formatCounts({ healthy: 2, degraded: 0, unknown: 1 })).toBe("healthy=2,unknown=1");
    expect(formatCounts({})).toBe("-");
  });
  it("JSON and YAML of the object as given", () => {
    expect(JSON.parse(formatData("json", { items: [{ name: "a" }] }))).toEqual({ items: [{ name: "a" }] });
    expect(formatData("yaml", { name: "a", labels: { env: "dev" } })).toBe("name: a\nlabels:\n  env: dev\n");
  });
});
