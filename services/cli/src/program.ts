import { Command, CommanderError, Option } from "commander";
import { registerAppCommands } from "./commands/app.js";
import { registerApplyCommands } from "./commands/apply.js";
import { registerAuditCommands } from "./commands/audit.js";
import { registerClusterCommands } from "./commands/cluster.js";
import { registerCompletionCommands } from "./commands/completion.js";
import { registerContextCommands } from "./commands/contexts.js";
import { registerEnvCommands } from "./commands/env.js";
import { registerFreezeCommands } from "./commands/freeze.js";
import { registerHubCommands } from "./commands/hub.js";
import { registerNatsCommands } from "./commands/nats.js";
import { registerReceiverCommands } from "./commands/receiver.js";
import { registerRepoCommands } from "./commands/repo.js";
import { registerRolloutCommands } from "./commands/rollout.js";
import { registerStatusCommands } from "./commands/status.js";
import { registerTeamCommands } from "./commands/team.js";
import { registerTokenCommands } from "./commands/token.js";
import { cliVersion, registerVersionCommands } from "./commands/version.js";
import { OUTPUT_FORMATS } from "./config.js";
import { CommandContext, type CommandModule } from "./context.js";
import { CliError, EXIT, oneLine } from "./errors.js";
import { registerFleetCommands } from "./fleet/index.js";
import { EXIT_CODES_HELP } from "./help.js";

/**
 * Every module of verbs, in the order `flotilla --help` lists them. Adding a noun is one line
 * here: a CommandModule that adds its commands to the program.
 */
export const COMMAND_MODULES: readonly CommandModule[] = [
  registerStatusCommands,
  registerClusterCommands,
  registerTeamCommands,
  registerRepoCommands,
  registerAppCommands,
  registerEnvCommands,
  registerApplyCommands,
  registerRolloutCommands,
  registerFreezeCommands,
  registerReceiverCommands,
  registerTokenCommands,
  registerAuditCommands,
  registerContextCommands,
  registerHubCommands,
  registerNatsCommands,
  registerFleetCommands,
  registerVersionCommands,
  registerCompletionCommands,
];

/** `flotilla cluster register`, for messages. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(allCommands)];
}

/** The whole command tree, writing through `ctx.io`; commander errors are thrown, not exited on. */
export function buildProgram(ctx: CommandContext, modules: readonly CommandModule[] = COMMAND_MODULES): Command {
  const program = new Command("flotilla")
    .description("Flotilla: GitOps for fleets of Kubernetes clusters, rolled out in health-gated waves")
    .version(cliVersion(), "--version", "print the CLI's version")
    .option("--hub <url>", "hub address (env FLOTILLA_HUB; default http://127.0.0.1:8080)")
    .option(
      "--token <token>",
      "hub token (env FLOTILLA_TOKEN, or token: in the config file, keep it out of shell history)",
    )
    .addOption(
      new Option("-o, --output <format>", "output format (env FLOTILLA_OUTPUT; default table)").choices(OUTPUT_FORMATS),
    )
    .option("--request-timeout <seconds>", "give up on a request after this long (default 30)")
    .option(
      "--context <name>",
      "use this hub and token of the config file (env FLOTILLA_CONTEXT; see 'flotilla context')",
    )
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .configureOutput({ writeOut: (s) => ctx.io.stdout.write(s), writeErr: (s) => ctx.io.stderr.write(s) })
    .exitOverride()
    .addHelpText("after", EXIT_CODES_HELP);
  for (const register of modules) register(program, ctx);
  // Usage errors on one line, pointing at the help of the command that refused them.
  for (const cmd of allCommands(program)) {
    const help = `${commandPath(cmd)} --help`;
    cmd.configureOutput({ outputError: (s, write) => write(`${oneLine(s)} (see '${help}')\n`) });
  }
  return program;
}

/**
 * Runs one command line (without `node` and the script) and returns the exit code. Errors are
 * printed here, as one line on stderr; a stack trace only with FLOTILLA_DEBUG=1, and only for
 * what is not a known CliError.
 */
export async function run(argv: readonly string[], ctx: CommandContext): Promise<number> {
  const program = buildProgram(ctx);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return EXIT.ok;
  } catch (err) {
    // Commander has printed its own (one-line) message or the help already.
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof CliError) {
      ctx.io.stderr.write(`error: ${oneLine(err.message)}\n`);
      return err.exitCode;
    }
    const debug = Boolean(ctx.env.FLOTILLA_DEBUG);
    const message = err instanceof Error ? err.message : String(err);
    ctx.io.stderr.write(
      debug && err instanceof Error && err.stack
        ? `${err.stack}\n`
        : `error: ${oneLine(message)} (unexpected; FLOTILLA_DEBUG=1 shows where)\n`,
    );
    return EXIT.error;
  }
}

/**
 * The context of a real process: its streams, environment and clock. A closed stdout (`flotilla
 * cluster list | head -1`) ends the process quietly, as for any Unix filter.
 */
export function processContext(): CommandContext {
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
  return new CommandContext({ stdout: process.stdout, stderr: process.stderr, stdin: process.stdin }, process.env);
}
