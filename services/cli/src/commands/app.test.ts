import { describe, expect, it } from "vitest";
import { diffText } from "./app.js";

describe("diffText", () => {
  it("shows one row per differing object, in sync clusters, and clusters that did not answer", () => {
    const text = diffText({
      app: "web",
      clusters: [
        {
          cluster: "a",
          ok: true,
          message: "1 object(s) differ",
          objects: [
            {
              group: "apps",
              version: "v1",
              kind: "Deployment",
              namespace: "web",
              name: "api",
              fields: ["spec.replicas"],
            },
          ],
        },
        { cluster: "b", ok: true, message: "0 object(s) differ", objects: [] },
        { cluster: "c", ok: false, message: "the agent did not answer within 30s", objects: [] },
      ],
    });
    expect(text.split("\n")).toEqual([
      "CLUSTER  OBJECT                   DIFFERS",
      "a        Deployment.apps/web/api  spec.replicas",
      "b        -                        in sync",
      "c        -                        no answer: the agent did not answer within 30s",
    ]);
  });
});
