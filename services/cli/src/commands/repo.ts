import type { List, Repo } from "@flotilla/api";
import type { Command } from "commander";
import { apiPath } from "../client.js";
import { addDeleteCommand } from "../confirm.js";
import type { CommandModule } from "../context.js";
import { UsageError } from "../errors.js";
import { examples } from "../help.js";
import { collect, parsePairs, readSecretFile, readSecretFromStdin } from "../input.js";
import { formatDetail, formatTable, NONE } from "../output.js";

interface AddOptions {
  team: string;
  url: string;
  branch?: string[];
  username?: string;
  passwordStdin?: boolean;
  passwordFile?: string;
  webhookSecretFile?: string;
  pollInterval?: string;
}

/** `flotilla repo add|list|get|delete`. */
export const registerRepoCommands: CommandModule = (program, ctx) => {
  const repo = program.command("repo").description("register Git repositories and map environments to branches");

  repo
    .command("add")
    .description("register a Git repository of a team")
    .argument("<name>", "repo name (a DNS label)")
    .requiredOption("--team <team>", "the team that owns it")
    .requiredOption("--url <url>", "HTTPS clone URL, without credentials in it")
    .option("--branch <env=branch>", "environment → branch, repeatable (at least one)", collect)
    .option("--username <user>", "Git username (with --password-stdin or --password-file)")
    .option("--password-stdin", "read the Git password or token from stdin")
    .option("--password-file <file>", "read the Git password or token from a file")
    .option("--webhook-secret-file <file>", "read the push-webhook secret (16+ characters) from a file; '-' for stdin")
    .option("--poll-interval <seconds>", "seconds between polls of the branch heads (default: the hub's, 15)")
    .addHelpText(
      "after",
      `${examples(
        [
          "a public repo, dev from develop and prod from main",
          "flotilla repo add web --team web --url https://git.example/web.git --branch dev=develop --branch prod=main",
        ],
        [
          "a private repo: the token comes from stdin, never from the command line",
          'printf %s "$GIT_TOKEN" | flotilla repo add web --team web --url https://git.example/web.git --branch prod=main --username ci --password-stdin',
        ],
        [
          "with a webhook secret, so pushes are seen at once",
          "openssl rand -hex 32 > hook.secret && flotilla repo add web ... --webhook-secret-file hook.secret",
        ],
      )}\nCredentials and the webhook secret are write-only: 'repo get' shows only whether they are set.\n`,
    )
    .action(async (name: string, opts: AddOptions, cmd: Command) => {
      const branches = parsePairs(opts.branch ?? [], "--branch", "prod=main");
      if (Object.keys(branches).length === 0) {
        throw new UsageError("give at least one --branch <env=branch>", "e.g. --branch dev=develop --branch prod=main");
      }
      const spec: Record<string, unknown> = { name, team: opts.team, url: opts.url, branches };
      if (opts.pollInterval !== undefined) {
        const seconds = Number(opts.pollInterval);
        if (!Number.isFinite(seconds) || seconds <= 0) {
          throw new UsageError(
            `--poll-interval ${JSON.stringify(opts.pollInterval)} is not a positive number of seconds`,
          );
        }
        spec.pollIntervalSeconds = seconds;
      }
      const password = await readPassword(opts, ctx.io.stdin);
      if (password !== undefined) spec.credentials = { username: opts.username, password };
      if (opts.webhookSecretFile) {
        if (opts.webhookSecretFile === "-" && opts.passwordStdin) {
          throw new UsageError("--password-stdin and --webhook-secret-file - both read stdin", "put one in a file");
        }
        spec.webhookSecret = await readSecretFile(opts.webhookSecretFile, ctx.io.stdin, "the webhook secret");
      }
      const created = await ctx.client(cmd).post<Repo>("/v1/repos", { json: spec });
      ctx.print(cmd, created, () => `repo/${name} added (${formatBranches(created.branches)})`);
    });

  repo
    .command("list")
    .alias("ls")
    .description("list repos")
    .addHelpText("after", examples(["every repo", "flotilla repo list"]))
    .action(async (_opts: unknown, cmd: Command) => {
      const list = await ctx.client(cmd).get<List<Repo>>("/v1/repos");
      if (ctx.human(cmd) && list.items.length === 0) {
        return ctx.note(
          "no repos yet; add one with 'flotilla repo add <name> --team <team> --url <url> --branch <env=branch>'",
        );
      }
      ctx.print(cmd, list, () =>
        formatTable(
          ["name", "team", "url", "branches", "credentials", "webhook"],
          list.items.map((r) => [
            r.name,
            r.team,
            r.url,
            formatBranches(r.branches),
            r.hasCredentials ? "set" : "none",
            r.hasWebhookSecret ? "set" : "none",
          ]),
        ),
      );
    });

  repo
    .command("get")
    .description("show a repo and its environment → branch map")
    .argument("<name>", "repo name")
    .addHelpText(
      "after",
      examples(
        ["one repo", "flotilla repo get web"],
        ["as the document apply reads (credentials stay write-only and are kept)", "flotilla repo get web -o yaml"],
      ),
    )
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const r = await ctx.client(cmd).get<Repo>(apiPath`/v1/repos/${name}`);
      ctx.printObject(cmd, "Repo", r, () => {
        const head = formatDetail([
          ["Name", r.name],
          ["Team", r.team],
          ["URL", r.url],
          ["Poll interval", r.pollIntervalSeconds === undefined ? "hub default" : `${r.pollIntervalSeconds}s`],
          ["Credentials", r.hasCredentials ? "set (write-only)" : "none"],
          ["Webhook secret", r.hasWebhookSecret ? "set (write-only)" : "none"],
        ]);
        const rows = Object.entries(r.branches).map(([env, branch]) => [env, branch]);
        return `${head}\n\nBranches:\n${formatTable(["environment", "branch"], rows)}`;
      });
    });

  addDeleteCommand(repo, ctx, {
    noun: "repo",
    path: (name) => apiPath`/v1/repos/${name}`,
    example: "flotilla repo delete web --yes",
  });
};

/** `dev=develop,prod=main`. */
function formatBranches(branches: Record<string, string> | undefined): string {
  const entries = Object.entries(branches ?? {});
  return entries.length === 0 ? NONE : entries.map(([env, b]) => `${env}=${b}`).join(",");
}

/** The password from stdin or a file; the username and password must come together. */
async function readPassword(opts: AddOptions, stdin: NodeJS.ReadableStream): Promise<string | undefined> {
  if (opts.passwordStdin && opts.passwordFile) {
    throw new UsageError("give --password-stdin or --password-file, not both");
  }
  const wantsPassword = Boolean(opts.passwordStdin || opts.passwordFile);
  if (wantsPassword && !opts.username) throw new UsageError("a password needs --username <user>");
  if (opts.username && !wantsPassword) {
    throw new UsageError("--username needs a password", "pipe it with --password-stdin or name a --password-file");
  }
  if (opts.passwordStdin) return readSecretFromStdin(stdin, "the Git password");
  if (opts.passwordFile) return readSecretFile(opts.passwordFile, stdin, "the Git password");
  return undefined;
}
