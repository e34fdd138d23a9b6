import { Argument, type Command } from "commander";
import { completionScript, completionTree, SHELLS, type Shell } from "../completion.js";
import type { CommandModule } from "../context.js";
import { examples } from "../help.js";

/** `flotilla completion bash|zsh|fish`. */
export const registerCompletionCommands: CommandModule = (program, ctx) => {
  program
    .command("completion")
    .description("print the shell completion script for bash, zsh or fish (verbs and flags)")
    .addArgument(new Argument("<shell>", "bash, zsh or fish").choices(SHELLS))
    .addHelpText(
      "after",
      examples(
        ["bash, this shell", "source <(flotilla completion bash)"],
        ["bash, every shell", "flotilla completion bash > ~/.local/share/bash-completion/completions/flotilla"],
        ["zsh, in ~/.zshrc", "source <(flotilla completion zsh)"],
        ["fish", "flotilla completion fish > ~/.config/fish/completions/flotilla.fish"],
      ),
    )
    .action((shell: Shell, _opts: unknown, cmd: Command) => {
      let root: Command = cmd;
      while (root.parent) root = root.parent;
      ctx.io.stdout.write(completionScript(shell, completionTree(root)));
    });
};
