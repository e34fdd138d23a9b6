/**
 * docs/getting-started.md, followed literally: every shell block of the guide runs, in order,
 * in one reader's shell (test/src/guide/shell.ts), as parsed by test/src/guide/markdown.ts, with
 * the substitutions of test/src/guide/substitutions.ts and nothing else changed. Each block is
 * one test, named by its line, so a command that stops working shows as that step failing (and
 * the steps after it skipped).
 *
 * What the reader is assumed to have, the test provides: two Kubernetes clusters (fixture
 * clusters, reached through a kubeconfig whose `prod-eu-1` context uses a client certificate and
 * whose `prod-us-1` context an exec credential plugin, as an EKS kubeconfig does), a Git
 * repository with a read-only token and a push webhook (the fixture Git server; a post-receive
 * hook plays the Git host's webhook), a git identity, and nats-server, redis-server, kubectl,
 * helm, curl, jq and openssl on PATH. The fixture Git server speaks plain HTTP on loopback, which
 * hub and agents refuse unless told: the test's environment (and the pods') carries
 * FLOTILLA_GIT_ALLOW_HTTP and FLOTILLA_GIT_ALLOWED_HOSTS for it, as a reader's would not. The fixture clusters start no containers: a loop
 * (test/src/guide/pods.ts) runs the program of every Flotilla pod the chart creates.
 *
 * Slow (two clusters, several rollouts): `npm run test:docs`, not part of `npm test`. The fast
 * checks of the guide (every block accounted for, every `flotilla` command known to the CLI) run
 * in `npm test` from test/src/docs/guide.test.ts.
 */
import { execFile } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { RolloutState } from "@flotilla/api";
import {
  binPath,
  type Cluster,
  type FixtureRepo,
  freePorts,
  type GitServer,
  HubApi,
  startClusters,
  startGitServer,
  until,
} from "@flotilla/devfleet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { parseGuide, type Step, substitute } from "./markdown.js";
import { PodRunner } from "./pods.js";
import { Session } from "./shell.js";
import { guideSubstitutions } from "./substitutions.js";

const run = promisify(execFile);
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const GUIDE = join(REPO_ROOT, "docs/getting-started.md");
/** The longest a block may run (a rollout watched to its end is the longest). */
const BLOCK_TIMEOUT_MS = 360_000;

const work = mkdtempSync(join(tmpdir(), "flotilla-guide-"));
const [natsPort, natsMonitorPort, redisPort, hubPort, agentMetricsPort] = (await freePorts(5)) as [
  number,
  number,
  number,
  number,
  number,
];

/** A kubeconfig as a reader might have one: one context with a client certificate, one with an exec plugin. */
async function userKubeconfig(euCluster: Cluster, usCluster: Cluster): Promise<string> {
  const kubectlOf = (c: Cluster) => (args: string[]) =>
    run(binPath("kubectl"), ["--kubeconfig", c.kubeconfigPath, ...args]).then((r) => r.stdout.trim());
  const us = kubectlOf(usCluster);
  await us(["-n", "kube-system", "create", "serviceaccount", "platform-admin"]);
  await us([
    "create",
    "clusterrolebinding",
    "platform-admin",
    "--clusterrole=cluster-admin",
    "--serviceaccount=kube-system:platform-admin",
  ]);
  const tokenFile = join(work, "prod-us-1.token");
  writeFileSync(tokenFile, await us(["-n", "kube-system", "create", "token", "platform-admin", "--duration=2h"]), {
    mode: 0o600,
  });
  // As `aws eks get-token` does: print an ExecCredential with a token and its expiry.
  const plugin = join(work, "bin", "get-token");
  mkdirSync(dirname(plugin), { recursive: true });
  writeFileSync(
    plugin,
    `#!/bin/sh
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"}}' \\
  "$(cat ${tokenFile})" "$(date -u -d '+15 minutes' +%Y-%m-%dT%H:%M:%SZ)"
`,
  );
  chmodSync(plugin, 0o755);
  const caOf = (c: Cluster) => c.kubeConfig().getCurrentCluster()?.caData ?? "";
  const euUser = euCluster.kubeConfig().getCurrentUser();
  if (!euUser?.certData || !euUser.keyData) throw new Error("the fixture admin kubeconfig has no client certificate");
  const path = join(work, "kubeconfig");
  writeFileSync(
    path,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      "current-context": "prod-eu-1",
      clusters: [
        {
          name: "prod-eu-1",
          cluster: { server: euCluster.server, "certificate-authority-data": caOf(euCluster) },
        },
        {
          name: "prod-us-1",
          cluster: { server: usCluster.server, "certificate-authority-data": caOf(usCluster) },
        },
      ],
      users: [
        { name: "eu-admin", user: { "client-certificate-data": euUser.certData, "client-key-data": euUser.keyData } },
        {
          name: "us-platform-admin",
          user: {
            exec: {
              apiVersion: "client.authentication.k8s.io/v1",
              command: plugin,
              args: ["--cluster", "prod-us-1"],
              interactiveMode: "Never",
            },
          },
        },
      ],
      contexts: [
        { name: "prod-eu-1", context: { cluster: "prod-eu-1", user: "eu-admin" } },
        { name: "prod-us-1", context: { cluster: "prod-us-1", user: "us-platform-admin" } },
      ],
    }),
    { mode: 0o600 },
  );
  return path;
}

/** A push webhook on the repository, as the guide has the reader set one up at the Git host. */
function installWebhook(repo: FixtureRepo): void {
  const hook = join(repo.gitDir, "hooks", "post-receive");
  writeFileSync(
    hook,
    `#!/bin/sh
secret=${work}/etc/guestbook-webhook.secret
[ -f "$secret" ] || exit 0
body='{"ref":"refs/heads/main"}'
signature=$(printf %s "$body" | openssl dgst -sha256 -hmac "$(cat "$secret")" -r | cut -d' ' -f1)
curl -fsS -m 10 -X POST "http://127.0.0.1:${hubPort}/v1/webhooks/git/guestbook" -H 'Content-Type: application/json' \\
  -H "X-GitHub-Event: push" -H "X-Hub-Signature-256: sha256=$signature" -d "$body" >/dev/null 2>&1 || true
`,
  );
  chmodSync(hook, 0o755);
}

let clusters: Cluster[] = [];
let git: GitServer;
let repo: FixtureRepo;
let steps: Step[] = [];
let session: Session;
let pods: PodRunner;
/** The first step that failed; every later step is skipped. */
let failedAt: string | undefined;

beforeAll(async () => {
  [clusters, git] = await Promise.all([
    startClusters(["prod-eu-1", "prod-us-1"], { dir: work }),
    startGitServer({ dir: work }),
  ]);
  repo = await git.createRepo("guestbook", { main: { "README.md": "# guestbook\n" } });
  installWebhook(repo);
  steps = parseGuide(
    substitute(
      readFileSync(GUIDE, "utf8"),
      guideSubstitutions({
        work,
        ports: {
          nats: natsPort,
          natsMonitor: natsMonitorPort,
          redis: redisPort,
          hub: hubPort,
          agentMetrics: agentMetricsPort,
        },
        repoUrl: repo.url,
        gitUser: git.username,
      }),
    ),
  );
  writeFileSync(join(work, "git-token"), `${git.password}\n`, { mode: 0o600 });
  const [eu, us] = clusters as [Cluster, Cluster];
  const kubeconfig = await userKubeconfig(eu, us);
  const home = join(work, "home");
  mkdirSync(home);
  const basic = Buffer.from(`${git.username}:${git.password}`).toString("base64");
  session = new Session(
    join(work, "shell"),
    {
      PATH: `${dirname(binPath("kubectl"))}:${process.env.PATH ?? "/usr/bin:/bin"}`,
      HOME: home,
      TMPDIR: tmpdir(),
      KUBECONFIG: kubeconfig,
      // The reader's git identity and their access to their repository.
      GIT_AUTHOR_NAME: "Platform Engineer",
      GIT_AUTHOR_EMAIL: "platform@example.invalid",
      GIT_COMMITTER_NAME: "Platform Engineer",
      GIT_COMMITTER_EMAIL: "platform@example.invalid",
      GIT_TERMINAL_PROMPT: "0",
      GIT_CONFIG_COUNT: "1",
      GIT_CONFIG_KEY_0: `http.${git.baseUrl}/.extraHeader`,
      GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
      // The one setting the reader's machine does not need: their Git host speaks HTTPS at a
      // public address, the fixture's plain HTTP on loopback (the hub and process agent inherit these).
      ...git.clientEnv,
    },
    REPO_ROOT,
  );
  pods = new PodRunner(clusters, join(work, "pods"), git.clientEnv);
  pods.start();
}, 300_000);

afterAll(async () => {
  await pods?.stop();
  await session?.stop();
  await Promise.all([...clusters.map((c) => c.stop()), git?.stop()]);
  if (!failedAt) rmSync(work, { recursive: true, force: true });
  else process.stderr.write(`guide test: ${work} kept for inspection (failed at ${failedAt})\n`);
}, 120_000);

/** What the reader would see around a failure: the services' and pods' logs. */
async function context(): Promise<string> {
  return `\n--- services ---\n${await session.serviceLogs()}\n--- pods ---\n${await pods.logs()}`;
}

async function runStep(step: Step): Promise<void> {
  const what = `the block at line ${step.line} (${step.heading})`;
  switch (step.kind) {
    case "skip":
      return;
    case "run":
      if (step.retryMs) await session.retry(step.code, step.retryMs, what);
      else await session.must(step.code, BLOCK_TIMEOUT_MS, what);
      return;
    case "background": {
      const proc = await session.start(step.service, step.code);
      // A server that cannot start says so at once; give it a moment before the next step.
      await new Promise((r) => setTimeout(r, 500));
      if (!proc.alive()) throw new Error(`${what} exited at once:\n${await proc.tail(40)}`);
      return;
    }
    case "restart":
      await session.restart(step.service);
      return;
  }
}

describe("docs/getting-started.md, command by command", () => {
  it("parses: every shell block is run, started, restarted or skipped with a reason", () => {
    expect(steps.filter((s) => s.kind === "run").length).toBeGreaterThan(20);
    expect(steps.filter((s) => s.kind === "background").map((s) => (s.kind === "background" ? s.service : ""))).toEqual(
      ["nats", "redis", "hub", "agent-prod-us-1"],
    );
    for (const s of steps) if (s.kind === "skip") process.stdout.write(`guide: line ${s.line} not run: ${s.reason}\n`);
  });

  // One test per block, in the guide's order, created once the guide is parsed.
  const guideSteps = parseGuide(readFileSync(GUIDE, "utf8"));
  for (const [index, listed] of guideSteps.entries()) {
    const first = listed.code.split("\n")[0] ?? "";
    const title = `line ${listed.line} [${listed.kind}${listed.kind === "restart" || listed.kind === "background" ? ` ${listed.service}` : ""}] ${first.slice(0, 70)}`;
    if (listed.kind === "skip") {
      it.skip(`${title} (not run: ${listed.reason})`, () => {});
      continue;
    }
    it(title, async (ctx) => {
      if (failedAt) ctx.skip(`an earlier step failed: ${failedAt}`);
      const step = steps[index] as Step;
      try {
        await runStep(step);
        await session.checkServices();
        expect(pods.errors()).toEqual([]);
      } catch (err) {
        failedAt = `line ${listed.line}`;
        throw new Error(`${(err as Error).message}${await context()}`, { cause: err });
      }
    });
  }

  it("rolled a commit through both waves to both clusters, and the pods ran as the chart said", async (ctx) => {
    if (failedAt) ctx.skip(`an earlier step failed: ${failedAt}`);
    const { stdout } = await run("git", ["-C", repo.gitDir, "log", "--format=%H %s", "main"]);
    const v2 = stdout
      .split("\n")
      .find((l) => l.endsWith(" guestbook v2"))
      ?.split(" ")[0];
    expect(v2).toMatch(/^[0-9a-f]{40}$/);
    const api = new HubApi(
      `http://127.0.0.1:${hubPort}`,
      readFileSync(join(work, "etc", "admin-token"), "utf8").trim(),
    );
    const list = await api.request<{ items: { id: string; to: { revision: string } }[] }>(
      "GET",
      "/v1/rollouts?app=guestbook&environment=prod",
    );
    const id = list.json?.items.find((r) => r.to.revision === v2)?.id;
    expect(id).toBeDefined();
    const rollout = (await api.request<RolloutState>("GET", `/v1/rollouts/${id}`)).json;
    expect(rollout?.state).toBe("Succeeded");
    expect(rollout?.waves.map((w) => [w.name, w.status, w.clusters.map((c) => `${c.name}:${c.state}`)])).toEqual([
      ["canary", "succeeded", ["prod-eu-1:healthy"]],
      ["remaining", "succeeded", ["prod-us-1:healthy"]],
    ]);
    // The canary wave baked before the rest started.
    const [canary, rest] = rollout?.waves ?? [];
    expect(canary?.completedAtMs).toBeLessThanOrEqual(rest?.startedAtMs ?? 0);
    const at = (ms: number | undefined) =>
      ms === undefined ? "-" : `${((ms - (rollout?.detectedAtMs ?? 0)) / 1000).toFixed(1)}s`;
    process.stdout.write(
      `guide: the v2 rollout, from its detection: ${rollout?.waves
        .map(
          (w) =>
            `${w.name} started ${at(w.startedAtMs)}, ${w.clusters.map((c) => `${c.name} written ${at(c.writtenAtMs)} healthy ${at(c.healthyAtMs)}`).join(", ")}, baked from ${at(w.bakeStartedAtMs)}, done ${at(w.completedAtMs)}`,
        )
        .join("; ")}; commit ${at(rollout?.commitAtMs)}\n`,
    );
    // The guide ended by deregistering prod-eu-1 and uninstalling its agent: no pod runs any more.
    await until("the uninstalled agent's process to stop", () => pods.running().length === 0, 60_000, 500);
  });
});
