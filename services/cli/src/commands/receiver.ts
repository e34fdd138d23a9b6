import { type Delivery, type List, NOTIFICATION_EVENTS, RECEIVER_TYPES, type Receiver } from "@flotilla/api";
import { type Command, Option } from "commander";
import { apiPath } from "../client.js";
import { addDeleteCommand } from "../confirm.js";
import type { CommandModule } from "../context.js";
import { UsageError } from "../errors.js";
import { examples } from "../help.js";
import { collect, readSecretFile } from "../input.js";
import { formatAge, formatDetail, formatTable, NONE } from "../output.js";

interface SetOptions {
  type?: string;
  urlFile: string;
  secretFile?: string;
  event?: string[];
  team?: string[];
  env?: string[];
}

/** `flotilla receiver set|get|list|deliveries|delete`: where notifications go. */
export const registerReceiverCommands: CommandModule = (program, ctx) => {
  const receiver = program
    .command("receiver")
    .description(
      "notification receivers: webhooks (signed) and Slack, and which events, teams and environments go to each",
    );

  receiver
    .command("set")
    .description("create or replace a receiver (its URL and secret are read from files, stored sealed, never shown)")
    .argument("<name>", "receiver name")
    .addOption(new Option("--type <type>", "webhook (signed JSON) or slack (default: webhook)").choices(RECEIVER_TYPES))
    .requiredOption("--url-file <file>", "file holding the URL deliveries are POSTed to; '-' for stdin")
    .option("--secret-file <file>", "file holding the HMAC key (16+ characters) a webhook body is signed with")
    .option("--event <event>", `only this event, repeatable (${NOTIFICATION_EVENTS.join(", ")})`, collect)
    .option("--team <team>", "only about this team's apps, repeatable", collect)
    .option("--env <environment>", "only in this environment, repeatable", collect)
    .addHelpText(
      "after",
      examples(
        [
          "failed rollouts and drift of team web to its chat",
          "flotilla receiver set web-chat --type slack --url-file slack-url.txt --event rollout-failed --event drift-detected --team web",
        ],
        ["every event to a signed webhook", "flotilla receiver set audit --url-file url.txt --secret-file hmac.key"],
      ) +
        "\nURLs must be https and reach public addresses unless the hub's FLOTILLA_NOTIFY_ALLOW_HTTP and\nFLOTILLA_NOTIFY_ALLOWED_HOSTS admit them.\n",
    )
    .action(async (name: string, opts: SetOptions, cmd: Command) => {
      if (opts.urlFile === "-" && opts.secretFile === "-") {
        throw new UsageError("--url-file - and --secret-file - both read stdin", "give one of them as a file");
      }
      for (const e of opts.event ?? []) {
        if (!(NOTIFICATION_EVENTS as readonly string[]).includes(e)) {
          throw new UsageError(
            `--event ${JSON.stringify(e)} is not an event`,
            `use one of ${NOTIFICATION_EVENTS.join(", ")}`,
          );
        }
      }
      const url = await readSecretFile(opts.urlFile, ctx.io.stdin, "the receiver URL");
      const secret = opts.secretFile ? await readSecretFile(opts.secretFile, ctx.io.stdin, "the secret") : undefined;
      const spec = {
        ...(opts.type ? { type: opts.type } : {}),
        url,
        ...(secret ? { secret } : {}),
        ...(opts.event ? { events: opts.event } : {}),
        ...(opts.team ? { teams: opts.team } : {}),
        ...(opts.env ? { environments: opts.env } : {}),
      };
      const saved = await ctx.client(cmd).put<Receiver>(apiPath`/v1/receivers/${name}`, { json: spec });
      ctx.print(cmd, saved, () => `receiver/${name} set (${saved.type} to ${saved.urlOrigin})`);
    });

  receiver
    .command("get")
    .description("show a receiver and its route (never its URL path or secret)")
    .argument("<name>", "receiver name")
    .addHelpText(
      "after",
      examples(
        ["one receiver", "flotilla receiver get web-chat"],
        [
          "as the document apply reads, without URL and secret (apply keeps the stored ones)",
          "flotilla receiver get web-chat -o yaml",
        ],
      ),
    )
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const r = await ctx.client(cmd).get<Receiver>(apiPath`/v1/receivers/${name}`);
      const all = (v: string[] | undefined) => (v ? v.join(", ") : "(all)");
      ctx.printObject(cmd, "Receiver", r, () =>
        formatDetail([
          ["Name", r.name],
          ["Type", r.type],
          ["Origin", r.urlOrigin],
          ["Secret", r.hasSecret ? "set" : NONE],
          ["Events", all(r.events)],
          ["Teams", all(r.teams)],
          ["Environments", all(r.environments)],
        ]),
      );
    });

  receiver
    .command("list")
    .alias("ls")
    .description("list receivers and their routes (never URL paths or secrets)")
    .addHelpText("after", examples(["every receiver", "flotilla receiver list"]))
    .action(async (_opts: unknown, cmd: Command) => {
      const list = await ctx.client(cmd).get<List<Receiver>>("/v1/receivers");
      if (ctx.human(cmd) && list.items.length === 0) {
        return ctx.note("no receivers yet; add one with 'flotilla receiver set <name> --url-file <file>'");
      }
      const all = (v: string[] | undefined) => (v ? v.join(",") : "(all)");
      ctx.print(cmd, list, () =>
        formatTable(
          ["name", "type", "origin", "events", "teams", "environments"],
          list.items.map((r) => [r.name, r.type, r.urlOrigin, all(r.events), all(r.teams), all(r.environments)]),
        ),
      );
    });

  receiver
    .command("deliveries")
    .description("the deliveries to a receiver, newest first: outcome, attempts, last HTTP status")
    .argument("<name>", "receiver name")
    .addHelpText("after", examples(["did the chat get told?", "flotilla receiver deliveries web-chat"]))
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const list = await ctx.client(cmd).get<List<Delivery>>(apiPath`/v1/receivers/${name}/deliveries`);
      if (ctx.human(cmd) && list.items.length === 0) return ctx.note(`nothing delivered to ${name} yet`);
      const now = ctx.now();
      ctx.print(cmd, list, () =>
        formatTable(
          ["age", "event", "outcome", "attempts", "status", "error"],
          list.items.map((d) => [
            formatAge(d.atMs, now),
            d.event,
            d.outcome,
            String(d.attempts),
            d.status === undefined ? NONE : String(d.status),
            d.error ?? NONE,
          ]),
        ),
      );
    });

  addDeleteCommand(receiver, ctx, {
    noun: "receiver",
    path: (name) => apiPath`/v1/receivers/${name}`,
    example: "flotilla receiver delete web-chat --yes",
  });
};
