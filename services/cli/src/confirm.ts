/**
 * Asking before a destructive verb: `--yes` skips the question; otherwise a terminal gets a
 * `[y/N]` prompt, and a pipe or script (no terminal to ask) is refused with the flag to pass,
 * so nothing is deleted by a command line that merely lacked a question's answer.
 */
import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import type { CommandContext } from "./context.js";
import { UsageError } from "./errors.js";

/** Adds `-y, --yes` to a destructive verb. */
export function withYes(cmd: Command): Command {
  return cmd.option("-y, --yes", "do it without asking");
}

/**
 * Resolves when the user agreed to `question` (or passed --yes); throws UsageError when they
 * did not, or when there is no terminal to ask.
 */
export async function confirm(ctx: CommandContext, cmd: Command, question: string): Promise<void> {
  if (cmd.opts<{ yes?: boolean }>().yes) return;
  if (!ctx.io.stdin.isTTY) {
    throw new UsageError(
      `${question}: not asked, stdin is not a terminal`,
      `pass --yes to ${cmd.name()} without asking`,
    );
  }
  const rl = createInterface({ input: ctx.io.stdin, output: ctx.io.stderr });
  try {
    const answer = (await rl.question(`${question} [y/N] `)).trim().toLowerCase();
    if (answer !== "y" && answer !== "yes") throw new UsageError(`${question}: not confirmed`, "nothing was changed");
  } finally {
    rl.close();
  }
}

/**
 * `<noun> delete <name>` for a registry kind: asks, sends DELETE, says what went.
 * `after` says what follows on the clusters (an app's removal is pruned there).
 */
export function addDeleteCommand(
  parent: Command,
  ctx: CommandContext,
  o: { noun: string; path: (name: string) => string; after?: string; example: string },
): Command {
  return withYes(
    parent
      .command("delete")
      .alias("rm")
      .description(`delete a ${o.noun}${o.after ? ` (${o.after})` : ""}`)
      .argument("<name>", `${o.noun} name`),
  )
    .addHelpText("after", `\nExamples:\n  # without the question, for scripts\n  $ ${o.example}\n`)
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const client = ctx.client(cmd);
      await confirm(ctx, cmd, `delete ${o.noun}/${name}?`);
      await client.delete(o.path(name));
      ctx.print(
        cmd,
        { kind: o.noun, name, deleted: true },
        () => `${o.noun}/${name} deleted${o.after ? `; ${o.after}` : ""}`,
      );
    });
}
