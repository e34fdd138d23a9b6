import { type List, type MintedToken, ROLES, type Role, type TokenView } from "@flotilla/api";
import { type Command, Option } from "commander";
import { apiPath } from "../client.js";
import type { CommandModule } from "../context.js";
import { examples } from "../help.js";
import { formatAge, formatTable, NONE } from "../output.js";
import { parseSeconds } from "../policy.js";

/** When a token expires, in words: `in 29d`, `expired 2h ago`, `never`. */
export function formatExpiry(atMs: number | undefined, nowMs: number): string {
  if (atMs === undefined) return "never";
  return atMs > nowMs ? new Date(atMs).toISOString().replace(/\.\d{3}Z$/, "Z") : `expired ${formatAge(atMs, nowMs)}`;
}

/** `flotilla token create|list|revoke`: API tokens, minted by an admin. */
export const registerTokenCommands: CommandModule = (program, ctx) => {
  const token = program
    .command("token")
    .description("mint, list and revoke API tokens (admin only)")
    .addHelpText(
      "after",
      "\nRoles: admin (everything), member of a team (its repos, apps and rollouts; reads the fleet),\n" +
        "viewer (reads; with --team only that team's repos, apps and rollouts). See the README's permission table.\n",
    );

  token
    .command("create")
    .description("mint a token; it is shown only now (the hub keeps only a hash of it)")
    .addOption(new Option("--role <role>", "what it may do").choices(ROLES).makeOptionMandatory())
    .option("--team <team>", "the team a member acts for, or a viewer is limited to")
    .option("--expires <duration>", "stop working after this long: 3600, 12h, 30d (default: never)")
    .option("-d, --description <text>", "what it is for, shown by 'token list'")
    .addHelpText(
      "after",
      examples(
        ["a token for the web team's CI, for 30 days", "flotilla token create --role member --team web --expires 30d"],
        ["a read-only token for a dashboard", "flotilla token create --role viewer -d 'status board'"],
      ),
    )
    .action(async (opts: { role: Role; team?: string; expires?: string; description?: string }, cmd: Command) => {
      const body = {
        role: opts.role,
        ...(opts.team ? { team: opts.team } : {}),
        ...(opts.expires !== undefined ? { expiresInSeconds: parseSeconds(opts.expires, "--expires") } : {}),
        ...(opts.description ? { description: opts.description } : {}),
      };
      const minted = await ctx.client(cmd).post<MintedToken>("/v1/tokens", { json: body });
      ctx.note(`token ${minted.id} minted: it is shown only now; keep it in a secret store or FLOTILLA_TOKEN`);
      ctx.print(cmd, minted, () => minted.token);
    });

  token
    .command("list")
    .alias("ls")
    .description("list tokens (never their secrets) with role, team, expiry and last use")
    .addHelpText("after", examples(["every token", "flotilla token list"]))
    .action(async (_opts: unknown, cmd: Command) => {
      const list = await ctx.client(cmd).get<List<TokenView>>("/v1/tokens");
      if (ctx.human(cmd) && list.items.length === 0) {
        return ctx.note("no tokens minted yet; mint one with 'flotilla token create --role <role>'");
      }
      const now = ctx.now();
      ctx.print(cmd, list, () =>
        formatTable(
          ["id", "role", "team", "expires", "last used", "description"],
          list.items.map((t) => [
            t.id,
            t.role,
            t.team ?? NONE,
            formatExpiry(t.expiresAtMs, now),
            t.lastUsedAtMs === undefined ? "never" : formatAge(t.lastUsedAtMs, now),
            t.description ?? NONE,
          ]),
        ),
      );
    });

  token
    .command("revoke")
    .description("revoke a token: every hub replica refuses it within a second")
    .argument("<id>", "the token's id, as 'token list' shows it")
    .addHelpText("after", examples(["revoke a leaked token", "flotilla token revoke 0f3a9c2e1b7d4a60"]))
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      await ctx.client(cmd).delete(apiPath`/v1/tokens/${id}`);
      ctx.print(cmd, { id, revoked: true }, () => `token ${id} revoked`);
    });
};
