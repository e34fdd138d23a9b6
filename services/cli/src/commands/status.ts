import { type App, type FleetStatus, IN_FLIGHT_PHASES, type List, type RolloutSummary } from "@flotilla/api";
import type { Command } from "commander";
import type { HubClient } from "../client.js";
import type { CommandModule } from "../context.js";
import { NotFoundError } from "../errors.js";
import { examples } from "../help.js";
import { formatCounts, formatDetail, formatTable } from "../output.js";
import { ROLLOUT_LIST_HEADERS, rolloutRow } from "../rolloutview.js";
import { addWatchOptions, showView, type WatchFlags } from "../views.js";

/** What `status -o json|yaml` prints: the fleet summary as the hub returns it, plus counts the CLI adds. */
export interface StatusView {
  /** `GET /v1/fleet/status`, untouched. */
  fleet: FleetStatus;
  /** Number of apps defined. */
  apps: number;
  /** Rollouts Pending, Progressing or Paused; null when the hub does not serve rollouts. */
  rollouts: RolloutSummary[] | null;
}

/** `flotilla status`. */
export const registerStatusCommands: CommandModule = (program, ctx) => {
  addWatchOptions(
    program
      .command("status")
      .description("fleet summary: clusters by state, apps by sync and health per environment, rollouts in flight"),
  )
    .addHelpText(
      "after",
      examples(
        ["how the fleet is doing", "flotilla status"],
        ["for a dashboard script", "flotilla status -o json"],
        ["on a wall screen", "flotilla status --watch --interval 5s"],
      ),
    )
    .action(async (opts: WatchFlags, cmd: Command) => {
      const client = ctx.client(cmd);
      const read = async (): Promise<StatusView> => {
        const [fleet, apps, rollouts] = await Promise.all([
          client.get<FleetStatus>("/v1/fleet/status"),
          client.get<List<App>>("/v1/apps"),
          inFlight(client),
        ]);
        return { fleet, apps: apps.items.length, rollouts };
      };
      await showView(ctx, cmd, opts, read, statusText);
    });
};

async function inFlight(client: HubClient): Promise<RolloutSummary[] | null> {
  try {
    const list = await client.get<List<RolloutSummary>>("/v1/rollouts");
    return list.items.filter((r) => (IN_FLIGHT_PHASES as readonly string[]).includes(r.state));
  } catch (err) {
    // A hub without the rollout routes still has a fleet to summarize.
    if (err instanceof NotFoundError && err.body.message?.startsWith("no route")) return null;
    throw err;
  }
}

/** The human view of `flotilla status`. */
export function statusText(v: StatusView, nowMs: number): string {
  const c = v.fleet.clusters;
  const head = formatDetail([
    ["Clusters", `${c.total} (Ready ${c.Ready ?? 0}, Offline ${c.Offline ?? 0}, Pending ${c.Pending ?? 0})`],
    ["Apps", String(v.apps)],
    [
      "Rollouts in flight",
      v.rollouts === null ? "unknown (this hub does not serve /v1/rollouts)" : String(v.rollouts.length),
    ],
  ]);
  const envs = Object.entries(v.fleet.environments).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const envTable =
    envs.length === 0
      ? "Environments: none (label clusters env=<name>)"
      : `Environments:\n${formatTable(
          ["env", "clusters", "ready", "offline", "pending", "apps on clusters", "current", "sync", "health"],
          envs.map(([name, e]) => {
            const total = Object.values(e.clusters).reduce((a, b) => a + b, 0);
            return [
              name || "(no env label)",
              String(total),
              String(e.clusters.Ready ?? 0),
              String(e.clusters.Offline ?? 0),
              String(e.clusters.Pending ?? 0),
              String(e.apps),
              String(e.current),
              formatCounts(e.sync),
              formatCounts(e.health),
            ];
          }),
        )}`;
  const rolloutTable =
    v.rollouts && v.rollouts.length > 0
      ? `\n\nRollouts in flight:\n${formatTable(
          ROLLOUT_LIST_HEADERS,
          v.rollouts.map((r) => rolloutRow(r, nowMs)),
        )}`
      : "";
  return `${head}\n\n${envTable}${rolloutTable}`;
}
