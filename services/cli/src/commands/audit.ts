import { type AuditEntry, type List, OBJECT_KINDS } from "@flotilla/api";
import { type Command, Option } from "commander";
import type { CommandModule } from "../context.js";
import { UsageError } from "../errors.js";
import { examples } from "../help.js";
import { formatTable, NONE } from "../output.js";
import { parseSeconds } from "../policy.js";

/** `--since`: a duration back from now (`1h`, `7d`) or a time (RFC 3339), as ms since the epoch. */
export function parseSince(text: string, nowMs: number): number {
  if (/^\d+(\.\d+)?[smhd]?$/.test(text.trim())) return nowMs - parseSeconds(text, "--since") * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) {
    throw new UsageError(
      `--since ${JSON.stringify(text)} is neither a duration nor a time`,
      "e.g. 1h, 7d or 2026-01-31T12:00:00Z",
    );
  }
  return at;
}

/** `flotilla audit`: who changed what, newest first. */
export const registerAuditCommands: CommandModule = (program, ctx) => {
  program
    .command("audit")
    .description("show the audit trail: every change made through the API, and every write refused, newest first")
    .option("--team <team>", "changes to the team's objects or made by its tokens")
    .addOption(new Option("--kind <kind>", "one kind of object").choices(OBJECT_KINDS))
    .option("--object <name>", "one object, by name (or a rollout's or token's id)")
    .option("--since <when>", "only after this: a duration back from now (1h, 7d) or a time (RFC 3339)")
    .option("--limit <n>", "at most this many entries (default 100, at most 1000)")
    .addHelpText(
      "after",
      examples(
        ["what changed in the last day", "flotilla audit --since 1d"],
        ["everything done to the web app", "flotilla audit --kind App --object web"],
        ["as JSON, for a script", "flotilla audit --team web -o json"],
      ),
    )
    .action(
      async (opts: { team?: string; kind?: string; object?: string; since?: string; limit?: string }, cmd: Command) => {
        const now = ctx.now();
        const list = await ctx.client(cmd).get<List<AuditEntry>>("/v1/audit", {
          team: opts.team,
          kind: opts.kind,
          object: opts.object,
          since: opts.since === undefined ? undefined : String(parseSince(opts.since, now)),
          limit: opts.limit,
        });
        if (ctx.human(cmd) && list.items.length === 0) return ctx.note("no audit entries match");
        ctx.print(cmd, list, () =>
          formatTable(
            ["time", "actor", "action", "object", "team", "status"],
            list.items.map((e) => [
              new Date(e.atMs).toISOString().replace(/\.\d{3}Z$/, "Z"),
              `${e.actor.role}:${e.actor.tokenId}${e.actor.team ? `@${e.actor.team}` : ""}`,
              e.detail ? `${e.action} ${e.detail}` : e.action,
              e.kind ? `${e.kind.toLowerCase()}/${e.object ?? "?"}` : NONE,
              e.team ?? NONE,
              String(e.status),
            ]),
          ),
        );
      },
    );
};
