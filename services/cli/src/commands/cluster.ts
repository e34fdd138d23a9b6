import {
  type AppOnCluster,
  type BootstrapBundle,
  CLUSTER_PAGE_SIZE,
  type ClusterDetail,
  type ClusterListItem,
  type ClusterPage,
  type List,
  type RegistrationToken,
  type RegistrationTokensRevoked,
} from "@flotilla/api";
import type { Command } from "commander";
import { bundleText, defaultBundlePath, reserveSecretFile, SECRET_FILE_MODE } from "../bootstrap.js";
import { apiPath } from "../client.js";
import { isHuman } from "../config.js";
import { addDeleteCommand } from "../confirm.js";
import type { CommandModule } from "../context.js";
import { UsageError } from "../errors.js";
import { examples } from "../help.js";
import { collect, parsePairs } from "../input.js";
import { formatAge, formatDetail, formatLabels, formatTable, NONE, shortSha } from "../output.js";
import { parseSeconds } from "../policy.js";
import { addWatchOptions, showView, type WatchFlags } from "../views.js";

/** `flotilla cluster register|list|get|rotate|token|deregister|delete`. */
export const registerClusterCommands: CommandModule = (program, ctx) => {
  const cluster = program
    .command("cluster")
    .description("register, list, inspect and deregister clusters")
    .addHelpText("after", examples(["list the fleet's clusters", "flotilla cluster list"]));

  cluster
    .command("register")
    .description("register a cluster and save its agent's bootstrap bundle (shown only once)")
    .argument("<name>", "cluster name (a DNS label)")
    .option(
      "-l, --label <key=value>",
      "a label, repeatable; env=<environment> puts the cluster in that environment",
      collect,
    )
    .option(
      "--bootstrap-out <file>",
      "where the bootstrap bundle goes (mode 0600, never overwritten); '-' for stdout (default: ./<name>-bootstrap.json)",
    )
    .addHelpText(
      "after",
      examples(
        ["a canary production cluster", "flotilla cluster register prod-eu-1 -l env=prod -l tier=canary"],
        [
          "feed the bundle straight into a Kubernetes Secret",
          "flotilla cluster register dev-1 -l env=dev --bootstrap-out - | kubectl create secret generic flotilla-bootstrap --from-file=bootstrap.json=/dev/stdin",
        ],
      ) +
        "\nThe bundle holds the agent's private key and NATS credentials: the hub keeps only public halves and\n" +
        "cannot show it again. Lost it? 'flotilla cluster deregister <name>' and register again.\n",
    )
    .action(async (name: string, opts: { label?: string[]; bootstrapOut?: string }, cmd: Command) => {
      const labels = parsePairs(opts.label ?? [], "-l", "env=prod");
      const format = ctx.format(cmd);
      const out = opts.bootstrapOut ?? defaultBundlePath(name);
      if (out === "-" && !isHuman(format)) {
        throw new UsageError("--bootstrap-out - and -o json|yaml both write to stdout", "choose one");
      }
      const client = ctx.client(cmd);
      const file = reserveSecretFile(out, ctx.io.stdout);
      let bundle: BootstrapBundle;
      try {
        bundle = await client.post<BootstrapBundle>("/v1/clusters", { json: { name, labels } });
      } catch (err) {
        file.discard();
        throw err;
      }
      file.write(bundleText(bundle));
      const where =
        out === "-"
          ? "bootstrap bundle written to stdout"
          : `bootstrap bundle: ${out} (mode ${SECRET_FILE_MODE.toString(8).padStart(4, "0")}; give it to the agent with --bootstrap, then delete it)`;
      if (isHuman(format)) {
        const say = (text: string) => (out === "-" ? ctx.note(text) : ctx.out(text));
        say(`cluster/${name} registered (labels ${formatLabels(labels)})`);
        say(where);
        return;
      }
      ctx.note(where);
      const detail = await client.get<ClusterDetail>(apiPath`/v1/clusters/${name}`);
      ctx.print(cmd, detail, () => "");
    });

  addWatchOptions(
    cluster
      .command("list")
      .alias("ls")
      .description("list clusters with their state and labels")
      .option("-l, --selector <selector>", 'only clusters whose labels match, e.g. "env=prod,tier in (canary,edge)"'),
  )
    .addHelpText(
      "after",
      examples(
        ["every cluster", "flotilla cluster list"],
        ["the prod canaries", "flotilla cluster list -l env=prod,tier=canary"],
        ["as JSON, for scripts", "flotilla cluster list -o json"],
        ["follow the fleet, with key ids and creation times", "flotilla cluster list --watch -o wide"],
      ),
    )
    .action(async (opts: { selector?: string } & WatchFlags, cmd: Command) => {
      const client = ctx.client(cmd);
      const read = async () => {
        // The hub answers in pages; a fleet of thousands comes in a few requests of bounded size.
        const list: List<ClusterListItem> = { items: [] };
        let next: string | undefined;
        do {
          const page: ClusterPage = await client.get<ClusterPage>("/v1/clusters", {
            limit: String(CLUSTER_PAGE_SIZE),
            continue: next,
            selector: opts.selector,
          });
          list.items.push(...page.items);
          next = page.continue;
        } while (next);
        return list;
      };
      const empty = opts.selector
        ? `no cluster matches ${opts.selector}`
        : "no clusters registered; add one with 'flotilla cluster register <name> -l env=<environment>'";
      if (!opts.watch && ctx.human(cmd)) {
        const list = await read();
        if (list.items.length === 0) return ctx.note(empty);
        return ctx.out(clusterListText(list.items, ctx.now(), ctx.wide(cmd)));
      }
      const wide = ctx.wide(cmd);
      await showView(ctx, cmd, opts, read, (list, now) =>
        list.items.length === 0 ? `(${empty})` : clusterListText(list.items, now, wide),
      );
    });

  cluster
    .command("get")
    .description("show a cluster: state, labels, agent, and every app on it")
    .argument("<name>", "cluster name")
    .addHelpText(
      "after",
      examples(
        ["one cluster", "flotilla cluster get prod-eu-1"],
        ["as the document apply reads, to edit and apply again", "flotilla cluster get prod-eu-1 -o yaml"],
      ),
    )
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const detail = await ctx.client(cmd).get<ClusterDetail>(apiPath`/v1/clusters/${name}`);
      ctx.printObject(cmd, "Cluster", detail, () => clusterDetailText(detail, ctx.now()));
    });

  cluster
    .command("deregister")
    .description("deregister a cluster and revoke its credentials (its agent can no longer connect)")
    .argument("<name>", "cluster name")
    .addHelpText("after", examples(["remove a decommissioned cluster", "flotilla cluster deregister prod-eu-1"]))
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await ctx.client(cmd).delete(apiPath`/v1/clusters/${name}`);
      ctx.print(cmd, { name, deregistered: true }, () => `cluster/${name} deregistered; its credentials are revoked`);
    });

  cluster
    .command("rotate")
    .description("have the cluster's agent replace its NATS user at its next credentials renewal")
    .argument("<name>", "cluster name")
    .addHelpText(
      "after",
      `${examples(["rotate a cluster's NATS credentials", "flotilla cluster rotate prod-eu-1"])}
The agent renews at half its credentials' lifetime (FLOTILLA_AGENT_CREDS_TTL on the hub); at
that renewal it makes a new NATS user key and the old user is revoked. To cut a cluster off at
once, deregister it.
`,
    )
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const res = await ctx
        .client(cmd)
        .post<{ name: string; rotation: "requested" | "none" }>(apiPath`/v1/clusters/${name}/rotate`);
      ctx.print(cmd, res, () =>
        res.rotation === "requested"
          ? `cluster/${name}: rotation requested; its agent replaces its NATS user at its next renewal`
          : `cluster/${name} has no NATS credentials to rotate (the hub runs without an operator setup)`,
      );
    });

  cluster
    .command("token")
    .description("mint a single-use registration token for the cluster's agent; it is shown only now")
    .argument("<name>", "cluster name")
    .option("--ttl <duration>", "stop working unused after this long: 600, 30m, 1h, 7d (default: 1h)")
    .option("--revoke", "mint nothing: drop the cluster's outstanding tokens, so none of them registers")
    .addHelpText(
      "after",
      `${examples(
        ["a token for an agent that was offline past its credentials' expiry", "flotilla cluster token prod-eu-1"],
        ["a token that leaked or is no longer needed, dropped", "flotilla cluster token prod-eu-1 --revoke"],
        [
          "straight into the agent's Secret, for a day",
          "flotilla cluster token prod-eu-1 --ttl 24h | kubectl -n flotilla-system create secret generic flotilla-registration --from-file=token=/dev/stdin",
        ],
      )}
An agent whose NATS credentials expired while it was offline cannot renew them. Give it this token
(FLOTILLA_REGISTRATION_TOKEN_FILE) and the hub's URL (FLOTILLA_HUB_URL): it registers once with a
NATS user key it makes itself, gets new credentials and goes on. The token works once, for this
cluster only; the hub keeps only a hash of it. A cluster has one outstanding token at most: a new
one, or a registration, drops the others. The agent's Ed25519 key never changes this way: an agent
that lost its key needs a new registration (flotilla cluster delete, then flotilla cluster register).
`,
    )
    .action(async (name: string, opts: { ttl?: string; revoke?: boolean }, cmd: Command) => {
      if (opts.revoke) {
        if (opts.ttl !== undefined)
          throw new UsageError("--ttl and --revoke do not go together: --revoke mints nothing");
        const revoked = await ctx
          .client(cmd)
          .request<RegistrationTokensRevoked>("DELETE", apiPath`/v1/clusters/${name}/registration-tokens`, {});
        ctx.print(cmd, revoked, () => `cluster/${name}: ${revoked.revoked} registration token(s) dropped`);
        return;
      }
      const body = opts.ttl !== undefined ? { ttlSeconds: parseSeconds(opts.ttl, "--ttl") } : {};
      const minted = await ctx
        .client(cmd)
        .post<RegistrationToken>(apiPath`/v1/clusters/${name}/registration-tokens`, { json: body });
      ctx.note(
        `registration token for cluster/${name}, shown only now; it works once, until ${new Date(minted.expiresAtMs).toISOString()}`,
      );
      ctx.print(cmd, minted, () => minted.token);
    });

  addDeleteCommand(cluster, ctx, {
    noun: "cluster",
    path: (name) => apiPath`/v1/clusters/${name}`,
    after: "its credentials are revoked and its agent can no longer connect",
    example: "flotilla cluster delete prod-eu-1 --yes",
  });
};

/** The human view of `GET /v1/clusters/:name`. */
export function clusterDetailText(c: ClusterDetail, nowMs: number): string {
  const s = c.status;
  const head = formatDetail([
    ["Name", c.name],
    ["State", `${s.state}${s.changedAtMs ? ` (since ${formatAge(s.changedAtMs, nowMs)} ago)` : ""}`],
    ["Labels", formatLabels(c.labels)],
    ["Agent", s.agentVersion ?? NONE],
    ["Kubernetes", s.kubernetesVersion],
    ["Heartbeat", s.lastHeartbeatMs ? `${formatAge(s.lastHeartbeatMs, nowMs)} ago` : "never"],
    ["Agent key", c.agentKeyId],
    ["NATS credentials", c.hasNatsCredentials === undefined ? undefined : c.hasNatsCredentials ? "minted" : "none"],
    ["Registered", `${formatAge(c.createdAtMs, nowMs)} ago`],
  ]);
  if (c.apps.length === 0) return `${head}\n\nApps: none yet`;
  return `${head}\n\nApps:\n${appsOnClustersTable(c.apps, "app", nowMs)}`;
}

/** The `cluster list` table; `wide` adds the agent's key id and the creation time. */
export function clusterListText(rows: readonly ClusterListItem[], nowMs: number, wide = false): string {
  return formatTable(
    ["name", "state", "labels", "agent", "heartbeat", "age", ...(wide ? ["agent key", "created"] : [])],
    rows.map((c) => [
      c.name,
      c.status.state,
      formatLabels(c.labels),
      c.status?.agentVersion ?? NONE,
      c.status?.lastHeartbeatMs ? `${formatAge(c.status.lastHeartbeatMs, nowMs)} ago` : NONE,
      formatAge(c.createdAtMs, nowMs),
      ...(wide ? [c.agentKeyId, new Date(c.createdAtMs).toISOString()] : []),
    ]),
  );
}

/**
 * A table of (cluster, app) rows, keyed by `first` (app on a cluster page, cluster on an app
 * page); `wide` shows whole revisions and the time of the report.
 */
export function appsOnClustersTable(
  rows: readonly AppOnCluster[],
  first: "app" | "cluster",
  nowMs: number,
  wide = false,
): string {
  const sha = wide ? (s: string | undefined) => s || NONE : shortSha;
  return formatTable(
    [first, "env", "desired", "reported", "sync", "health", "current", "reported at", "error"],
    rows.map((r) => [
      first === "app" ? r.app : r.cluster,
      r.environment,
      r.desired ? `${sha(r.desired.revision)} (gen ${r.desired.generation})` : NONE,
      r.report ? `${sha(r.report.revision)} (gen ${r.report.observedGeneration})` : NONE,
      r.report?.phase ?? NONE,
      r.report?.health ?? NONE,
      r.current ? "yes" : "no",
      r.report ? `${formatAge(r.report.reportedAtMs, nowMs)} ago` : NONE,
      r.report?.error ? r.report.error.message : NONE,
    ]),
  );
}
