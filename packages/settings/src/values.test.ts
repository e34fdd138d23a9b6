import { describe, expect, it } from "vitest";
import { flagSchema, listSchema } from "./values.js";

describe("flagSchema", () => {
  it.each([
    ["true", true],
    ["1", true],
    [true, true],
    ["false", false],
    ["0", false],
    [false, false],
  ])("reads %j as %s", (value, want) => {
    expect(flagSchema.parse(value)).toBe(want);
  });

  it.each(["yes", "TRUE", ""])("refuses %j", (value) => {
    expect(flagSchema.safeParse(value).success).toBe(false);
  });
});

describe("listSchema", () => {
  it.each([
    ["a, b,,c ", ["a", "b", "c"]],
    ["", []],
    [[" a ", ""], ["a"]],
  ])("reads %j as %j", (value, want) => {
    expect(listSchema.parse(value)).toEqual(want);
  });
});
