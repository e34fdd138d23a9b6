import type { Environment, List, PolicyInput } from "@flotilla/api";
import { type Command, Option } from "commander";
import { apiPath } from "../client.js";
import { addDeleteCommand } from "../confirm.js";
import type { CommandModule } from "../context.js";
import { UsageError } from "../errors.js";
import { examples } from "../help.js";
import { collect, parseOneDocument, readInput } from "../input.js";
import { formatDetail, formatLabels, formatTable } from "../output.js";
import { hasPolicyFlags, type PolicyFlags, policyFromDocument, policyFromFlags, REMAINING_WAVE } from "../policy.js";

/** `flotilla env set|get|list|delete`. */
export const registerEnvCommands: CommandModule = (program, ctx) => {
  const env = program
    .command("env")
    .description("environments and their rollout waves (an environment's clusters carry env=<name>)");

  env
    .command("set")
    .description("create or replace an environment's rollout policy, from a file or from flags")
    .argument("<name>", "environment name (a DNS label)")
    .option(
      "-f, --filename <file>",
      "policy as YAML or JSON ('-' for stdin): the policy, {policy: ...}, or a kind: Environment document",
    )
    .option(
      "--wave <name[:selector]>",
      "a wave, in order, repeatable; selector like tier=canary or 'region in (eu,us)'",
      collect,
    )
    .option("--max-concurrency <wave=n|n%>", "clusters written at once in a wave, repeatable", collect)
    .option("--bake <wave=duration>", "how long a wave must stay healthy (300, 90s, 5m), repeatable", collect)
    .option("--failure-budget <wave=n|n%>", "failed clusters a wave tolerates, repeatable", collect)
    .option("--require-approval <wave>", "the wave waits for 'flotilla rollout promote', repeatable", collect)
    .option("--progress-deadline <duration>", "time a cluster has to report the new revision healthy")
    .option("--auto-rollback", "roll clusters back to the last good revision when a rollout fails")
    .option("--no-auto-rollback", "leave failed clusters as they are")
    .addOption(
      new Option("--offline-clusters <policy>", "offline clusters hold their wave (block) or are skipped").choices([
        "block",
        "skip",
      ]),
    )
    .addHelpText(
      "after",
      examples(
        [
          "a canary wave of one cluster, baked 5 minutes, then the rest 25% at a time",
          "flotilla env set prod --wave canary:tier=canary --bake canary=5m --max-concurrency remaining=25%",
        ],
        ["the same from a file", "flotilla env set prod -f prod-policy.yaml"],
        [
          "a manual gate before the last wave",
          "flotilla env set prod --wave canary:tier=canary --require-approval remaining",
        ],
      ) +
        `\nWaves take the environment's clusters in order; clusters no wave selects form the implicit last\nwave "${REMAINING_WAVE}" (set its options with ${REMAINING_WAVE}=...). No flags: one wave, one cluster at a time.\n`,
    )
    .action(async (name: string, opts: PolicyFlags & { filename?: string }, cmd: Command) => {
      let policy: PolicyInput;
      if (opts.filename !== undefined) {
        if (hasPolicyFlags(opts)) throw new UsageError("give the policy with -f or with flags, not both");
        policy = policyFromDocument(
          parseOneDocument(await readInput(opts.filename, ctx.io.stdin), opts.filename),
          opts.filename,
        );
      } else {
        policy = policyFromFlags(opts);
      }
      const saved = await ctx.client(cmd).put<Environment>(apiPath`/v1/environments/${name}`, { json: { policy } });
      const waves = saved.policy?.waves?.length ?? 0;
      ctx.print(
        cmd,
        saved,
        () =>
          `environment/${name} set (${waves === 0 ? "one wave" : `${waves} wave${waves === 1 ? "" : "s"} + ${REMAINING_WAVE}`})`,
      );
    });

  env
    .command("get")
    .description("show an environment's rollout policy")
    .argument("<name>", "environment name")
    .addHelpText(
      "after",
      examples(
        ["the prod waves", "flotilla env get prod"],
        ["as the document apply reads, to edit and apply again", "flotilla env get prod -o yaml"],
      ),
    )
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const e = await ctx.client(cmd).get<Environment>(apiPath`/v1/environments/${name}`);
      ctx.printObject(cmd, "Environment", e, () => environmentText(e));
    });

  env
    .command("list")
    .alias("ls")
    .description("list environments")
    .addHelpText("after", examples(["every environment", "flotilla env list"]))
    .action(async (_opts: unknown, cmd: Command) => {
      const list = await ctx.client(cmd).get<List<Environment>>("/v1/environments");
      if (ctx.human(cmd) && list.items.length === 0) {
        return ctx.note("no environments yet; define one with 'flotilla env set <name> --wave ...'");
      }
      ctx.print(cmd, list, () =>
        formatTable(
          ["name", "waves", "auto rollback", "offline clusters"],
          list.items.map((e) => [
            e.name,
            (e.policy?.waves ?? [])
              .map((w) => w.name)
              .concat(REMAINING_WAVE)
              .join(" → "),
            show(e.policy?.autoRollback),
            e.policy?.offlineClusters ?? "default",
          ]),
        ),
      );
    });

  addDeleteCommand(env, ctx, {
    noun: "environment",
    path: (name) => apiPath`/v1/environments/${name}`,
    example: "flotilla env delete staging --yes",
  });
};

function show(value: unknown): string {
  if (value === undefined) return "default";
  if (typeof value === "boolean") return value ? "yes" : "no";
  return String(value);
}

/** The human view of an environment: its settings, then its waves in order. */
export function environmentText(e: Environment): string {
  const p = e.policy ?? {};
  const head = formatDetail([
    ["Name", e.name],
    ["Progress deadline", p.progressDeadlineSeconds === undefined ? "default" : `${p.progressDeadlineSeconds}s`],
    ["Auto rollback", show(p.autoRollback)],
    ["Offline clusters", p.offlineClusters ?? "default"],
  ]);
  const waves = [...(p.waves ?? []), { name: REMAINING_WAVE, selector: "(clusters no wave selects)", ...p.remaining }];
  const rows = waves.map((w) => [
    w.name,
    typeof w.selector === "string" ? w.selector || "(all)" : w.selector ? formatLabels(w.selector) : "(all)",
    show(w.maxConcurrency),
    w.bakeSeconds === undefined ? "default" : `${w.bakeSeconds}s`,
    show(w.failureBudget),
    w.requireApproval ? "yes" : "no",
  ]);
  return `${head}\n\nWaves:\n${formatTable(["wave", "selector", "max concurrency", "bake", "failure budget", "approval"], rows)}`;
}
