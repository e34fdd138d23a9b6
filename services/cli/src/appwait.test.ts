import type { AppOnCluster, AppStatus } from "@flotilla/api";
import { describe, expect, it } from "vitest";
import { appWaitVerdict } from "./appwait.js";

function row(
  cluster: string,
  o: { published?: boolean; current?: boolean; phase?: string; health?: string; reported?: boolean },
): AppOnCluster & { clusterState: "Ready" } {
  const published = o.published ?? true;
  return {
    cluster,
    app: "web",
    environment: "prod",
    desired: published ? { generation: 2, revision: "abc", rolloutId: "r1", publishedAtMs: 1 } : null,
    report:
      o.reported === false
        ? null
        : {
            cluster,
            app: "web",
            observedGeneration: o.current === false ? 1 : 2,
            revision: "abc",
            rolloutId: "r1",
            phase: o.phase ?? "synced",
            health: o.health ?? "healthy",
            resources: [],
            reportedAtMs: 1,
            receivedAtMs: 1,
            agentVersion: "t",
            digest: "d",
          },
    current: o.current ?? true,
    clusterState: "Ready",
  };
}

const status = (...clusters: ReturnType<typeof row>[]): AppStatus => ({
  app: "web",
  repo: "r",
  rollouts: [],
  clusters,
});

describe("appWaitVerdict", () => {
  const cases: [string, AppStatus, boolean, boolean, string[]][] = [
    ["published nowhere", status(), false, false, ["no cluster has a desired state of this app yet"]],
    ["synced and healthy everywhere", status(row("a", {}), row("b", {})), true, true, []],
    [
      "a cluster without a report",
      status(row("a", {}), row("b", { reported: false })),
      false,
      false,
      ["b: no report yet"],
    ],
    [
      "an older generation",
      status(row("a", { current: false })),
      false,
      false,
      ["a: reports generation 1, not the last published"],
    ],
    ["failed sync", status(row("a", { phase: "failed" })), false, false, ["a: failed"]],
    ["synced but progressing, without --health", status(row("a", { health: "progressing" })), false, true, []],
    [
      "synced but progressing, with --health",
      status(row("a", { health: "progressing" })),
      true,
      false,
      ["a: progressing"],
    ],
    [
      "a cluster it is not published to is ignored",
      status(row("a", {}), row("b", { published: false, reported: false })),
      true,
      true,
      [],
    ],
  ];
  it.each(cases)("%s", (_what, s, health, done, waiting) => {
    expect(appWaitVerdict(s, { health })).toEqual({ done, waiting });
  });
});
