/**
 * The agent's health rules against kstatus, the reference Flux and Rancher Fleet use, on every
 * state of the corpus (test/conformance/health): kstatus's own published cases as data, and
 * states written for the classes of false Healthy the agent once had. Fails on any state the
 * agent calls Healthy and kstatus does not, unless listed with its reason; lists every other
 * difference with a reason too (differences.yaml, shown in docs/health.md).
 *
 * Needs the kstatus fixture: ./scripts/fixtures.sh. Starts no server.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { assessHealth, DEFAULT_HEALTH_SETTINGS } from "@flotilla/agent";
import { healthName } from "@flotilla/proto";
import { beforeAll, describe, expect, it } from "vitest";
import {
  CORPUS_DIR,
  type CorpusState,
  type Difference,
  KSTATUS_TO_OURS,
  kstatusVerdicts,
  loadCorpus,
  loadDifferences,
} from "./corpus.js";

interface Row {
  state: CorpusState;
  ours: string;
  oursMessage: string;
  kstatus: string;
  kstatusMessage: string;
}

const nowMs = Date.now();
let rows: Row[] = [];
let differences: Difference[] = [];

beforeAll(() => {
  const states = loadCorpus(nowMs);
  const verdicts = kstatusVerdicts(states.map((s) => s.object));
  expect(verdicts).toHaveLength(states.length);
  rows = states.map((state, i) => {
    const a = assessHealth(state.object, {
      nowMs,
      settings: DEFAULT_HEALTH_SETTINGS,
      statusSubresource: state.context?.statusSubresource,
    });
    const k = verdicts[i] ?? { status: "missing", message: "" };
    return { state, ours: healthName(a.health), oursMessage: a.message, kstatus: k.status, kstatusMessage: k.message };
  });
  differences = loadDifferences();
  const differing = rows.filter((r) => !agrees(r)).length;
  const rate = ((100 * (rows.length - differing)) / rows.length).toFixed(1);
  const falseHealthy = rows.filter((r) => r.ours === "healthy" && r.kstatus !== "Current").length;
  console.log(
    `health conformance: ${rows.length} states, ${rows.length - differing} agree with kstatus (${rate}%), ` +
      `${differing} deliberate differences, ${falseHealthy} where only the agent says Healthy`,
  );
});

function agrees(r: Row): boolean {
  return KSTATUS_TO_OURS[r.kstatus] === r.ours;
}

function describeRow(r: Row): string {
  return `${r.state.name}: agent ${r.ours} (${r.oursMessage}), kstatus ${r.kstatus} (${r.kstatusMessage})`;
}

describe("health conformance with kstatus", () => {
  it("runs over at least 100 states, kstatus's own published cases among them", () => {
    expect(rows.length).toBeGreaterThanOrEqual(100);
    expect(rows.filter((r) => r.state.name.startsWith("kstatus/")).length).toBeGreaterThanOrEqual(50);
    expect(new Set(rows.map((r) => r.state.name)).size).toBe(rows.length);
  });

  it("gets kstatus's published verdicts from the built kstatus", () => {
    const published = rows.filter((r) => r.state.kstatus !== undefined);
    const wrong = published.filter((r) => r.kstatus !== r.state.kstatus).map(describeRow);
    expect(wrong).toEqual([]);
  });

  it("calls no state Healthy that kstatus does not, unless it is listed with why", () => {
    const listed = new Set(differences.map((d) => d.state));
    const unexplained = rows
      .filter((r) => r.ours === "healthy" && r.kstatus !== "Current" && !listed.has(r.state.name))
      .map(describeRow);
    expect(unexplained).toEqual([]);
  });

  it("lists every other difference, with the verdicts it has and a reason", () => {
    const byState = new Map(differences.map((d) => [d.state, d]));
    const unlisted = rows.filter((r) => !agrees(r) && !byState.has(r.state.name)).map(describeRow);
    expect(unlisted, "differences not in differences.yaml").toEqual([]);
    const rowByState = new Map(rows.map((r) => [r.state.name, r]));
    const stale = differences
      .filter((d) => {
        const r = rowByState.get(d.state);
        return !r || agrees(r) || r.ours !== d.ours || r.kstatus !== d.kstatus || d.reason.trim().length < 20;
      })
      .map((d) => `${d.state}: listed as agent ${d.ours}, kstatus ${d.kstatus}`);
    expect(stale, "entries of differences.yaml that no longer hold").toEqual([]);
  });

  it("shows every deliberate difference in docs/health.md", () => {
    const doc = readFileSync(join(CORPUS_DIR, "..", "..", "..", "docs", "health.md"), "utf8");
    const missing = differences.filter((d) => !doc.includes(`\`${d.state}\``)).map((d) => d.state);
    expect(missing).toEqual([]);
  });
});
