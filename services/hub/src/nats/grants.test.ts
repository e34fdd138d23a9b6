import type { KV, KvEntry } from "nats";
import { describe, expect, it } from "vitest";
import type { DesiredRecord, DesiredStore, ReportRecord, ReportStore } from "../store.js";
import { grantOf, MAX_ASKED_APPS, StoreStatusGrants, toLookUp } from "./grants.js";

const record = (app: string, generation = 3, removed = false): DesiredRecord => ({
  cluster: "a",
  app,
  generation,
  environment: "prod",
  repo: "r",
  branch: "main",
  revision: "0".repeat(40),
  path: ".",
  rolloutId: "",
  fingerprint: "f",
  publishedAtMs: 0,
  ...(removed ? { removed } : {}),
});

const report = (app: string, phase: string, observedGeneration: number): ReportRecord => ({
  cluster: "a",
  app,
  observedGeneration,
  revision: "",
  rolloutId: "",
  phase,
  health: "healthy",
  resources: [],
  reportedAtMs: 0,
  receivedAtMs: 0,
  agentVersion: "t",
  digest: "d",
});

describe("grantOf", () => {
  it.each([
    ["no records: nothing", [], [], [], [], { apps: [], notAssigned: [] }],
    ["assigned apps, sorted", [record("web"), record("api")], [], [], [], { apps: ["api", "web"], notAssigned: [] }],
    [
      "a removal the agent has not reported yet",
      [record("web", 4, true)],
      [["web", report("web", "synced", 3)]],
      [],
      [],
      { apps: ["web"], notAssigned: [] },
    ],
    [
      "a removal the agent reported: dropped",
      [record("web", 4, true)],
      [["web", report("web", "removed", 4)]],
      [],
      [],
      { apps: [], notAssigned: [] },
    ],
    [
      "a removed report of an older removal does not count",
      [record("web", 6, true)],
      [["web", report("web", "removed", 4)]],
      [],
      [],
      { apps: ["web"], notAssigned: [] },
    ],
    [
      "an asked app the bucket holds but Redis not yet",
      [record("web")],
      [],
      ["api", "db"],
      ["api"],
      { apps: ["api", "web"], notAssigned: ["db"] },
    ],
    [
      "an asked removed app whose removal was reported",
      [record("web", 4, true)],
      [["web", report("web", "removed", 4)]],
      ["web"],
      [],
      { apps: [], notAssigned: ["web"] },
    ],
  ] as const)("%s", (_what, records, reports, asked, inBucket, expected) => {
    expect(
      grantOf({
        records,
        reports: new Map(reports.map(([a, r]) => [a, r])),
        asked,
        inBucket: new Set(inBucket),
      }),
    ).toEqual(expected);
  });
});

describe("toLookUp", () => {
  it("looks up valid asked names without a record, each once, at most MAX_ASKED_APPS", () => {
    expect(toLookUp([record("web")], ["web", "api", "api", "Bad.Name", "db"])).toEqual(["api", "db"]);
    const many = Array.from({ length: MAX_ASKED_APPS + 10 }, (_, i) => `app-${i}`);
    expect(toLookUp([], many)).toHaveLength(MAX_ASKED_APPS);
  });
});

class Desired implements Pick<DesiredStore, "listDesired"> {
  constructor(readonly records: DesiredRecord[]) {}
  async listDesired(by: { cluster?: string }): Promise<DesiredRecord[]> {
    return this.records.filter((r) => r.cluster === by.cluster);
  }
}

class Reports implements Pick<ReportStore, "getReports"> {
  readonly asked: string[] = [];
  constructor(readonly reports: ReportRecord[]) {}
  async getReports(pairs: readonly { cluster: string; app: string }[]): Promise<(ReportRecord | undefined)[]> {
    this.asked.push(...pairs.map((p) => p.app));
    return pairs.map((p) => this.reports.find((r) => r.cluster === p.cluster && r.app === p.app));
  }
}

class Bucket implements Pick<KV, "get"> {
  readonly asked: string[] = [];
  constructor(readonly keys: Map<string, "PUT" | "DEL">) {}
  async get(key: string): Promise<KvEntry | null> {
    this.asked.push(key);
    const operation = this.keys.get(key);
    // Only the operation is read.
    return operation ? ({ key, operation } as KvEntry) : null;
  }
}

describe("StoreStatusGrants", () => {
  it("reads the cluster's records, the removed apps' reports and the asked apps' bucket keys", async () => {
    const reports = new Reports([report("old", "removed", 2)]);
    const bucket = new Bucket(
      new Map([
        ["a.new", "PUT"],
        ["a.gone", "DEL"],
      ]),
    );
    const grants = new StoreStatusGrants({
      desired: new Desired([record("web"), record("old", 2, true), { ...record("x"), cluster: "b" }]),
      reports,
      desiredKv: bucket,
    });
    expect(await grants.grantFor("a", ["new", "gone", "web", "made-up"])).toEqual({
      apps: ["new", "web"],
      notAssigned: ["gone", "made-up"],
    });
    expect(reports.asked).toEqual(["old"]);
    expect(bucket.asked).toEqual(["a.new", "a.gone", "a.made-up"]);
    // Nothing asked: no bucket reads.
    bucket.asked.length = 0;
    expect((await grants.grantFor("a")).apps).toEqual(["web"]);
    expect(bucket.asked).toEqual([]);
  });
});
