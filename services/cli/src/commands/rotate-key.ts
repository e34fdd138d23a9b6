import type { KeySetStatus } from "@flotilla/api";
import type { Command } from "commander";
import type { CommandContext } from "../context.js";
import { CliError } from "../errors.js";
import { examples } from "../help.js";
import { formatAge, formatDetail, NONE } from "../output.js";
import { parseSeconds } from "../policy.js";

/** How often `start --wait` asks how far the fleet is. */
const WAIT_POLL_MS = 2_000;
/** How long `start --wait` waits for the fleet by default. */
const DEFAULT_WAIT_SECONDS = 600;

/** One line on how far the fleet is: `2 of 3 clusters hold key set v1`. */
export function progressLine(s: KeySetStatus): string {
  if (s.phase === "announced") {
    return `${s.holdingAnnounced ?? 0} of ${s.clusters} clusters hold key set v${s.announcedVersion} (they trust the next key ${s.nextKeyId})`;
  }
  return `${s.holdingCurrent} of ${s.clusters} clusters hold key set v${s.version}`;
}

/** The status as `Key: value` lines. */
export function formatKeyStatus(s: KeySetStatus, nowMs: number): string {
  const lagging = s.lagging.map(
    (c) =>
      `${c.name} (${c.state}, ${c.hubKeySetVersion === undefined ? "no set reported" : `holds v${c.hubKeySetVersion}`})`,
  );
  return formatDetail([
    ["Key set", `v${s.version}${s.phase === "announced" ? " (rotation under way)" : ""}`],
    ["Signing key", s.currentKeyId],
    ["Next key", s.nextKeyId ? `${s.nextKeyId} (announced at v${s.announcedVersion})` : undefined],
    ["Retired keys", s.retiredKeyIds.length > 0 ? s.retiredKeyIds.join(", ") : NONE],
    ["Changed", formatAge(s.changedAtMs, nowMs)],
    ["Clusters", progressLine(s)],
    ["Waiting for", lagging.length > 0 ? lagging.join(", ") : undefined],
    [
      "Next step",
      s.phase === "announced"
        ? s.lagging.length === 0
          ? "flotilla hub rotate-key finish"
          : "wait for the clusters above, or flotilla hub rotate-key finish --force"
        : undefined,
    ],
  ]);
}

/**
 * `flotilla hub rotate-key start|status|finish`: walks the fleet through a rotation of the hub's
 * signing key. Steps rather than one command, because the wait between them is the fleet's (an
 * offline cluster may take hours); `start --wait` runs the whole walk for an operator at the
 * terminal.
 */
export function registerRotateKey(hub: Command, ctx: CommandContext): void {
  const rotate = hub
    .command("rotate-key")
    .description("rotate the hub's signing key without downtime: start, watch the fleet follow, finish")
    .addHelpText(
      "after",
      `\nstart announces a fresh key beside the current one (the hub still signs with the current key);
agents learn it from the key set the hub keeps for each cluster and say in their heartbeats which
set they hold. finish signs with the new key and retires the old one: from then on agents refuse
anything the old key signed. finish is refused while a cluster does not hold the new key yet.
${examples(
  ["the whole walk, waiting for the fleet", "flotilla hub rotate-key start --wait"],
  ["step by step", "flotilla hub rotate-key start && flotilla hub rotate-key status && flotilla hub rotate-key finish"],
)}`,
    );

  const show = (cmd: Command, s: KeySetStatus) => ctx.print(cmd, s, () => formatKeyStatus(s, ctx.now()));

  rotate
    .command("status")
    .description("the hub's keys and how many clusters hold the current key set")
    .addHelpText("after", examples(["where the fleet stands", "flotilla hub rotate-key status"]))
    .action(async (_opts: unknown, cmd: Command) => {
      show(cmd, await ctx.client(cmd).get<KeySetStatus>("/v1/hub/keys"));
    });

  rotate
    .command("start")
    .description("announce a fresh hub key beside the current one")
    .option("--wait", "then wait until every cluster holds it, and finish")
    .option("--timeout <duration>", `with --wait, give up after this long (default ${DEFAULT_WAIT_SECONDS / 60}m)`)
    .addHelpText(
      "after",
      examples(
        ["announce, then finish later", "flotilla hub rotate-key start"],
        ["announce, wait for the fleet, finish", "flotilla hub rotate-key start --wait --timeout 30m"],
      ),
    )
    .action(async (opts: { wait?: boolean; timeout?: string }, cmd: Command) => {
      const client = ctx.client(cmd);
      const timeoutMs =
        (opts.timeout !== undefined ? parseSeconds(opts.timeout, "--timeout") : DEFAULT_WAIT_SECONDS) * 1000;
      let s = await client.post<KeySetStatus>("/v1/hub/keys/rotation");
      ctx.note(
        `next key ${s.nextKeyId} announced in key set v${s.version}; the hub still signs with ${s.currentKeyId}`,
      );
      if (!opts.wait) {
        show(cmd, s);
        return;
      }
      const deadline = ctx.now() + timeoutMs;
      let last = "";
      for (;;) {
        const line = progressLine(s);
        if (line !== last) ctx.note(line);
        last = line;
        if (s.lagging.length === 0) break;
        if (ctx.now() >= deadline) {
          throw new CliError(
            `gave up waiting after ${timeoutMs / 1000}s: ${s.lagging.map((c) => c.name).join(", ")} do not hold key set v${s.announcedVersion} yet; the rotation stays started: check 'flotilla hub rotate-key status', then 'flotilla hub rotate-key finish'`,
          );
        }
        await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
        s = await client.get<KeySetStatus>("/v1/hub/keys");
      }
      s = await client.post<KeySetStatus>("/v1/hub/keys/rotation/finish", { json: {} });
      ctx.note(`signing with ${s.currentKeyId}; retired ${s.retiredKeyIds.at(-1) ?? NONE}`);
      show(cmd, s);
    });

  rotate
    .command("finish")
    .description("sign with the announced key and retire the old one")
    .option(
      "--force",
      "finish although some clusters do not hold the new key (they catch up from the key set's history when back, or, past it, need a new bundle)",
    )
    .addHelpText("after", examples(["once status shows every cluster", "flotilla hub rotate-key finish"]))
    .action(async (opts: { force?: boolean }, cmd: Command) => {
      const s = await ctx
        .client(cmd)
        .post<KeySetStatus>("/v1/hub/keys/rotation/finish", { json: opts.force ? { force: true } : {} });
      ctx.note(`signing with ${s.currentKeyId}; retired ${s.retiredKeyIds.at(-1) ?? NONE}`);
      show(cmd, s);
    });
}
