/**
 * The local fleet verbs: `flotilla up`, `flotilla down` and `flotilla demo commit`.
 * A fleet is NATS (operator mode), Redis, a Git server with an example app, three Kubernetes
 * clusters (dev-1; prod-canary-1; prod-1) each with an agent, and the hub with a two-wave prod
 * policy, all on loopback and all under one directory.
 */
import { spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { DASHBOARD_PATH } from "@flotilla/dashboard";
import { type Command, Option } from "commander";
import { HubClient } from "../client.js";
import { examples } from "../help.js";
import { FleetError } from "./errors.js";
import { DEFAULT_FLEET_DIR, type FleetRecord } from "./layout.js";

export { FleetError } from "./errors.js";
export { DEFAULT_FLEET_DIR, type FleetRecord } from "./layout.js";

/** How long the demo waits for the hub to notice the pushed commit. */
const DETECT_TIMEOUT_MS = 60_000;
/** Per-request timeout while the demo asks the fleet's hub for its rollouts. */
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * The fleet's machinery (@flotilla/devfleet, which pulls in the hub and the agent) loads only when
 * one of these verbs runs: every other verb of the CLI starts without paying for it.
 */
const control = () => import("./control.js");
const example = async () => (await import("@flotilla/devfleet")).EXAMPLE;

const CLI_MAIN = fileURLToPath(new URL("../main.js", import.meta.url));

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function summary(record: FleetRecord, dir: string, wroteConfig: boolean, cliConfigPath: string): string {
  const clusters = record.clusters
    .map(
      (c) =>
        `    ${c.name.padEnd(15)} ${Object.entries(c.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(",")}`,
    )
    .join("\n");
  const config = wroteConfig
    ? `  The CLI is configured for it (${cliConfigPath}).`
    : `  Your CLI config was left alone; point the CLI at the fleet with:\n    export FLOTILLA_HUB=${record.hubUrl} FLOTILLA_TOKEN=${record.token}`;
  return `
Flotilla local fleet is up.
  hub       ${record.hubUrl}
  dashboard ${record.hubUrl}${DASHBOARD_PATH} (log in with the token)
  token     ${record.token}
  git       ${record.gitUrl}
  clusters
${clusters}
${config}

Next:
  npx flotilla status                         # clusters, apps and rollouts
  npx flotilla demo commit --env prod --watch # release a new version to main and watch the waves
  npx flotilla rollout list
  npx flotilla down                           # stop everything and remove ${dir}
`;
}

async function requireFleet(dir: string): Promise<FleetRecord> {
  const record = await (await control()).readRecord(dir);
  if (!record) throw new FleetError(`no fleet is up in ${dir}; run 'flotilla up' first`);
  return record;
}

/** Waits until the hub has a rollout of the example app in `env` to `sha`, and returns its id. */
async function findRollout(record: FleetRecord, env: string, sha: string): Promise<string> {
  const EXAMPLE = await example();
  const client = new HubClient({
    baseUrl: record.hubUrl,
    hubSource: "the local fleet",
    token: record.token,
    tokenSource: "the local fleet",
    configPath: "",
    timeoutMs: REQUEST_TIMEOUT_MS,
  });
  const deadline = Date.now() + DETECT_TIMEOUT_MS;
  for (;;) {
    const { items } = await client.get<{ items: { id: string; to: { revision: string } }[] }>("/v1/rollouts", {
      app: EXAMPLE.app,
      environment: env,
    });
    const found = items.find((r) => r.to.revision === sha);
    if (found) return found.id;
    if (Date.now() > deadline) {
      throw new FleetError(
        `the hub did not start a rollout for ${sha.slice(0, 8)} within ${DETECT_TIMEOUT_MS / 1000} s`,
      );
    }
    await sleep(500);
  }
}

/** Runs `flotilla rollout watch <id>` in this terminal and resolves with its exit code. */
function watch(record: FleetRecord, id: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_MAIN, "rollout", "watch", id], {
      stdio: "inherit",
      env: { ...process.env, FLOTILLA_HUB: record.hubUrl, FLOTILLA_TOKEN: record.token },
    });
    child.on("exit", (code) => resolve(code ?? 1));
  });
}

async function demoCommit(record: FleetRecord, env: "dev" | "prod", version: string, andWatch: boolean) {
  const EXAMPLE = await example();
  const sha = await (await control()).commitExample(record, env, version);
  say(`pushed ${EXAMPLE.app} ${version} to ${env === "prod" ? "main" : "develop"} as ${sha.slice(0, 12)}`);
  const id = await findRollout(record, env, sha);
  say(`the hub started rollout ${id}`);
  if (andWatch) process.exitCode = await watch(record, id);
  else say(`watch it with: npx flotilla rollout watch ${id}`);
}

/** Adds `up`, `down` and `demo` to the CLI. */
export function registerFleetCommands(program: Command): void {
  const dirOption = () => new Option("--dir <dir>", "where the fleet keeps its data").default(DEFAULT_FLEET_DIR);

  program
    .command("up")
    .description("start a local fleet: NATS, Redis, Git, three Kubernetes clusters with agents, and the hub")
    .addOption(dirOption())
    .addOption(new Option("--foreground", "run the fleet in this process until interrupted").hideHelp())
    .option("--demo", "once up, release a new version to prod and watch it roll through the waves")
    .addHelpText(
      "after",
      examples(
        ["start the fleet in the background and print how to use it", "flotilla up"],
        ["start it, push a release to main, and watch canary → bake → rest", "flotilla up --demo"],
      ),
    )
    .action(async (opts: { dir: string; foreground?: boolean; demo?: boolean }) => {
      if (opts.foreground) return (await import("./supervisor.js")).superviseFleet(opts.dir);
      const { up, writeCliConfig, cliConfigPath } = await control();
      const record = await up(opts.dir, CLI_MAIN, say);
      const wrote = await writeCliConfig(record);
      say(summary(record, opts.dir, wrote, cliConfigPath()));
      if (opts.demo) await demoCommit(record, "prod", `v${Date.now().toString(36)}`, true);
    });

  program
    .command("down")
    .description("stop the local fleet and remove its data")
    .addOption(dirOption())
    .addHelpText("after", examples(["stop everything 'flotilla up' started", "flotilla down"]))
    .action(async (opts: { dir: string }) => {
      const { down } = await control();
      say((await down(opts.dir, say)) ? `fleet stopped; ${opts.dir} removed` : `no fleet was up in ${opts.dir}`);
    });

  const demo = program.command("demo").description("drive the local fleet's example app");
  demo
    .command("commit")
    .description("push a new version of the example app to the branch an environment tracks")
    .addOption(
      new Option("--env <env>", "environment whose branch gets the commit").choices(["dev", "prod"]).default("prod"),
    )
    .option("--release <version>", "version to release (image tag and greeting)")
    .option("--watch", "watch the rollout the commit starts until it ends")
    .addOption(dirOption())
    .addHelpText(
      "after",
      examples(
        ["release to prod (main) and watch the waves", "flotilla demo commit --env prod --watch"],
        ["release v2 to dev (develop)", "flotilla demo commit --env dev --release v2"],
      ),
    )
    .action(async (opts: { env: "dev" | "prod"; release?: string; watch?: boolean; dir: string }) => {
      const record = await requireFleet(opts.dir);
      await demoCommit(record, opts.env, opts.release ?? `v${Date.now().toString(36)}`, opts.watch ?? false);
    });
}
