import type { App, AppDiff, AppRefresh, AppStatus, List } from "@flotilla/api";
import { type Command, Option } from "commander";
import { appWaitVerdict, DEFAULT_APP_WAIT_INTERVAL_MS, waitForApp } from "../appwait.js";
import { apiPath } from "../client.js";
import { addDeleteCommand } from "../confirm.js";
import type { CommandModule } from "../context.js";
import { CliError, UsageError } from "../errors.js";
import { examples } from "../help.js";
import { collect, parsePairs } from "../input.js";
import { formatDetail, formatLabels, formatTable, NONE } from "../output.js";
import { parseSeconds } from "../policy.js";
import { targetsText } from "../rolloutview.js";
import { addWatchOptions, parseInterval, showView, type WatchFlags } from "../views.js";
import { appsOnClustersTable } from "./cluster.js";

interface CreateOptions {
  repo: string;
  namespace: string;
  path?: string;
  source?: string;
  selector?: string[];
  prune?: boolean;
  selfHeal?: boolean;
  adopt?: boolean;
  helmRelease?: string;
  helmValues?: string[];
  helmSet?: string[];
}

/** `flotilla app create|list|get|status|diff|refresh|wait|delete`. */
export const registerAppCommands: CommandModule = (program, ctx) => {
  const app = program.command("app").description("define apps: a path of a repo, rendered into a namespace");

  app
    .command("create")
    .description("create an app from a path of a registered repo")
    .argument("<name>", "app name (a DNS label)")
    .requiredOption("--repo <repo>", "the repo it comes from")
    .requiredOption("-n, --namespace <namespace>", "target namespace on every cluster")
    .option("--path <path>", "directory in the repo; {env} becomes the environment name (default: .)")
    .addOption(
      new Option(
        "--source <type>",
        "how the path is rendered (default: auto: kustomize with a kustomization, helm with Chart.yaml, else manifests)",
      ).choices(["auto", "manifests", "kustomize", "helm"]),
    )
    .option(
      "--selector <key=value>",
      "only clusters with this label too (on top of env=<environment>), repeatable",
      collect,
    )
    .option("--prune", "delete objects removed from Git")
    .option("--self-heal", "re-apply when live objects drift from Git")
    .option("--adopt", "take over existing objects no Flotilla app created, instead of refusing them")
    .option("--helm-release <name>", "Helm release name (source helm)")
    .option("--helm-values <file>", "values file inside the chart, repeatable (source helm)", collect)
    .option("--helm-set <key=value>", "a Helm value, repeatable (source helm)", collect)
    .addHelpText(
      "after",
      examples(
        [
          "a Kustomize app with one overlay per environment",
          "flotilla app create storefront --repo web --path overlays/{env} --source kustomize -n storefront --prune",
        ],
        [
          "a Helm chart on the clusters labelled tier=edge only",
          "flotilla app create edge-proxy --repo infra --path charts/proxy --source helm --helm-values values-{env}.yaml -n proxy --selector tier=edge",
        ],
      ),
    )
    .action(async (name: string, opts: CreateOptions, cmd: Command) => {
      const spec: Record<string, unknown> = { name, repo: opts.repo, namespace: opts.namespace };
      if (opts.path !== undefined) spec.path = opts.path;
      if (opts.source !== undefined) spec.source = opts.source;
      if (opts.selector) spec.clusterSelector = parsePairs(opts.selector, "--selector", "tier=canary");
      if (opts.prune) spec.prune = true;
      if (opts.selfHeal) spec.selfHeal = true;
      if (opts.adopt) spec.adopt = true;
      const helm: Record<string, unknown> = {};
      if (opts.helmRelease) helm.releaseName = opts.helmRelease;
      if (opts.helmValues) helm.valueFiles = opts.helmValues;
      if (opts.helmSet) helm.set = parsePairs(opts.helmSet, "--helm-set", "replicas=3");
      if (Object.keys(helm).length > 0) {
        if (opts.source !== "helm") throw new UsageError("--helm-* options need --source helm");
        spec.helm = helm;
      }
      const created = await ctx.client(cmd).post<App>("/v1/apps", { json: spec });
      ctx.print(cmd, created, () => `app/${name} created (repo ${created.repo}, path ${created.path})`);
    });

  app
    .command("list")
    .alias("ls")
    .description("list apps")
    .addHelpText(
      "after",
      examples(
        ["every app", "flotilla app list"],
        ["with prune, self-heal and dependencies", "flotilla app list -o wide"],
      ),
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const list = await ctx.client(cmd).get<List<App>>("/v1/apps");
      if (ctx.human(cmd) && list.items.length === 0) {
        return ctx.note("no apps yet; create one with 'flotilla app create <name> --repo <repo> -n <namespace>'");
      }
      const wide = ctx.wide(cmd);
      ctx.print(cmd, list, () =>
        formatTable(
          [
            "name",
            "repo",
            "path",
            "source",
            "namespace",
            "selector",
            ...(wide ? ["prune", "self-heal", "adopt", "depends on", "overrides"] : []),
          ],
          list.items.map((a) => [
            a.name,
            a.repo,
            a.path,
            a.source,
            a.namespace,
            a.clusterSelector ? formatLabels(a.clusterSelector) : NONE,
            ...(wide
              ? [
                  a.prune ? "yes" : "no",
                  a.selfHeal ? "yes" : "no",
                  a.adopt ? "yes" : "no",
                  a.dependsOn?.length ? a.dependsOn.join(",") : NONE,
                  String(a.overrides?.length ?? 0),
                ]
              : []),
          ]),
        ),
      );
    });

  app
    .command("get")
    .description("show an app's definition and, in the table view, where it runs")
    .argument("<name>", "app name")
    .addHelpText(
      "after",
      examples(
        ["one app and its clusters", "flotilla app get storefront"],
        ["its definition as JSON", "flotilla app get storefront -o json"],
        ["as the document apply reads, to edit and apply again", "flotilla app get storefront -o yaml"],
      ),
    )
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const client = ctx.client(cmd);
      const a = await client.get<App>(apiPath`/v1/apps/${name}`);
      if (!ctx.human(cmd)) return ctx.printObject(cmd, "App", a, () => "");
      const status = await client.get<AppStatus>(apiPath`/v1/apps/${name}/status`);
      const head = formatDetail([
        ["Name", a.name],
        ["Repo", a.repo],
        ["Path", a.path],
        ["Source", sourceText(a.source, status)],
        ["Namespace", a.namespace],
        ["Cluster selector", a.clusterSelector ? formatLabels(a.clusterSelector) : undefined],
        ["Prune", a.prune ? "yes" : "no"],
        ["Self-heal", a.selfHeal ? "yes" : "no"],
        ["Adopt", a.adopt ? "yes" : "no"],
        ["Helm release", a.helm?.releaseName],
        ["Helm values", a.helm?.valueFiles?.join(", ")],
        ["Helm set", a.helm?.set ? formatLabels(a.helm.set) : undefined],
      ]);
      ctx.out(`${head}\n\n${clustersText(status, ctx.now(), ctx.wide(cmd))}`);
    });

  addWatchOptions(
    app
      .command("status")
      .description("where an app runs: desired and reported revision, sync and health per cluster")
      .argument("<name>", "app name"),
  )
    .addHelpText(
      "after",
      examples(
        ["the per-cluster matrix", "flotilla app status storefront"],
        ["follow it through a rollout, full revisions", "flotilla app status storefront --watch -o wide"],
      ),
    )
    .action(async (name: string, opts: WatchFlags, cmd: Command) => {
      const client = ctx.client(cmd);
      const wide = ctx.wide(cmd);
      await showView(
        ctx,
        cmd,
        opts,
        () => client.get<AppStatus>(apiPath`/v1/apps/${name}/status`),
        (status, now) => clustersText(status, now, wide),
      );
    });

  app
    .command("diff")
    .description("how the live objects differ from what each agent applied (field paths, never values)")
    .argument("<name>", "app name")
    .option("--exit-code", "exit 1 when any cluster differs or did not answer, as diff(1) does")
    .addHelpText(
      "after",
      examples(
        ["what was changed by hand, per cluster", "flotilla app diff storefront"],
        ["fail a check when anything drifted", "flotilla app diff storefront --exit-code"],
      ),
    )
    .action(async (name: string, opts: { exitCode?: boolean }, cmd: Command) => {
      const diff = await ctx.client(cmd).get<AppDiff>(apiPath`/v1/apps/${name}/diff`);
      ctx.print(cmd, diff, () => diffText(diff));
      const drifted = diff.clusters.some((c) => !c.ok || c.objects.length > 0);
      if (opts.exitCode && drifted) throw new CliError(`app ${name} differs from Git, or a cluster did not answer`);
    });

  app
    .command("refresh")
    .alias("sync")
    .description(
      "ask the app's agents to reconcile it now (render, apply, prune, report), without waiting for a change",
    )
    .argument("<name>", "app name")
    .addHelpText("after", examples(["undo a hand edit at once", "flotilla app refresh storefront"]))
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const result = await ctx.client(cmd).post<AppRefresh>(apiPath`/v1/apps/${name}/refresh`);
      ctx.print(cmd, result, () =>
        result.clusters.length === 0
          ? `app/${name} is published to no cluster yet`
          : formatTable(
              ["cluster", "ok", "message"],
              result.clusters.map((c) => [c.cluster, c.ok ? "yes" : "no", c.message]),
            ),
      );
      const failed = result.clusters.filter((c) => !c.ok).map((c) => c.cluster);
      if (failed.length > 0) throw new CliError(`app ${name} was not refreshed on ${failed.join(", ")}`);
    });

  app
    .command("wait")
    .description(
      "wait until every cluster of the app runs the revision last published, synced (and healthy with --health)",
    )
    .argument("<name>", "app name")
    .option("--health", "wait for healthy too, not only synced")
    .option("--timeout <duration>", "give up (exit 1) after this long, e.g. 90s, 5m", "5m")
    .option("--interval <duration>", "how often to read the status", `${DEFAULT_APP_WAIT_INTERVAL_MS}ms`)
    .addHelpText(
      "after",
      examples([
        "in CI, after a push: the app healthy everywhere within 10 minutes",
        "flotilla app wait storefront --health --timeout 10m",
      ]),
    )
    .action(async (name: string, opts: { health?: boolean; timeout: string; interval: string }, cmd: Command) => {
      const status = await waitForApp(ctx.client(cmd), name, {
        health: Boolean(opts.health),
        timeoutMs: parseSeconds(opts.timeout, "--timeout") * 1000,
        intervalMs: parseInterval(opts.interval),
        now: ctx.now,
      });
      const clusters = status.clusters.filter((r) => r.desired !== null).length;
      ctx.print(
        cmd,
        { app: name, ready: appWaitVerdict(status, { health: Boolean(opts.health) }).done, clusters },
        () => `app/${name} is ${opts.health ? "synced and healthy" : "synced"} on ${clusters} cluster(s)`,
      );
    });

  addDeleteCommand(app, ctx, {
    noun: "app",
    path: (name) => apiPath`/v1/apps/${name}`,
    after: "its objects are pruned from every cluster that ran it",
    example: "flotilla app delete storefront --yes",
  });
};

/**
 * An app's source type; for `auto`, what the agents detected at their last render (the hub
 * cannot know it before they report).
 */
export function sourceText(source: string, status: AppStatus): string {
  if (source !== "auto") return source;
  const detected = [...new Set(status.clusters.flatMap((c) => (c.report?.sourceType ? [c.report.sourceType] : [])))];
  return detected.length === 0 ? "auto" : `auto (detected: ${detected.sort().join(", ")})`;
}

function clustersText(status: AppStatus, nowMs: number, wide = false): string {
  const rollouts =
    status.rollouts && status.rollouts.length > 0
      ? `Rollouts (newest per environment):\n${formatTable(
          ["env", "rollout", "revision", "state", "wave", "failure"],
          status.rollouts.map((r) => [
            r.environment,
            r.id,
            targetsText(r.from, r.to, "(first)"),
            r.state,
            r.wave ?? NONE,
            r.failure ?? NONE,
          ]),
        )}\n\n`
      : "";
  if (status.clusters.length === 0) return `${rollouts}Clusters: none yet (no desired state published)`;
  return `${rollouts}Clusters:\n${appsOnClustersTable(status.clusters, "cluster", nowMs, wide)}`;
}

/** The human view of an app's diff: one row per differing object, and a line per cluster without one. */
export function diffText(diff: AppDiff): string {
  if (diff.clusters.length === 0) return `app/${diff.app} is published to no cluster yet`;
  const rows: string[][] = [];
  for (const c of diff.clusters) {
    if (!c.ok) rows.push([c.cluster, NONE, `no answer: ${c.message}`]);
    else if (c.objects.length === 0) rows.push([c.cluster, NONE, "in sync"]);
    else {
      for (const o of c.objects) {
        const kind = o.group ? `${o.kind}.${o.group}` : o.kind;
        rows.push([c.cluster, `${kind}/${o.namespace ? `${o.namespace}/` : ""}${o.name}`, o.fields.join(", ")]);
      }
    }
  }
  return formatTable(["cluster", "object", "differs"], rows);
}
