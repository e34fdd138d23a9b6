/** The benchmark's figures as plain-text tables. */
import type { SizeResult } from "./scenario.js";

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

const fixed = (n: number, digits = 1) => n.toFixed(digits);
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
const rate = (n: number) => `${Math.round(n).toLocaleString("en-US")} /s`;

/**
 * Rollout figures, one row per rollout of every size. "→ Succeeded" is end to end (trigger →
 * the end event seen here); "hub:" columns are by the hub's clock from the rollout's creation.
 */
export function rolloutTable(results: readonly SizeResult[]): string {
  return table(
    [
      "clusters",
      "mode",
      "rollout",
      "policy",
      "reports/rev",
      "→ created",
      "→ Succeeded",
      "hub: → last write",
      "hub: → end",
      "desired writes/s",
      "hub CPU",
      "ok",
    ],
    results.flatMap((s) =>
      s.rollouts.map((r) => [
        s.clusters.toLocaleString("en-US"),
        s.mode,
        r.name,
        r.policy,
        String(r.reportsPerRevision),
        `${fixed(r.createdSeconds, 2)} s`,
        `${fixed(r.seconds, 2)} s`,
        `${fixed(r.hub.lastWriteSeconds, 2)} s`,
        `${fixed(r.hub.endSeconds, 2)} s`,
        rate(r.desiredWritesPerSecond),
        `${fixed(r.hubCpuSeconds, 2)} s`,
        r.problems.length === 0 ? "yes" : "NO",
      ]),
    ),
  );
}

/** Per-size figures: memory, ingest bursts, liveness, API latency, stop. */
export function sizeTable(results: readonly SizeResult[]): string {
  return table(
    [
      "clusters",
      "mode",
      "load avg",
      "register",
      "hub peak RSS",
      "report burst (hub clock)",
      "report backlog drained",
      "heartbeat burst",
      "false Offline",
      "GET /v1/clusters p50",
      "?limit=500 p50",
      "GET /v1/fleet/status p50",
      "SIGTERM → exit",
    ],
    results.map((s) => [
      s.clusters.toLocaleString("en-US"),
      s.mode,
      `${fixed(s.loadBefore, 2)} → ${fixed(s.loadAfter, 2)}`,
      `${fixed(s.registrationSeconds)} s`,
      mib(s.hubPeakRssBytes),
      `${rate(s.reportBurstPerSecond)} (${rate(s.reportBurstHubPerSecond)})`,
      rate(s.reportBacklogPerSecond),
      rate(s.heartbeatBurstPerSecond),
      `${s.falseOffline} (${s.falseOfflineClusters} clusters)`,
      `${fixed(s.clustersListP50Ms)} ms (${Math.round(s.clustersListBytes / 1024)} KiB)`,
      `${fixed(s.clustersPageP50Ms)} ms`,
      `${fixed(s.fleetStatusP50Ms)} ms`,
      `${fixed(s.sigtermSeconds, 2)} s${s.sigtermKilled ? " (killed)" : ""}`,
    ]),
  );
}
