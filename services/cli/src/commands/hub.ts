import type { Command } from "commander";
import type { CommandModule } from "../context.js";
import { CliError, SettingsError } from "../errors.js";
import { examples } from "../help.js";
import { registerRotateKey } from "./rotate-key.js";

/** The hub package, loaded only when `flotilla hub` runs: it pulls in Fastify, NATS and Redis clients. */
type HubModule = typeof import("@flotilla/hub");

/** What each hub setting is, for `flotilla hub --help`; the hub's config.ts documents them in full. */
function describe(field: string, hub: HubModule): string {
  const about: Record<string, string> = {
    listen: `HTTP address, host:port (default ${hub.DEFAULT_LISTEN})`,
    redisUrl: `Redis URL (default ${hub.DEFAULT_REDIS_URL})`,
    natsUrl: `NATS URL(s), comma-separated (default ${hub.DEFAULT_NATS_URL})`,
    natsCreds: "the hub's NATS creds file",
    natsCa: "PEM of the CA of NATS's certificate (default: the system's CAs)",
    natsCert: "PEM of the hub's client certificate, for a NATS that verifies clients",
    natsKey: "PEM of that certificate's key",
    natsServerName: "the name NATS's certificate must carry (default: the URL's host)",
    natsInsecure: "true: connect to NATS without TLS, on a network nobody else can read (default false)",
    agentNatsCa: "PEM of the CA put in bootstrap bundles (default: the hub's NATS CA)",
    agentNatsUrl: "NATS URL written into bootstrap bundles (default: the NATS URL)",
    signingKeyPem: "PKCS#8 PEM of the hub's signing key (default: generated once, kept in Redis)",
    operatorSetup: "NATS operator setup JSON; clusters then get their own NATS credentials",
    adminToken: "the API's bearer token, 16+ characters (required)",
    encryptionKey: "base64 of 32 bytes, encrypts secrets in Redis (required)",
    pollIntervalMs: `Git poll interval, e.g. 15s (default ${hub.DEFAULT_POLL_INTERVAL_MS / 1000}s)`,
    heartbeatIntervalMs: `agents' heartbeat interval (default ${hub.DEFAULT_HEARTBEAT_INTERVAL_MS / 1000}s)`,
    offlineAfterMissed: `missed heartbeats before a cluster is Offline (default ${hub.DEFAULT_OFFLINE_AFTER_MISSED})`,
    leaseTtlMs: `leader lease time-to-live (default ${hub.DEFAULT_LEASE_TTL_MS / 1000}s)`,
    replicaId: "this replica's name (default hostname-pid)",
    logLevel: `log level (default ${hub.DEFAULT_LOG_LEVEL})`,
  };
  return about[field] ?? field;
}

/** Adds one option per hub setting, named as the hub's own flags, so `flotilla hub --help` lists them. */
function addHubOptions(cmd: Command, hub: HubModule): void {
  for (const s of hub.SETTINGS) {
    const env = [s.env, s.fileEnv && `${s.fileEnv} (a file)`].filter(Boolean).join(" or ");
    if (s.flag) cmd.option(`--${s.flag} <value>`, `${describe(s.field, hub)}; env ${env}`);
    if (s.fileFlag) cmd.option(`--${s.fileFlag} <file>`, `${describe(s.field, hub)}, from a file; env ${env}`);
  }
}

/** `flotilla hub`: runs a hub in this process, configured as `flotilla-hub` is (flags > env). */
export const registerHubCommands: CommandModule = (program, ctx) => {
  let hub: HubModule | undefined;
  const cmd = program
    .command("hub")
    .description(
      "run the hub in this process (configured by FLOTILLA_HUB_* variables or the flags below); 'hub rotate-key' rotates a running hub's signing key",
    )
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

  registerRotateKey(cmd, ctx);

  // Load the hub only when its verb is dispatched, so every other verb starts fast; its options
  // are added here, before the verb parses its arguments (or prints its --help). `hub rotate-key`
  // talks to a running hub and needs none of it.
  program.hook("preSubcommand", async (parent, sub) => {
    if (sub !== cmd || hub || parent.args[1] === "rotate-key") return;
    hub = await import("@flotilla/hub");
    addHubOptions(cmd, hub);
  });
};
