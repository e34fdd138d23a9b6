import type { Command } from "commander";
import type { CommandModule } from "../context.js";
import { CliError, SettingsError } from "../errors.js";
import { examples } from "../help.js";

/** The hub package, loaded only when `flotilla hub` runs: it pulls in Fastify, NATS and Redis clients. */
type HubModule = typeof import("@flotilla/hub");

/** Adds one option per hub setting, named as the hub's own flags, so `flotilla hub --help` lists them. */
function addHubOptions(cmd: Command, hub: HubModule): void {
  for (const s of hub.SETTINGS) {
    const env = [s.env, s.fileEnv && `${s.fileEnv} (a file)`].filter(Boolean).join(" or ");
    if (s.flag) cmd.option(`--${s.flag} <value>`, `${s.field}; env ${env}`);
    if (s.fileFlag) cmd.option(`--${s.fileFlag} <file>`, `${s.field}, read from a file; env ${env}`);
  }
}

/** `flotilla hub`: runs a hub in this process, configured as `flotilla-hub` is (flags > env). */
export const registerHubCommands: CommandModule = (program, ctx) => {
  let hub: HubModule | undefined;
  const cmd = program
    .command("hub")
    .description("run the hub in this process (configured by FLOTILLA_HUB_* variables or the flags below)")
    .addHelpText(
      "after",
      `${examples([
        "a local hub against local NATS and Redis",
        "FLOTILLA_HUB_ADMIN_TOKEN=$(openssl rand -hex 16) FLOTILLA_HUB_ENCRYPTION_KEY=$(openssl rand -base64 32) flotilla hub --listen 127.0.0.1:8080",
      ])}\nStops cleanly on SIGINT or SIGTERM (a leader hands its lease over at once).\n`,
    )
    .action(async (opts: Record<string, string | undefined>) => {
      if (!hub) throw new CliError("internal: the hub module was not loaded");
      const argv: string[] = [];
      for (const s of hub.SETTINGS) {
        for (const flag of [s.flag, s.fileFlag]) {
          const key = flag?.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
          const value = key ? opts[key] : undefined;
          if (flag && value !== undefined) argv.push(`--${flag}`, value);
        }
      }
      let config: ReturnType<HubModule["loadConfig"]>;
      try {
        config = hub.loadConfig(ctx.env, argv);
      } catch (err) {
        if (err instanceof hub.ConfigError)
          throw new SettingsError(err.setting, err.message.slice(err.setting.length + 2));
        throw err;
      }
      let running: Awaited<ReturnType<HubModule["startHub"]>>;
      try {
        running = await hub.startHub(config);
      } catch (err) {
        throw new CliError(`the hub could not start: ${(err as Error).message}`, { cause: err });
      }
      ctx.note(`flotilla hub: serving ${running.url} (replica ${running.replicaId}); Ctrl-C stops it`);
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      ctx.note("flotilla hub: stopping");
      await running.stop();
    });

  // Load the hub only when its verb is dispatched, so every other verb starts fast; its options
  // are added here, before the verb parses its arguments (or prints its --help).
  program.hook("preSubcommand", async (_program, sub) => {
    if (sub !== cmd || hub) return;
    hub = await import("@flotilla/hub");
    addHubOptions(cmd, hub);
  });
};
