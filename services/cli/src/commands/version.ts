import { readFileSync } from "node:fs";
import type { HubInfo } from "@flotilla/api";
import type { Command } from "commander";
import type { CommandModule } from "../context.js";
import { CliError } from "../errors.js";
import { examples } from "../help.js";
import { formatDetail } from "../output.js";

/** This CLI's version, from its package.json (two levels up from both src/commands and dist/commands). */
export function cliVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/** `flotilla version`. */
export const registerVersionCommands: CommandModule = (program, ctx) => {
  program
    .command("version")
    .description("print the CLI's version and, when it answers, the hub's replica and signing key")
    .option("--client", "only the CLI's version; do not ask the hub")
    .addHelpText(
      "after",
      examples(["both sides", "flotilla version"], ["for a bug report", "flotilla version -o yaml"]),
    )
    .action(async (opts: { client?: boolean }, cmd: Command) => {
      const client = { version: cliVersion(), node: process.version };
      let hub: (HubInfo & { url: string }) | null = null;
      if (!opts.client) {
        const api = ctx.client(cmd);
        try {
          hub = { url: api.baseUrl, ...(await api.get<HubInfo>("/v1/hub")) };
        } catch (err) {
          // The version of this side is still worth printing when the hub is down or refuses us.
          if (!(err instanceof CliError)) throw err;
          ctx.note(`hub: ${err.message}`);
        }
      }
      ctx.print(cmd, { client, hub }, () =>
        formatDetail([
          ["Client", `flotilla ${client.version} (node ${client.node})`],
          [
            "Hub",
            hub
              ? `${hub.url}: replica ${hub.replica}${hub.leader ? " (leader)" : hub.leaderReplica ? `, leader ${hub.leaderReplica}` : ""}, signing key ${hub.hubKeyId}`
              : undefined,
          ],
        ]),
      );
    });
};
