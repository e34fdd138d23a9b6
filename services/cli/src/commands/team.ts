import type { List, Team } from "@flotilla/api";
import type { Command } from "commander";
import type { CommandModule } from "../context.js";
import { examples } from "../help.js";
import { formatTable, NONE } from "../output.js";

/** `flotilla team create|list`. */
export const registerTeamCommands: CommandModule = (program, ctx) => {
  const team = program.command("team").description("create and list teams (teams own repos and apps)");

  team
    .command("create")
    .description("create a team")
    .argument("<name>", "team name (a DNS label)")
    .option("-d, --description <text>", "what the team does")
    .addHelpText(
      "after",
      examples(["a team for the web apps", "flotilla team create web --description 'storefront and checkout'"]),
    )
    .action(async (name: string, opts: { description?: string }, cmd: Command) => {
      const created = await ctx
        .client(cmd)
        .post<Team>("/v1/teams", { json: { name, ...(opts.description ? { description: opts.description } : {}) } });
      ctx.print(cmd, created, () => `team/${name} created`);
    });

  team
    .command("list")
    .alias("ls")
    .description("list teams")
    .addHelpText("after", examples(["every team", "flotilla team list"]))
    .action(async (_opts: unknown, cmd: Command) => {
      const list = await ctx.client(cmd).get<List<Team>>("/v1/teams");
      if (ctx.format(cmd) === "table" && list.items.length === 0) {
        return ctx.note("no teams yet; create one with 'flotilla team create <name>'");
      }
      ctx.print(cmd, list, () =>
        formatTable(
          ["name", "description"],
          list.items.map((t) => [t.name, t.description ?? NONE]),
        ),
      );
    });
};
