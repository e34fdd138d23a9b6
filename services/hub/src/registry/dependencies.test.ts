import { describe, expect, it } from "vitest";
import { dependencyCycle } from "./dependencies.js";

describe("dependencyCycle", () => {
  it.each<[title: string, edges: Record<string, string[]>, cycle: string[] | undefined]>([
    ["no apps", {}, undefined],
    ["a chain", { api: ["db"], db: ["cache"], cache: [] }, undefined],
    ["a diamond", { web: ["api", "auth"], api: ["db"], auth: ["db"], db: [] }, undefined],
    ["a dependency on an app outside the graph", { api: ["db"] }, undefined],
    ["an app on itself", { api: ["api"] }, ["api", "api"]],
    ["two apps on each other", { api: ["db"], db: ["api"] }, ["api", "db", "api"]],
    [
      "a longer cycle, named from where it closes",
      { web: ["api"], api: ["db"], db: ["queue"], queue: ["api"] },
      ["api", "db", "queue", "api"],
    ],
  ])("%s", (_title, edges, cycle) => {
    expect(dependencyCycle(new Map(Object.entries(edges)))).toEqual(cycle);
  });

  it("names the cycle from the app being saved", () => {
    const graph = new Map(Object.entries({ api: ["db"], db: ["api"] }));
    expect(dependencyCycle(graph, ["db"])).toEqual(["db", "api", "db"]);
  });
});
