import type { Identity } from "@flotilla/api";
import type { Command } from "commander";
import { HubClient } from "../client.js";
import { configPath, readConfigText, settingsSchema, writeConfigFile } from "../config.js";
import type { CommandContext, CommandModule } from "../context.js";
import { contextNameFor, deleteContext, listContexts, setContext, useContext } from "../contexts.js";
import { UsageError } from "../errors.js";
import { examples } from "../help.js";
import { readSecretFromStdin } from "../input.js";
import { formatTable, NONE } from "../output.js";

/**
 * The `--hub` (and `--context`) of login and context add: the program's own flags of those
 * names, which commander gives the program even when typed after the verb.
 */
function flagsOf(cmd: Command, verb: string): { hub: string; context?: string } {
  const o = cmd.optsWithGlobals<{ hub?: string; context?: string }>();
  if (!o.hub) throw new UsageError(`${verb} needs --hub <url>`, `see 'flotilla ${verb} --help'`);
  return { hub: hubUrl(o.hub), ...(o.context ? { context: o.context } : {}) };
}

/** A hub URL as the settings take it (`host:port` gets http://), or a UsageError naming the flag. */
function hubUrl(text: string): string {
  const parsed = settingsSchema.shape.hub.safeParse(text);
  if (!parsed.success) throw new UsageError(`--hub: ${parsed.error.issues[0]?.message ?? "is not a URL"}`);
  return parsed.data;
}

function configText(ctx: CommandContext): { path: string; text: string } {
  const path = configPath(ctx.env);
  return { path, text: readConfigText(ctx.env, path, true) ?? "" };
}

/** `flotilla context list|use|add|delete` and `flotilla login`. */
export const registerContextCommands: CommandModule = (program, ctx) => {
  const context = program
    .command("context")
    .description("several hubs in one config file: list them, switch between them, add one");

  context
    .command("list")
    .alias("ls")
    .description("list the contexts of the config file (never their tokens); * marks the current one")
    .addHelpText("after", examples(["every hub this config file knows", "flotilla context list"]))
    .action((_opts: unknown, cmd: Command) => {
      const { path, text } = configText(ctx);
      const rows = listContexts(text, path);
      if (ctx.human(cmd) && rows.length === 0) {
        return ctx.note(`no contexts in ${path}; add one with 'flotilla login --hub <url>'`);
      }
      ctx.print(cmd, { items: rows }, () =>
        formatTable(
          ["current", "name", "hub", "token"],
          rows.map((c) => [c.current ? "*" : "", c.name, c.hub, c.hasToken ? "set" : NONE]),
        ),
      );
    });

  context
    .command("use")
    .description("make a context the current one: later commands talk to its hub with its token")
    .argument("<name>", "context name")
    .addHelpText("after", examples(["switch to staging", "flotilla context use staging"]))
    .action((name: string) => {
      const { path, text } = configText(ctx);
      writeConfigFile(path, useContext(text, path, name));
      ctx.note(`context ${name} is now current`);
    });

  context
    .command("add")
    .description("add (or change) a context: a hub address (--hub, required) and, from stdin, its token")
    .argument("<name>", "context name")
    .option("--token-stdin", "read the hub's token from stdin (kept in the 0600 config file)")
    .option("--use", "make it the current context too")
    .addHelpText(
      "after",
      examples([
        "a second hub, token from a secret store",
        "vault read -field=token secret/flotilla/staging | flotilla context add staging --hub https://staging.example --token-stdin",
      ]),
    )
    .action(async (name: string, opts: { tokenStdin?: boolean; use?: boolean }, cmd: Command) => {
      const { hub } = flagsOf(cmd, "context add");
      const token = opts.tokenStdin ? await readSecretFromStdin(ctx.io.stdin, "the token") : undefined;
      const { path, text } = configText(ctx);
      writeConfigFile(path, setContext(text, path, name, { hub, ...(token ? { token } : {}) }, Boolean(opts.use)));
      ctx.note(`context ${name} saved in ${path}${opts.use ? " and made current" : ""}`);
    });

  context
    .command("delete")
    .alias("rm")
    .description("remove a context and its token from the config file")
    .argument("<name>", "context name")
    .addHelpText("after", examples(["forget a hub that is gone", "flotilla context delete old-lab"]))
    .action((name: string) => {
      const { path, text } = configText(ctx);
      writeConfigFile(path, deleteContext(text, path, name));
      ctx.note(`context ${name} deleted`);
    });

  program
    .command("login")
    .description(
      "check a token against a hub (--hub, required) and store both as a context (--context, default: from the host) of the config file (mode 0600)",
    )
    .addHelpText(
      "after",
      `${examples(
        ["from a file, never on the command line", "flotilla login --hub https://flotilla.example < token.txt"],
        ["a named second hub", 'printf %s "$TOKEN" | flotilla login --hub https://staging.example --context staging'],
      )}\nThe token is read from stdin, checked with GET /v1/whoami, then saved; the context becomes current.\n`,
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const { hub, context } = flagsOf(cmd, "login");
      const name = context ?? contextNameFor(hub);
      const token = await readSecretFromStdin(ctx.io.stdin, "the token");
      const { path, text } = configText(ctx);
      // Checked before anything is written: the file never holds a token the hub refused.
      const next = setContext(text, path, name, { hub, token }, true);
      const timeout = Number(ctx.env.FLOTILLA_REQUEST_TIMEOUT) > 0 ? Number(ctx.env.FLOTILLA_REQUEST_TIMEOUT) : 30;
      const me = await new HubClient({
        baseUrl: hub,
        hubSource: "--hub",
        token,
        tokenSource: "stdin",
        configPath: path,
        timeoutMs: timeout * 1000,
      }).get<Identity>("/v1/whoami");
      writeConfigFile(path, next);
      const who = `${me.role}${me.team ? ` of team ${me.team}` : ""} (token ${me.tokenId})`;
      ctx.print(
        cmd,
        { context: name, hub, identity: me, configFile: path },
        () => `logged in to ${hub} as ${who}; context ${name} is current (${path})`,
      );
    });
};
