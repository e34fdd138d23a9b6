import { describe, expect, it } from "vitest";
import { compileHealthExpression } from "./health-rules.js";

const obj = {
  apiVersion: "example.com/v1",
  kind: "Gadget",
  metadata: { name: "g", generation: 2 },
  spec: { size: 3 },
  status: { phase: "Ready", replicas: 3, conditions: [{ type: "Synced", status: "True" }] },
};

describe("compileHealthExpression", () => {
  it.each<[string, Record<string, unknown>, boolean]>([
    ["status.phase == 'Ready'", obj, true],
    ["self.status.phase == 'Ready'", obj, true],
    ["status.replicas >= spec.size", obj, true],
    ["status.conditions.exists(c, c.type == 'Synced' && c.status == 'True')", obj, true],
    ["has(status.phase) && status.phase == 'Failed'", obj, false],
    ["status.?phase.orValue('') == 'Ready'", { ...obj, status: undefined }, false],
    ["has(status.phase)", { apiVersion: "v1", kind: "X", metadata: {} }, false],
  ])("%s", (source, input, expected) => {
    expect(compileHealthExpression("rule", "current", source).evaluate(input)).toBe(expected);
  });

  it("throws when the expression fails on an object (a missing field)", () => {
    const e = compileHealthExpression("rule", "current", "status.phase == 'Ready'");
    expect(() => e.evaluate({ metadata: {} })).toThrow(/phase/);
  });

  it.each([
    ["1 +", /Unexpected/],
    ["phase == 'Ready'", /Unknown variable: phase/],
    ["1 + 2", /yields int, not bool/],
    ["status.x == 1 || 'a'", /bool/],
  ])("refuses %s with one line naming the rule", (source, reason) => {
    let message = "";
    try {
      compileHealthExpression("healthChecks[0] (example.com/Gadget)", "current", source);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^healthChecks\[0\] \(example\.com\/Gadget\): current: /);
    expect(message).toMatch(reason);
    expect(message).not.toContain("\n");
  });
});
