import type { AppStatus, Report } from "@flotilla/api";
import { describe, expect, it } from "vitest";
import { diffText, sourceText } from "./app.js";

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

describe("sourceText", () => {
  const report = (cluster: string, sourceType?: Report["sourceType"]): Report => ({
    cluster,
    app: "web",
    observedGeneration: 1,
    revision: "a".repeat(40),
    rolloutId: "",
    phase: "synced",
    health: "healthy",
    resources: [],
    reportedAtMs: 0,
    receivedAtMs: 0,
    agentVersion: "0.1.0",
    digest: "d",
    ...(sourceType ? { sourceType } : {}),
  });
  const withReports = (...types: (Report["sourceType"] | null)[]): AppStatus => ({
    app: "web",
    repo: "web",
    rollouts: [],
    clusters: types.map((t, i) => ({
      cluster: `c${i}`,
      app: "web",
      environment: "prod",
      desired: null,
      report: t === null ? null : report(`c${i}`, t),
      current: false,
      clusterState: "Ready",
    })),
  });

  it("shows a named type as it is, and auto with what the agents detected", () => {
    expect(sourceText("helm", withReports("helm"))).toBe("helm");
    expect(sourceText("auto", withReports())).toBe("auto");
    expect(sourceText("auto", withReports(null, undefined))).toBe("auto");
    expect(sourceText("auto", withReports("kustomize", "kustomize", null))).toBe("auto (detected: kustomize)");
    expect(sourceText("auto", withReports("manifests", "kustomize"))).toBe("auto (detected: kustomize, manifests)");
  });
});
