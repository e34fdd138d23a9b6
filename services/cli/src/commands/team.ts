import type { List, Team, TeamPolicySpec } from "@flotilla/api";
import type { Command } from "commander";
import { apiPath } from "../client.js";
import { addDeleteCommand } from "../confirm.js";
import type { CommandModule } from "../context.js";
import { examples } from "../help.js";
import { collect } from "../input.js";
import { formatDetail, formatTable, NONE } from "../output.js";

/** The flags of a team's policy. */
interface PolicyFlags {
  namespace?: string[];
  clusterResource?: string[];
  repoUrl?: string[];
  clusterSelector?: string;
}

/** The policy the flags give, or undefined when they give none (the hub's defaults then hold). */
export function policyFromFlags(f: PolicyFlags): TeamPolicySpec | undefined {
  const policy: TeamPolicySpec = {
    ...(f.namespace ? { namespaces: f.namespace } : {}),
    ...(f.clusterResource ? { clusterResources: f.clusterResource } : {}),
    ...(f.repoUrl ? { repoUrls: f.repoUrl } : {}),
    ...(f.clusterSelector !== undefined ? { clusterSelector: f.clusterSelector } : {}),
  };
  return Object.keys(policy).length > 0 ? policy : undefined;
}

/** The policy in one cell: what it sets, `default` for what it leaves to the hub. */
function policyText(p: TeamPolicySpec | undefined): string {
  if (!p) return "default";
  const parts = [
    p.namespaces ? `namespaces ${p.namespaces.join(",")}` : "",
    p.clusterResources ? `kinds ${p.clusterResources.join(",") || "none"}` : "",
    p.repoUrls ? `repos ${p.repoUrls.join(",")}` : "",
    p.clusterSelector !== undefined
      ? `clusters ${
          typeof p.clusterSelector === "string"
            ? p.clusterSelector
            : Object.entries(p.clusterSelector)
                .map(([k, v]) => `${k}=${v}`)
                .join(",")
        }`
      : "",
  ];
  return parts.filter(Boolean).join("; ");
}

/** `flotilla team create|list|get|delete`. */
export const registerTeamCommands: CommandModule = (program, ctx) => {
  const team = program.command("team").description("create, list and delete teams (teams own repos and apps)");

  team
    .command("create")
    .description("create a team")
    .argument("<name>", "team name (a DNS label)")
    .option("-d, --description <text>", "what the team does")
    .option("--namespace <glob>", "a namespace its apps may use, repeatable (default: <team> and <team>-*)", collect)
    .option(
      "--cluster-resource <Kind.group>",
      "a cluster-scoped kind its apps may hold, repeatable, e.g. ClusterRole.rbac.authorization.k8s.io (default: none)",
      collect,
    )
    .option("--repo-url <glob>", "repo URLs it may register, repeatable (default: any)", collect)
    .option("--cluster-selector <selector>", "the clusters its apps may target, e.g. 'tier!=restricted' (default: all)")
    .addHelpText(
      "after",
      examples(
        ["a team for the web apps", "flotilla team create web --description 'storefront and checkout'"],
        [
          "a team whose apps use web-* namespaces, from its own Git group, off restricted clusters",
          "flotilla team create web --namespace 'web-*' --repo-url 'https://git.example.com/web/*' --cluster-selector 'tier!=restricted'",
        ],
      ),
    )
    .action(async (name: string, opts: { description?: string } & PolicyFlags, cmd: Command) => {
      const policy = policyFromFlags(opts);
      const created = await ctx.client(cmd).post<Team>("/v1/teams", {
        json: { name, ...(opts.description ? { description: opts.description } : {}), ...(policy ? { policy } : {}) },
      });
      ctx.print(cmd, created, () => `team/${name} created`);
    });

  team
    .command("list")
    .alias("ls")
    .description("list teams")
    .addHelpText("after", examples(["every team", "flotilla team list"]))
    .action(async (_opts: unknown, cmd: Command) => {
      const list = await ctx.client(cmd).get<List<Team>>("/v1/teams");
      if (ctx.human(cmd) && list.items.length === 0) {
        return ctx.note("no teams yet; create one with 'flotilla team create <name>'");
      }
      ctx.print(cmd, list, () =>
        formatTable(
          ["name", "description", "policy"],
          list.items.map((t) => [t.name, t.description ?? NONE, policyText(t.policy)]),
        ),
      );
    });

  team
    .command("get")
    .description("show a team and its policy")
    .argument("<name>", "team name")
    .addHelpText(
      "after",
      examples(
        ["one team", "flotilla team get web"],
        ["as the document apply reads, to edit and apply again", "flotilla team get web -o yaml"],
      ),
    )
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const t = await ctx.client(cmd).get<Team>(apiPath`/v1/teams/${name}`);
      ctx.printObject(cmd, "Team", t, () =>
        formatDetail([
          ["Name", t.name],
          ["Description", t.description ?? NONE],
          ["Policy", policyText(t.policy)],
        ]),
      );
    });

  addDeleteCommand(team, ctx, {
    noun: "team",
    path: (name) => apiPath`/v1/teams/${name}`,
    example: "flotilla team delete web --yes",
  });
};
