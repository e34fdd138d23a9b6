import { appSpecSchema, type HealthCheck } from "@flotilla/api";
import { describe, expect, it } from "vitest";
import { healthRulesInput, mergeHealthChecks } from "./health-checks.js";

const rule = (kind: string, current: string, group = "example.com"): HealthCheck => ({ group, kind, current });

describe("mergeHealthChecks", () => {
  it.each<[string, HealthCheck[], HealthCheck[], [string, string][]]>([
    ["none", [], [], []],
    ["the app's only", [], [rule("Gadget", "true")], [["Gadget", "true"]]],
    [
      "team's then app's",
      [rule("Widget", "a")],
      [rule("Gadget", "b")],
      [
        ["Widget", "a"],
        ["Gadget", "b"],
      ],
    ],
    [
      "the app's replaces the team's for a kind",
      [rule("Gadget", "team")],
      [rule("Gadget", "app")],
      [["Gadget", "app"]],
    ],
    [
      "the same kind in another group is another rule",
      [rule("Gadget", "a", "one.io")],
      [rule("Gadget", "b", "two.io")],
      [
        ["Gadget", "a"],
        ["Gadget", "b"],
      ],
    ],
  ])("%s", (_name, team, app, expected) => {
    expect(mergeHealthChecks(team, app).map((r) => [r.kind, r.current])).toEqual(expected);
  });

  it("fills every field so a rule fingerprints the same after a protobuf round trip", () => {
    const [wire] = mergeHealthChecks([], [{ group: "", kind: "Service", deadlineSeconds: 60 }]);
    expect(healthRulesInput([wire ?? {}])).toEqual(healthRulesInput([{ kind: "Service", deadlineSeconds: 60 }]));
  });
});

describe("App spec healthChecks", () => {
  const spec = (healthChecks: unknown) => ({ repo: "r", namespace: "n", healthChecks });
  it("accepts good rules", () => {
    const parsed = appSpecSchema.parse(
      spec([
        {
          group: "example.com",
          kind: "Gadget",
          current: "status.phase == 'Ready'",
          failed: "status.phase == 'Failed'",
        },
        { group: "batch", kind: "Job", deadlineSeconds: 7200 },
      ]),
    );
    expect(parsed.healthChecks?.map((c) => c.kind)).toEqual(["Gadget", "Job"]);
  });

  it.each<[string, unknown, string, RegExp]>([
    [
      "CEL that does not parse",
      [{ kind: "Gadget", current: "status.phase ==" }],
      "healthChecks.0.current",
      /not a CEL bool expression/,
    ],
    [
      "an unknown variable",
      [{ kind: "Gadget", current: "phase == 'Ready'" }],
      "healthChecks.0.current",
      /Unknown variable: phase/,
    ],
    [
      "an expression that is not a bool",
      [{ kind: "Gadget", current: "true", failed: "1 + 1" }],
      "healthChecks.0.failed",
      /not bool/,
    ],
    ["neither current nor deadline", [{ kind: "Gadget" }], "healthChecks.0.current", /is required/],
    [
      "failed without current",
      [{ kind: "Gadget", failed: "true", deadlineSeconds: 9 }],
      "healthChecks.0.current",
      /is required/,
    ],
    ["a kind that is not one", [{ kind: "gadget", current: "true" }], "healthChecks.0.kind", /Kubernetes kind/],
    [
      "the same kind twice",
      [
        { kind: "Gadget", current: "true" },
        { kind: "Gadget", current: "false" },
      ],
      "healthChecks.1.kind",
      /already/,
    ],
  ])("refuses %s, naming the field", (_name, checks, field, message) => {
    const r = appSpecSchema.safeParse(spec(checks));
    expect(r.success).toBe(false);
    const issue = r.error?.issues[0];
    expect(issue?.path.join(".")).toBe(field);
    expect(issue?.message).toMatch(message);
    expect(issue?.message).not.toContain("\n");
  });
});
