import { describe, expect, it } from "vitest";
import { hasPolicyFlags, parseSeconds, policyFromDocument, policyFromFlags } from "./policy.js";

describe("policyFromFlags", () => {
  it("builds ordered waves with per-wave settings, and remaining's under remaining", () => {
    expect(
      policyFromFlags({
        wave: ["canary:tier=canary", "eu:region in (eu-1,eu-2)", "all"],
        maxConcurrency: ["canary=1", "eu=25%", "remaining=50%"],
        bake: ["canary=5m", "eu=90s", "remaining=30"],
        failureBudget: ["eu=10%"],
        requireApproval: ["eu"],
        progressDeadline: "10m",
        autoRollback: false,
        offlineClusters: "skip",
      }),
    ).toEqual({
      waves: [
        { name: "canary", selector: "tier=canary", maxConcurrency: 1, bakeSeconds: 300 },
        {
          name: "eu",
          selector: "region in (eu-1,eu-2)",
          maxConcurrency: "25%",
          bakeSeconds: 90,
          failureBudget: "10%",
          requireApproval: true,
        },
        { name: "all" },
      ],
      remaining: { maxConcurrency: "50%", bakeSeconds: 30 },
      progressDeadlineSeconds: 600,
      autoRollback: false,
      offlineClusters: "skip",
    });
  });

  it("leaves everything out when no flag is given, so the hub's defaults apply", () => {
    expect(policyFromFlags({})).toEqual({});
    expect(hasPolicyFlags({})).toBe(false);
    expect(hasPolicyFlags({ autoRollback: true })).toBe(true);
  });

  it("refuses settings of undeclared waves, duplicate waves and bad amounts", () => {
    expect(() => policyFromFlags({ bake: ["canary=1m"] })).toThrow(
      /--bake names wave "canary", which no --wave declares/,
    );
    expect(() => policyFromFlags({ wave: ["a", "a"] })).toThrow(/declared twice/);
    expect(() => policyFromFlags({ wave: ["a"], maxConcurrency: ["a=lots"] })).toThrow(/not a count or percentage/);
    expect(() => policyFromFlags({ wave: ["a"], maxConcurrency: ["a"] })).toThrow(/is not <wave>=<value>/);
    expect(() => policyFromFlags({ wave: [":x=y"] })).toThrow(/has no name/);
    expect(() => policyFromFlags({ requireApproval: ["b"] })).toThrow(/--require-approval names wave "b"/);
  });
});

describe("parseSeconds", () => {
  it("reads seconds, s, m and h; refuses the rest", () => {
    expect(["45", "45s", "2m", "1h"].map((t) => parseSeconds(t, "--bake"))).toEqual([45, 45, 120, 3600]);
    expect(() => parseSeconds("soon", "--bake")).toThrow(/--bake "soon" is not a duration/);
    expect(() => parseSeconds("1.5s", "--bake")).toThrow(/whole number/);
  });
});

describe("policyFromDocument", () => {
  it("takes a bare policy, {policy: ...}, or a kind: Environment document", () => {
    const policy = { waves: [{ name: "a" }] };
    expect(policyFromDocument(policy, "p.yaml")).toEqual(policy);
    expect(policyFromDocument({ policy }, "p.yaml")).toEqual(policy);
    expect(policyFromDocument({ name: "prod", policy }, "p.yaml")).toEqual(policy);
    expect(
      policyFromDocument(
        { apiVersion: "flotilla.dev/v1", kind: "Environment", metadata: { name: "prod" }, spec: { policy } },
        "p.yaml",
      ),
    ).toEqual(policy);
    expect(() => policyFromDocument([1], "p.yaml")).toThrow(/p\.yaml must hold a policy object/);
  });
});
