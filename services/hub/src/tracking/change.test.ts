import { describe, expect, it } from "vitest";
import { type ChangeInputs, needsSource, wantedRevision } from "./change.js";

const S1 = "s1";
const S2 = "s2";

describe("wantedRevision", () => {
  it.each<[title: string, input: ChangeInputs, revision: string, reason: string]>([
    ["no rollout yet", { head: "h2", settings: S1 }, "h2", "first rollout"],
    [
      "already at the head",
      { head: "h2", settings: S1, latest: { to: { revision: "h2", settings: S1 } } },
      "h2",
      "already at the head",
    ],
    [
      "settings changed, inputs equal: still the head",
      {
        head: "h2",
        settings: S2,
        latest: { to: { revision: "h1", settings: S1 }, sourceDigest: "i" },
        headInputs: "i",
      },
      "h2",
      "settings changed",
    ],
    [
      "inputs changed",
      {
        head: "h2",
        settings: S1,
        latest: { to: { revision: "h1", settings: S1 }, sourceDigest: "i1" },
        headInputs: "i2",
      },
      "h2",
      "inputs changed",
    ],
    [
      "inputs unchanged: keep the revision",
      {
        head: "h2",
        settings: S1,
        latest: { to: { revision: "h1", settings: S1 }, sourceDigest: "i" },
        headInputs: "i",
      },
      "h1",
      "inputs unchanged",
    ],
    [
      "head inputs unknown (fetch failed): roll",
      { head: "h2", settings: S1, latest: { to: { revision: "h1", settings: S1 }, sourceDigest: "i" } },
      "h2",
      "inputs unknown",
    ],
    [
      "newest rollout's inputs unknown: roll",
      { head: "h2", settings: S1, latest: { to: { revision: "h1", settings: S1 } }, headInputs: "i" },
      "h2",
      "inputs unknown",
    ],
  ])("%s", (_title, input, revision, reason) => {
    expect(wantedRevision(input)).toEqual({ revision, reason });
  });

  it("needs the source only when the target may have moved", () => {
    expect(needsSource({ head: "h1", settings: S1, latest: { to: { revision: "h1", settings: S1 } } })).toBe(false);
    expect(needsSource({ head: "h2", settings: S1, latest: { to: { revision: "h1", settings: S1 } } })).toBe(true);
    expect(needsSource({ head: "h1", settings: S2, latest: { to: { revision: "h1", settings: S1 } } })).toBe(true);
    expect(needsSource({ head: "h1", settings: S1 })).toBe(true);
  });
});
