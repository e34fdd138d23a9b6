import { describeSelector, type Freeze, type List } from "@flotilla/api";
import type { Command } from "commander";
import { apiPath } from "../client.js";
import type { CommandModule } from "../context.js";
import { UsageError } from "../errors.js";
import { examples } from "../help.js";
import { formatAge, formatTable } from "../output.js";

interface Target {
  env?: string;
  fleet?: boolean;
}

/** The API path of the freeze `--env` or `--fleet` names; exactly one must be given. */
function freezePath(opts: Target, verb: string): string {
  if ((opts.env === undefined) === !opts.fleet)
    throw new UsageError(
      `${verb} needs exactly one of --env <environment> or --fleet`,
      `e.g. flotilla ${verb} --env prod`,
    );
  return opts.env !== undefined ? apiPath`/v1/environments/${opts.env}/freeze` : "/v1/freeze";
}

/** `flotilla freeze`, `flotilla unfreeze`, `flotilla freezes`: an admin's "no new changes now". */
export const registerFreezeCommands: CommandModule = (program, ctx) => {
  program
    .command("freeze")
    .description(
      "hold every rollout of an environment (or the fleet): no wave starts and no new cluster is written until unfreeze",
    )
    .option("--env <environment>", "freeze this environment")
    .option("--fleet", "freeze every environment")
    .option("--selector <selector>", 'with --env: only its clusters this selects wait, e.g. "region=us"')
    .requiredOption("--reason <text>", "why; every held rollout shows it")
    .addHelpText(
      "after",
      examples(
        ["during an incident", 'flotilla freeze --env prod --reason "incident 4711"'],
        ["a change freeze", 'flotilla freeze --fleet --reason "year-end freeze"'],
        ["some clusters only", 'flotilla freeze --env prod --selector region=us --reason "us rack swap"'],
      ) +
        "\nClusters already written are still judged and rolled back if they fail. One rollout can be let through: flotilla rollout override <id>.\n",
    )
    .action(async (opts: Target & { reason: string; selector?: string }, cmd: Command) => {
      if (opts.selector !== undefined && opts.fleet)
        throw new UsageError(
          "--selector limits an environment's freeze; give --env with it",
          "e.g. flotilla freeze --env prod --selector region=us --reason ...",
        );
      const json = { reason: opts.reason, ...(opts.selector !== undefined ? { selector: opts.selector } : {}) };
      const freeze = await ctx.client(cmd).put<Freeze>(freezePath(opts, "freeze"), { json });
      const what = freeze.environment
        ? freeze.selector !== undefined
          ? `clusters ${describeSelector(freeze.selector)} of environment ${freeze.environment}`
          : `environment ${freeze.environment}`
        : "the fleet";
      ctx.print(cmd, freeze, () => `${what} frozen: ${freeze.reason}`);
    });

  program
    .command("unfreeze")
    .description("lift the freeze of an environment (or the fleet); held rollouts go on")
    .option("--env <environment>", "unfreeze this environment")
    .option("--fleet", "lift the fleet's freeze")
    .addHelpText("after", examples(["after the incident", "flotilla unfreeze --env prod"]))
    .action(async (opts: Target, cmd: Command) => {
      await ctx.client(cmd).delete(freezePath(opts, "unfreeze"));
      ctx.print(
        cmd,
        { unfrozen: opts.env ?? "fleet" },
        () => `${opts.env ? `environment ${opts.env}` : "the fleet"} unfrozen`,
      );
    });

  program
    .command("freezes")
    .description("list the freezes in force")
    .addHelpText("after", examples(["what is frozen, why and by whom", "flotilla freezes"]))
    .action(async (_opts: unknown, cmd: Command) => {
      const list = await ctx.client(cmd).get<List<Freeze>>("/v1/freezes");
      if (ctx.human(cmd) && list.items.length === 0) return ctx.note("nothing is frozen");
      const now = ctx.now();
      ctx.print(cmd, list, () =>
        formatTable(
          ["scope", "clusters", "reason", "by", "age"],
          list.items.map((f) => [
            f.environment ?? "fleet",
            f.selector !== undefined ? describeSelector(f.selector) : "all",
            f.reason,
            f.by,
            formatAge(f.atMs, now),
          ]),
        ),
      );
    });
};
