import {
  IN_FLIGHT_PHASES,
  type List,
  type PlannedWave,
  type PlanPreview,
  type RolloutSummary,
  type RolloutView,
  TERMINAL_PHASES,
} from "@flotilla/api";
import type { Command } from "commander";
import { apiPath } from "../client.js";
import { isHuman } from "../config.js";
import type { CommandContext, CommandModule } from "../context.js";
import { UsageError } from "../errors.js";
import { examples } from "../help.js";
import { formatTable } from "../output.js";
import { parseSeconds } from "../policy.js";
import { planText, ROLLOUT_LIST_HEADERS, rolloutRow, rolloutText } from "../rolloutview.js";
import { parseInterval } from "../views.js";
import { DEFAULT_WATCH_INTERVAL_MS, watchRollout } from "../watch.js";

const PHASES = [...IN_FLIGHT_PHASES, ...TERMINAL_PHASES];

/** The operator commands of `POST /v1/rollouts/:id/<command>`, with what each does. */
const COMMANDS = [
  [
    "pause",
    "stop writing new clusters and starting waves until resume (in-flight clusters are still judged)",
    "paused",
  ],
  ["resume", "undo pause", "resumed"],
  ["promote", "approve the wave that waits for approval", "promoted"],
  ["abort", "end the rollout Failed, leaving every cluster as it is", "aborted"],
  ["rollback", "end the rollout and roll every cluster that got the revision back to the last good one", "rolled back"],
] as const;

/** `flotilla rollout list|get|watch|plan|pause|resume|promote|abort|rollback|override`. */
export const registerRolloutCommands: CommandModule = (program, ctx) => {
  const rollout = program
    .command("rollout")
    .description("follow and steer rollouts of new revisions through an environment's waves");

  rollout
    .command("list")
    .alias("ls")
    .description("list rollouts, newest first")
    .option("--app <app>", "only this app's")
    .option("--env <environment>", "only this environment's")
    .option("--state <state>", `only in this state: ${PHASES.join(", ")}`)
    .addHelpText(
      "after",
      examples(
        ["every rollout", "flotilla rollout list"],
        ["what is moving in prod", "flotilla rollout list --env prod --state Progressing"],
      ),
    )
    .action(async (opts: { app?: string; env?: string; state?: string }, cmd: Command) => {
      if (opts.state !== undefined && !(PHASES as readonly string[]).includes(opts.state)) {
        throw new UsageError(
          `--state ${JSON.stringify(opts.state)} is not a rollout state`,
          `use one of ${PHASES.join(", ")}`,
        );
      }
      const list = await ctx
        .client(cmd)
        .get<List<RolloutSummary>>("/v1/rollouts", { app: opts.app, environment: opts.env, state: opts.state });
      if (ctx.human(cmd) && list.items.length === 0) return ctx.note("no rollouts match");
      const now = ctx.now();
      ctx.print(cmd, list, () =>
        formatTable(
          ROLLOUT_LIST_HEADERS,
          list.items.map((r) => rolloutRow(r, now)),
        ),
      );
    });

  rollout
    .command("get")
    .description("show a rollout: its waves, every cluster's progress, and why anything failed")
    .argument("<id>", "rollout id (see 'flotilla rollout list')")
    .addHelpText(
      "after",
      examples(["one rollout", "flotilla rollout get <id>"], ["as JSON", "flotilla rollout get <id> -o json"]),
    )
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const r = await ctx.client(cmd).get<RolloutView>(apiPath`/v1/rollouts/${id}`);
      ctx.print(cmd, r, () => rolloutText(r, ctx.now()));
    });

  rollout
    .command("watch")
    .description(
      "follow a rollout until it ends: exit 0 if it Succeeded, 3 if it Failed or RolledBack, 4 if Superseded",
    )
    .argument("<id>", "rollout id")
    .option("--interval <duration>", "how often to read the rollout (1s, 500ms, 5s)", `${DEFAULT_WATCH_INTERVAL_MS}ms`)
    .option("--timeout <duration>", "give up (exit 1) if it has not ended by then, e.g. 15m")
    .addHelpText(
      "after",
      examples(
        ["watch live (redrawn in place on a terminal)", "flotilla rollout watch <id>"],
        [
          "in CI: one line per change, fail the job unless it succeeds",
          "flotilla rollout watch <id> --timeout 30m | tee rollout.log",
        ],
        ["a JSON object per change, for a script", "flotilla rollout watch <id> -o json | jq .state"],
      ),
    )
    .action(async (id: string, opts: { interval: string; timeout?: string }, cmd: Command) => {
      const format = ctx.format(cmd);
      await watchRollout(ctx.client(cmd), id, ctx.io, {
        intervalMs: parseInterval(opts.interval),
        ...(opts.timeout !== undefined ? { timeoutMs: parseSeconds(opts.timeout, "--timeout") * 1000 } : {}),
        format,
        tty: isHuman(format) && Boolean(ctx.io.stdout.isTTY),
        now: ctx.now,
      });
    });

  rollout
    .command("plan")
    .description("preview, changing nothing, which clusters of an environment fall in which wave for an app")
    .argument("<environment>", "environment name")
    .requiredOption("--app <app>", "the app whose cluster selector applies")
    .addHelpText(
      "after",
      examples(["the prod waves for the storefront app", "flotilla rollout plan prod --app storefront"]),
    )
    .action(async (environment: string, opts: { app: string }, cmd: Command) => {
      const plan = await ctx
        .client(cmd)
        .post<Pick<PlanPreview, "waves" | "holds" | "dependsOn"> | PlannedWave[]>(
          apiPath`/v1/environments/${environment}/plan`,
          { json: { app: opts.app } },
        );
      ctx.print(cmd, plan, () => {
        if (Array.isArray(plan)) return planText(plan);
        const notes = [
          ...(plan.holds ?? []).map(
            (h) => `Held now by a ${h.kind}${h.clusters ? ` (clusters ${h.clusters.join(", ")})` : ""}: ${h.reason}`,
          ),
          ...(plan.dependsOn?.length
            ? [`On each cluster, waits for ${plan.dependsOn.join(", ")} to be Healthy there first`]
            : []),
        ];
        return [planText(plan.waves), ...notes].join("\n");
      });
    });

  for (const [name, what, done] of COMMANDS) registerCommandVerb(rollout, ctx, name, what, done);
  registerCommandVerb(
    rollout,
    ctx,
    "override",
    "let this rollout move although a window is closed or a freeze is in force (admins; audited)",
    "overridden",
  );
};

function registerCommandVerb(rollout: Command, ctx: CommandContext, name: string, what: string, done: string): void {
  rollout
    .command(name)
    .description(what)
    .argument("<id>", "rollout id")
    .addHelpText("after", examples([what, `flotilla rollout ${name} <id>`]))
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const r = await ctx.client(cmd).post<RolloutView | undefined>(apiPath`/v1/rollouts/${id}/${name}`);
      ctx.print(cmd, r ?? { id, command: name, accepted: true }, () =>
        r?.state ? `rollout ${id} ${done} (now ${r.state})` : `rollout ${id}: ${name} accepted`,
      );
    });
}
