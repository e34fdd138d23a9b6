import { DEFAULT_BAKE_SECONDS, DEFAULT_PROGRESS_DEADLINE_SECONDS, IMPLICIT_WAVE_NAME } from "@flotilla/api";
import { describe, expect, it } from "vitest";
import { PolicyError } from "./errors.js";
import { type PlanCluster, parsePolicy, planWaves } from "./policy.js";

function cluster(
  name: string,
  labels: Record<string, string> = {},
  state: PlanCluster["state"] = "Ready",
): PlanCluster {
  return { name, labels, state };
}

function many(prefix: string, n: number, labels: Record<string, string>): PlanCluster[] {
  return Array.from({ length: n }, (_, i) => cluster(`${prefix}-${i}`, labels));
}

const OK_COND = { operator: "<", threshold: 0.1 } as const;

describe("parsePolicy", () => {
  it("gives a safe policy for an empty or missing one", () => {
    for (const input of [{}, undefined, null]) {
      const policy = parsePolicy(input);
      expect(policy).toEqual({
        waves: [],
        remaining: {},
        progressDeadlineSeconds: DEFAULT_PROGRESS_DEADLINE_SECONDS,
        autoRollback: true,
        offlineClusters: "block",
        windows: [],
      });
      const [wave] = planWaves(policy, many("c", 8, {}));
      expect(wave).toMatchObject({ name: IMPLICIT_WAVE_NAME, maxConcurrency: 1, failureBudget: 0 });
      expect(wave?.bakeSeconds).toBe(DEFAULT_BAKE_SECONDS);
    }
  });

  it.each([
    [{ waves: [{ name: "canary", maxConcurrency: 0 }] }, "waves.0.maxConcurrency", "percentage"],
    [{ waves: [{ name: "canary", maxConcurrency: "0%" }] }, "waves.0.maxConcurrency", "percentage"],
    [{ waves: [{ name: "canary", maxConcurrency: "150%" }] }, "waves.0.maxConcurrency", "percentage"],
    [{ waves: [{ name: "canary", maxConcurrency: 1.5 }] }, "waves.0.maxConcurrency", "whole number"],
    [{ waves: [{ name: "canary", failureBudget: -1 }] }, "waves.0.failureBudget", "0 or more"],
    [{ waves: [{ name: "canary", failureBudget: "ten%" }] }, "waves.0.failureBudget", "percentage"],
    [{ waves: [{ name: "canary", bakeSecond: 5 }] }, "waves.0", "bakeSecond"],
    [{ waves: [{ name: "Canary" }] }, "waves.0.name", "DNS label"],
    [{ waves: [{ name: "a" }, { name: "a" }] }, "waves.1.name", "used twice"],
    [{ waves: [{ name: "remaining" }] }, "waves.0.name", "reserved"],
    [{ waves: [{ name: "a", selector: "tier in (x" }] }, "waves.0.selector", "unbalanced"],
    [{ waves: [{ name: "a", selector: { tier: "x y" } }] }, "waves.0.selector", "not a label value"],
    [{ offlineClusters: "wait" }, "offlineClusters", "block"],
    [{ progressDeadlineSeconds: 0 }, "progressDeadlineSeconds", ""],
    [{ remaining: { requireApproval: "yes" } }, "remaining.requireApproval", ""],
    [{ windows: [{ kind: "allow", schedule: "0 25 * * *", durationSeconds: 60 }] }, "windows.0.schedule", "cron"],
    [{ windows: [{ kind: "allow", schedule: "not cron", durationSeconds: 60 }] }, "windows.0.schedule", "cron"],
    [
      { windows: [{ kind: "deny", schedule: "0 2 * * *", timeZone: "Mars/Base", durationSeconds: 60 }] },
      "windows.0.timeZone",
      "IANA time zone",
    ],
    [{ windows: [{ kind: "maybe", schedule: "0 2 * * *", durationSeconds: 60 }] }, "windows.0.kind", '"allow"'],
    [{ windows: [{ kind: "deny", schedule: "0 2 * * *", durationSeconds: 0 }] }, "windows.0.durationSeconds", ""],
    [{ waves: [{ name: "c", analysis: [{ name: "e", query: "up" }] }] }, "waves.0.analysis.0.successCondition", ""],
    [
      { waves: [{ name: "c", analysis: [{ name: "e", query: "up{x='{{region}}'}", successCondition: OK_COND }] }] },
      "waves.0.analysis.0.query",
      "{{region}}",
    ],
    [
      {
        waves: [
          { name: "c", analysis: [{ name: "e", query: "up", successCondition: { operator: "=", threshold: 1 } }] },
        ],
      },
      "waves.0.analysis.0.successCondition.operator",
      "one of < <= > >=",
    ],
    [
      {
        waves: [
          {
            name: "c",
            analysis: [
              { name: "e", query: "up", successCondition: OK_COND },
              { name: "e", query: "up", successCondition: OK_COND },
            ],
          },
        ],
      },
      "waves.0.analysis.1.name",
      "used twice",
    ],
    [
      { remaining: { analysis: [{ name: "e", query: "up", successCondition: OK_COND, count: 0 }] } },
      "remaining.analysis.0.count",
      "",
    ],
  ])("refuses %j, naming %s", (input, field, words) => {
    try {
      parsePolicy(input, "prod");
      expect.unreachable("policy was accepted");
    } catch (err) {
      expect(err).toBeInstanceOf(PolicyError);
      const e = err as PolicyError;
      expect(e.field).toBe(field);
      expect(e.environment).toBe("prod");
      expect(e.message).toContain('environment "prod"');
      expect(e.message).toContain(words);
      expect(e.retryable).toBe(false);
    }
  });

  it("lists every problem in one line when there are several", () => {
    expect(() => parsePolicy({ waves: [{ name: "a", maxConcurrency: 0 }], autoRollback: "no" })).toThrow(
      /waves\.0\.maxConcurrency: .*; autoRollback: /,
    );
  });
});

describe("planWaves", () => {
  const policy = parsePolicy({
    waves: [
      { name: "canary", selector: { tier: "canary" } },
      { name: "eu", selector: "region=eu", maxConcurrency: "50%", failureBudget: "50%" },
      { name: "us", selector: "region in (us-east,us-west)", maxConcurrency: 2, requireApproval: true, bakeSeconds: 0 },
    ],
    remaining: { maxConcurrency: "100%" },
  });
  const fleet = [
    cluster("eu-2", { region: "eu" }, "Offline"),
    cluster("eu-1", { region: "eu", tier: "canary" }),
    cluster("eu-3", { region: "eu" }),
    cluster("us-1", { region: "us-east" }),
    cluster("ap-1", { region: "ap" }),
    cluster("nolabels"),
  ];

  it("puts each cluster in the first wave it matches, and the rest in an implicit last wave", () => {
    const waves = planWaves(policy, fleet);
    expect(waves.map((w) => [w.name, w.implicit, w.clusters])).toEqual([
      ["canary", false, ["eu-1"]],
      ["eu", false, ["eu-2", "eu-3"]],
      ["us", false, ["us-1"]],
      [IMPLICIT_WAVE_NAME, true, ["ap-1", "nolabels"]],
    ]);
    const planned = waves.flatMap((w) => w.clusters).sort();
    expect(planned).toEqual(fleet.map((c) => c.name).sort());
  });

  it("resolves settings per wave and lists offline clusters", () => {
    const [canary, eu, us, rest] = planWaves(policy, fleet);
    expect(canary).toMatchObject({ maxConcurrency: 1, failureBudget: 0, requireApproval: false, offline: [] });
    expect(eu).toMatchObject({ maxConcurrency: 1, failureBudget: 1, offline: ["eu-2"] });
    expect(us).toMatchObject({ maxConcurrency: 2, requireApproval: true, bakeSeconds: 0 });
    expect(rest).toMatchObject({ maxConcurrency: 2, failureBudget: 0 });
  });

  it("keeps explicit waves that match nothing, and leaves out an empty implicit wave", () => {
    const waves = planWaves(policy, [cluster("c", { tier: "canary" })]);
    expect(waves.map((w) => [w.name, w.clusters.length])).toEqual([
      ["canary", 1],
      ["eu", 0],
      ["us", 0],
    ]);
  });

  it("leaves out clusters the app's selector does not match", () => {
    const waves = planWaves(policy, fleet, "region");
    expect(waves.flatMap((w) => w.clusters)).toEqual(["eu-1", "eu-2", "eu-3", "us-1", "ap-1"]);
    expect(planWaves(policy, fleet, { region: "eu" }).flatMap((w) => w.clusters)).toEqual(["eu-1", "eu-2", "eu-3"]);
  });

  it("defaults the first wave to one cluster at a time and later waves to 25%", () => {
    const p = parsePolicy({
      waves: [
        { name: "one", selector: { w: "1" } },
        { name: "two", selector: { w: "2" } },
      ],
    });
    const [one, two, rest] = planWaves(p, [
      ...many("a", 10, { w: "1" }),
      ...many("b", 10, { w: "2" }),
      ...many("c", 3, {}),
    ]);
    expect(one?.maxConcurrency).toBe(1);
    expect(two?.maxConcurrency).toBe(3);
    expect(rest?.maxConcurrency).toBe(1);
    expect([one, two, rest].map((w) => w?.failureBudget)).toEqual([0, 0, 0]);
  });

  it.each([
    // concurrency rounds up (at least one), budget rounds down (never more than asked)
    ["25%", "10%", 1, 1, 0],
    ["25%", "10%", 3, 1, 0],
    ["25%", "10%", 5, 2, 0],
    ["25%", "10%", 9, 3, 0],
    ["25%", "10%", 10, 3, 1],
    ["50%", "50%", 3, 2, 1],
    ["100%", "100%", 7, 7, 7],
    ["1%", "0%", 250, 3, 0],
    [4, 2, 3, 4, 2],
  ] as const)("maxConcurrency %s and failureBudget %s of %i clusters → %i and %i", (concurrency, budget, n, c, b) => {
    const p = parsePolicy({ waves: [{ name: "w", maxConcurrency: concurrency, failureBudget: budget }] });
    const [wave] = planWaves(p, many("c", n, {}));
    expect(wave?.maxConcurrency).toBe(c);
    expect(wave?.failureBudget).toBe(b);
  });
});
