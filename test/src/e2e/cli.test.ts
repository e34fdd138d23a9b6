/**
 * The `flotilla` CLI end to end, run as a user runs it: `node services/cli/dist/main.js ...` as a
 * child process (build it first: `npx turbo run build --filter=@flotilla/cli...`). The hub it
 * talks to is itself started with `flotilla hub`, against a real nats-server, redis-server and
 * Git smart-HTTP server. Every verb is run with `-o json` and its output parsed and checked;
 * bad input must exit non-zero with one clear line on stderr.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type FixtureRepo,
  freePort,
  type GitServer,
  type NatsServer,
  type RedisServer,
  startGitServer,
  startNats,
  startRedis,
} from "../index.js";

const CLI_MAIN = fileURLToPath(new URL("../../../services/cli/dist/main.js", import.meta.url));
const TOKEN = "cli-e2e-admin-token-0123456789";
const ENCRYPTION_KEY = randomBytes(32).toString("base64");
const WEBHOOK_SECRET = "cli-e2e-webhook-secret-0123456789";
/** Bounds every wait; the test never asserts on how long anything took. */
const DEADLINE_MS = 30_000;

/** A parsed JSON document printed by the CLI; expect() judges its fields. */
type Json = ReturnType<typeof JSON.parse>;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function manifest(name: string, value: string): string {
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;
}

describe("flotilla CLI end to end", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let git: GitServer;
  let repo: FixtureRepo;
  let work: string;
  let hubUrl: string;
  let hubProc: ChildProcess;
  let hubExit: Promise<number | null>;
  const hubOutput: string[] = [];
  /** The environment every CLI run gets: a HOME without a config file, the hub and its token. */
  let baseEnv: Record<string, string>;

  /** Runs `flotilla <args>` and collects what it printed and how it exited. */
  function cli(args: string[], o: { env?: Record<string, string | undefined>; stdin?: string; cwd?: string } = {}) {
    return new Promise<Run>((resolve, reject) => {
      const env: Record<string, string> = { ...baseEnv };
      for (const [k, v] of Object.entries(o.env ?? {})) {
        if (v === undefined) delete env[k];
        else env[k] = v;
      }
      const child = spawn(process.execPath, [CLI_MAIN, ...args], {
        env,
        cwd: o.cwd ?? work,
        stdio: ["pipe", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      child.once("error", reject);
      child.once("close", (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(o.stdin ?? "");
    });
  }

  /** Runs a verb that must succeed with `-o json` and returns the parsed output. */
  async function json(args: string[], o: Parameters<typeof cli>[1] = {}): Promise<Json> {
    const r = await cli([...args, "-o", "json"], o);
    if (r.code !== 0) throw new Error(`flotilla ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  /** A failure as a user must see it: the exit code, one line on stderr, nothing on stdout, no stack. */
  function expectOneLineError(r: Run, code: number, pattern: RegExp): void {
    expect(r.code, r.stderr).toBe(code);
    expect(r.stdout).toBe("");
    const text = r.stderr.replace(/\n$/, "");
    expect(text.split("\n")).toHaveLength(1);
    expect(text).toMatch(/^error: /);
    expect(text).toMatch(pattern);
    expect(text).not.toMatch(/\n\s+at /);
  }

  const dump = () => process.stderr.write(`---- flotilla hub ----\n${hubOutput.join("").slice(-8000)}\n`);

  beforeAll(async () => {
    [nats, redis, git] = await Promise.all([startNats(), startRedis(), startGitServer()]);
    repo = await git.createRepo("web", {
      develop: { "deploy/dev/app.yaml": manifest("web", "dev-1") },
      main: { "deploy/prod/app.yaml": manifest("web", "prod-1") },
    });
    work = await mkdtemp(join(tmpdir(), "flotilla-cli-e2e-"));
    await mkdir(join(work, "home"));
    const port = await freePort();
    hubUrl = `http://127.0.0.1:${port}`;
    baseEnv = {
      PATH: process.env.PATH ?? "",
      HOME: join(work, "home"),
      FLOTILLA_HUB: hubUrl,
      FLOTILLA_TOKEN: TOKEN,
    };
    // The hub under test is `flotilla hub` itself: flags for addresses, env for secrets.
    hubProc = spawn(
      process.execPath,
      [
        CLI_MAIN,
        "hub",
        "--listen",
        `127.0.0.1:${port}`,
        "--redis-url",
        redis.url,
        "--nats-url",
        nats.url,
        "--poll-interval",
        "1s",
        "--replica-id",
        "cli-e2e",
      ],
      {
        env: {
          PATH: process.env.PATH ?? "",
          HOME: join(work, "home"),
          FLOTILLA_HUB_ADMIN_TOKEN: TOKEN,
          FLOTILLA_HUB_ENCRYPTION_KEY: ENCRYPTION_KEY,
          FLOTILLA_LOG_LEVEL: "warn",
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    hubProc.stdout?.on("data", (d: Buffer) => hubOutput.push(d.toString()));
    hubProc.stderr?.on("data", (d: Buffer) => hubOutput.push(d.toString()));
    hubExit = new Promise((res) => hubProc.once("exit", (code) => res(code)));
    try {
      await until("flotilla hub to serve /readyz", async () => {
        if (hubProc.exitCode !== null) throw new Error(`flotilla hub exited ${hubProc.exitCode}`);
        const res = await fetch(`${hubUrl}/readyz`).catch(() => undefined);
        return res?.status === 200 ? true : undefined;
      });
    } catch (err) {
      dump();
      throw err;
    }
  });

  afterAll(async () => {
    if (hubProc && hubProc.exitCode === null) {
      hubProc.kill("SIGKILL");
      await hubExit;
    }
    await Promise.allSettled([nats?.stop(), redis?.stop(), git?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("flotilla hub serves /healthz; version reports both sides", async () => {
    expect(hubOutput.join("")).toContain(`serving ${hubUrl}`);
    const health = await fetch(`${hubUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true });

    const v = await json(["version"]);
    expect(v.client.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(v.hub).toMatchObject({ url: hubUrl, replica: "cli-e2e" });
    expect(v.hub.hubKeyId).toEqual(expect.any(String));

    const human = await cli(["version"]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^Client: +flotilla \d+\.\d+\.\d+/m);
    expect(human.stdout).toContain("replica cli-e2e");
    expect(human.stdout + human.stderr).not.toContain(TOKEN);
  });

  it("cluster register|list|get|deregister; the bundle lands in a 0600 file and never on the screen", async () => {
    try {
      const bundlePath = join(work, "prod-eu-1.json");
      const reg = await cli([
        "cluster",
        "register",
        "prod-eu-1",
        "-l",
        "env=prod",
        "-l",
        "tier=canary",
        "--bootstrap-out",
        bundlePath,
      ]);
      expect(reg.code, reg.stderr).toBe(0);
      expect(reg.stdout).toContain("cluster/prod-eu-1 registered (labels env=prod,tier=canary)");
      expect(reg.stdout).toContain(bundlePath);
      expect(reg.stdout + reg.stderr).not.toContain("PRIVATE KEY");
      expect((await stat(bundlePath)).mode & 0o777).toBe(0o600);
      const bundle = JSON.parse(await readFile(bundlePath, "utf8"));
      expect(bundle).toMatchObject({ cluster: "prod-eu-1", natsUrl: nats.url, natsCreds: "" });
      expect(bundle.agentSigningKey).toContain("BEGIN PRIVATE KEY");
      expect(bundle.hubPublicKey).toContain("BEGIN PUBLIC KEY");

      // -o json prints the registered cluster, not the bundle; the bundle goes to the default file.
      const asJson = await cli(["cluster", "register", "prod-us-1", "-l", "env=prod", "-o", "json"]);
      expect(asJson.code, asJson.stderr).toBe(0);
      expect(asJson.stdout).not.toContain("PRIVATE KEY");
      expect(JSON.parse(asJson.stdout)).toMatchObject({
        name: "prod-us-1",
        labels: { env: "prod" },
        status: { state: "Pending" },
        apps: [],
      });
      const defaultPath = join(work, "prod-us-1-bootstrap.json");
      expect((await stat(defaultPath)).mode & 0o777).toBe(0o600);
      expect(JSON.parse(await readFile(defaultPath, "utf8")).cluster).toBe("prod-us-1");

      // `--bootstrap-out -` is the one way to get the bundle on stdout: only the bundle is there.
      const piped = await cli(["cluster", "register", "dev-1", "-l", "env=dev", "--bootstrap-out", "-"]);
      expect(piped.code, piped.stderr).toBe(0);
      expect(JSON.parse(piped.stdout)).toMatchObject({ cluster: "dev-1" });
      expect(piped.stderr).toContain("cluster/dev-1 registered");

      // Registering a taken name: 409 in one line, and no empty bundle file left behind.
      const again = await cli(["cluster", "register", "prod-eu-1", "--bootstrap-out", join(work, "again.json")]);
      expectOneLineError(again, 1, /cluster "prod-eu-1": already registered.*\(POST \/v1\/clusters\)/);
      await expect(stat(join(work, "again.json"))).rejects.toThrow();
      // An existing bundle file is never overwritten, and nothing is registered.
      const clash = await cli(["cluster", "register", "prod-ap-1", "--bootstrap-out", bundlePath]);
      expectOneLineError(clash, 1, /prod-eu-1\.json: already exists/);
      expect((await cli(["cluster", "get", "prod-ap-1"])).code).toBe(1);

      const list = await json(["cluster", "list"]);
      expect(list.items.map((c: Json) => c.name).sort()).toEqual(["dev-1", "prod-eu-1", "prod-us-1"]);
      expect(JSON.stringify(list)).not.toContain("PRIVATE KEY");
      const table = await cli(["cluster", "list"]);
      expect(table.code).toBe(0);
      expect(table.stdout.split("\n")[0]).toMatch(/^NAME +STATE +LABELS +AGENT +HEARTBEAT +AGE$/);
      expect(table.stdout).toMatch(/^prod-eu-1 +Pending +env=prod,tier=canary /m);

      const got = await json(["cluster", "get", "prod-eu-1"]);
      expect(got).toMatchObject({ name: "prod-eu-1", labels: { env: "prod", tier: "canary" } });
      expect(got.status.state).toBe("Pending");
      const yaml = await cli(["cluster", "get", "prod-eu-1", "-o", "yaml"]);
      expect(yaml.stdout).toMatch(/^name: prod-eu-1$/m);

      const gone = await json(["cluster", "deregister", "dev-1"]);
      expect(gone).toEqual({ name: "dev-1", deregistered: true });
      expectOneLineError(
        await cli(["cluster", "get", "dev-1"]),
        1,
        /^error: cluster "dev-1" does not exist \(GET \/v1\/clusters\/dev-1\): run 'flotilla cluster list' to see registered clusters$/,
      );
    } catch (err) {
      dump();
      throw err;
    }
  });

  it("team create|list, repo add|list|get (password from stdin, never shown), app create|list|get|status", async () => {
    try {
      expect(await json(["team", "create", "web", "--description", "the storefront"])).toEqual({
        name: "web",
        description: "the storefront",
      });
      expect((await json(["team", "list"])).items).toEqual([{ name: "web", description: "the storefront" }]);

      const secretFile = join(work, "hook.secret");
      await writeFile(secretFile, `${WEBHOOK_SECRET}\n`);
      const added = await json(
        [
          "repo",
          "add",
          "web",
          "--team",
          "web",
          "--url",
          repo.url,
          "--branch",
          "dev=develop",
          "--branch",
          "prod=main",
          "--poll-interval",
          "1",
          "--username",
          git.username,
          "--password-stdin",
          "--webhook-secret-file",
          secretFile,
        ],
        { stdin: `${git.password}\n` },
      );
      expect(added).toMatchObject({
        name: "web",
        team: "web",
        url: repo.url,
        branches: { dev: "develop", prod: "main" },
        pollIntervalSeconds: 1,
        hasCredentials: true,
        hasWebhookSecret: true,
      });
      expect(JSON.stringify(added)).not.toContain(git.password);
      expect((await json(["repo", "list"])).items.map((r: Json) => r.name)).toEqual(["web"]);
      const shown = await cli(["repo", "get", "web"]);
      expect(shown.code).toBe(0);
      expect(shown.stdout).toMatch(/^Credentials: +set \(write-only\)$/m);
      expect(shown.stdout).toMatch(/^prod +main$/m);
      expect(shown.stdout + shown.stderr).not.toContain(git.password);
      expect(shown.stdout).not.toContain(WEBHOOK_SECRET);
      expect(await json(["repo", "get", "web"])).toMatchObject({ name: "web", hasCredentials: true });

      const app = await json([
        "app",
        "create",
        "storefront",
        "--repo",
        "web",
        "--path",
        "deploy/{env}",
        "-n",
        "storefront",
        "--prune",
      ]);
      expect(app).toMatchObject({
        name: "storefront",
        repo: "web",
        path: "deploy/{env}",
        source: "manifests",
        namespace: "storefront",
        prune: true,
      });
      expect((await json(["app", "list"])).items.map((a: Json) => a.name)).toEqual(["storefront"]);
      expect(await json(["app", "get", "storefront"])).toMatchObject({ name: "storefront", repo: "web" });

      // The hub tracks the repo with the stored credentials and publishes to both prod clusters.
      const prodHead = await repo.head("main");
      const status = await until("the app on both prod clusters", async () => {
        const s = await json(["app", "status", "storefront"]);
        return s.clusters.length === 2 && s.clusters.every((c: Json) => c.desired?.revision === prodHead)
          ? s
          : undefined;
      });
      expect(status.clusters.map((c: Json) => c.cluster).sort()).toEqual(["prod-eu-1", "prod-us-1"]);
      const human = await cli(["app", "get", "storefront"]);
      expect(human.stdout).toMatch(/^Namespace: +storefront$/m);
      expect(human.stdout).toMatch(new RegExp(`^prod-eu-1 +prod +${prodHead.slice(0, 7)} \\(gen \\d+\\)`, "m"));

      // A reference to a repo that does not exist points at the repo list.
      const dangling = await cli(["app", "create", "api", "--repo", "nope", "-n", "api"]);
      expect(dangling.code).toBe(1);
      expect(dangling.stderr).toMatch(/repo "nope"/);
      expect(dangling.stderr.trim().split("\n")).toHaveLength(1);
    } catch (err) {
      dump();
      throw err;
    }
  });

  it("env set from flags and from a file, env get|list", async () => {
    const prod = await json([
      "env",
      "set",
      "prod",
      "--wave",
      "canary:tier=canary",
      "--bake",
      "canary=2m",
      "--max-concurrency",
      "remaining=50%",
      "--require-approval",
      "remaining",
      "--no-auto-rollback",
    ]);
    expect(prod).toEqual({
      name: "prod",
      policy: {
        waves: [{ name: "canary", selector: "tier=canary", bakeSeconds: 120 }],
        remaining: { maxConcurrency: "50%", requireApproval: true },
        autoRollback: false,
      },
    });
    const policyFile = join(work, "dev-policy.yaml");
    await writeFile(policyFile, "waves:\n  - name: first\n    maxConcurrency: 1\nprogressDeadlineSeconds: 120\n");
    const dev = await json(["env", "set", "dev", "-f", policyFile]);
    expect(dev.policy).toEqual({ waves: [{ name: "first", maxConcurrency: 1 }], progressDeadlineSeconds: 120 });
    const fromStdin = await json(["env", "set", "staging", "-f", "-"], {
      stdin: '{"kind":"Environment","spec":{"policy":{"offlineClusters":"skip"}}}',
    });
    expect(fromStdin.policy).toEqual({ offlineClusters: "skip" });

    expect(await json(["env", "get", "prod"])).toEqual(prod);
    expect((await json(["env", "list"])).items.map((e: Json) => e.name).sort()).toEqual(["dev", "prod", "staging"]);
    const human = await cli(["env", "get", "prod"]);
    expect(human.stdout).toMatch(/^canary +tier=canary +default +120s +default +no$/m);
    expect(human.stdout).toMatch(/^remaining +\(clusters no wave selects\) +50% +default +default +yes$/m);

    expectOneLineError(
      await cli(["env", "set", "prod", "--bake", "nope=1m"]),
      1,
      /--bake names wave "nope", which no --wave declares/,
    );
    expectOneLineError(
      await cli(["env", "set", "prod", "-f", policyFile, "--wave", "x"]),
      1,
      /give the policy with -f or with flags, not both/,
    );
  });

  it("apply -f creates, then leaves unchanged; bundles of new clusters go to 0600 files; stdin works", async () => {
    const fleet = `apiVersion: flotilla.dev/v1
kind: Team
metadata: { name: data }
---
apiVersion: flotilla.dev/v1
kind: Cluster
metadata: { name: edge-1 }
spec: { labels: { env: dev } }
---
apiVersion: flotilla.dev/v1
kind: App
metadata: { name: reports }
spec: { repo: web, path: "deploy/{env}", namespace: reports }
`;
    const file = join(work, "fleet.yaml");
    await writeFile(file, fleet);
    const bundles = join(work, "bundles");
    await mkdir(bundles);
    const first = await json(["apply", "-f", file, "--bootstrap-dir", bundles]);
    expect(first.results.map((r: Json) => `${r.kind}/${r.name}:${r.action}`)).toEqual([
      "Team/data:created",
      "Cluster/edge-1:created",
      "App/reports:created",
    ]);
    const edge = first.results.find((r: Json) => r.kind === "Cluster");
    expect(edge.bootstrap).toBeUndefined();
    expect(edge.bootstrapFile).toBe(join(bundles, "edge-1-bootstrap.json"));
    expect((await stat(edge.bootstrapFile)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(edge.bootstrapFile, "utf8")).agentSigningKey).toContain("PRIVATE KEY");

    const again = await cli(["apply", "-f", "-"], { stdin: fleet });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim().split("\n")).toEqual([
      "team/data unchanged",
      "cluster/edge-1 unchanged",
      "app/reports unchanged",
    ]);
  });

  it("status summarizes clusters, apps and rollouts", async () => {
    const s = await json(["status"]);
    expect(s.fleet.clusters).toMatchObject({ total: 3, Pending: 3 });
    expect(Object.keys(s.fleet.environments).sort()).toEqual(["dev", "prod"]);
    expect(s.apps).toBe(2);
    expect(s.rollouts === null || Array.isArray(s.rollouts)).toBe(true);
    const human = await cli(["status"]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^Clusters: +3 \(Ready 0, Offline 0, Pending 3\)$/m);
    expect(human.stdout).toMatch(/^Apps: +2$/m);
    expect(human.stdout).toMatch(/^prod +2 +0 +0 +2 /m);
  });

  it("rollout list|get|plan|pause|resume|abort|watch against the hub's rollout API", async (ctx) => {
    const probe = await cli(["rollout", "list", "-o", "json"]);
    if (probe.code !== 0 && /does not serve GET \/v1\/rollouts/.test(probe.stderr)) {
      // The hub in this checkout does not have the rollout routes yet; the CLI says so clearly.
      expectOneLineError(probe, 1, /the hub does not serve GET \/v1\/rollouts/);
      ctx.skip();
    }
    expect(probe.code, probe.stderr).toBe(0);
    const list = JSON.parse(probe.stdout);
    expect(Array.isArray(list.items)).toBe(true);

    const plan = await json(["rollout", "plan", "prod", "--app", "storefront"]);
    const waves = Array.isArray(plan) ? plan : plan.waves;
    expect(waves.map((w: Json) => [w.name, w.clusters])).toEqual([
      ["canary", ["prod-eu-1"]],
      ["remaining", ["prod-us-1"]],
    ]);

    // A new commit on main starts a rollout of storefront in prod.
    const sha = await repo.commit("main", { "deploy/prod/app.yaml": manifest("web", "prod-2") });
    const rollout = await until("a rollout of the new commit", async () => {
      const l = await json(["rollout", "list", "--app", "storefront", "--env", "prod"]);
      return l.items.find((r: Json) => r.toRevision === sha);
    });
    const got = await json(["rollout", "get", rollout.id]);
    expect(got).toMatchObject({ id: rollout.id, app: "storefront", environment: "prod", toRevision: sha });
    expect(got.waves.map((w: Json) => w.name)).toEqual(["canary", "remaining"]);

    expect((await json(["rollout", "pause", rollout.id])).state).toBe("Paused");
    expect((await json(["rollout", "resume", rollout.id])).state).not.toBe("Paused");
    const promote = await cli(["rollout", "promote", rollout.id]);
    expect(promote.code).toBe(1);
    expect(promote.stderr).toMatch(/no wave awaits approval/);

    // Abort ends it Failed: watch prints what happened and exits 3.
    expect((await json(["rollout", "abort", rollout.id])).state).toBe("Failed");
    const watched = await cli(["rollout", "watch", rollout.id, "--interval", "200ms"]);
    expect(watched.code).toBe(3);
    expect(watched.stdout).toMatch(new RegExp(`rollout ${rollout.id}: app storefront in prod`));
    expect(watched.stderr).toMatch(new RegExp(`^error: rollout ${rollout.id} ended Failed: aborted`));
    expectOneLineError(
      await cli(["rollout", "get", "no-such-rollout"]),
      1,
      /rollout "no-such-rollout".*run 'flotilla rollout list'/,
    );
  });

  it("bad input: unknown cluster, malformed or unknown-kind apply files, bad names, usage errors", async () => {
    expectOneLineError(
      await cli(["cluster", "get", "nope"]),
      1,
      /^error: cluster "nope" does not exist \(GET \/v1\/clusters\/nope\): run 'flotilla cluster list' to see registered clusters$/,
    );
    expectOneLineError(
      await cli(["rollout", "plan", "prod", "--app", "storefront", "--bogus"]),
      1,
      /^error: unknown option '--bogus' \(see 'flotilla rollout plan --help'\)$/,
    );
    expectOneLineError(await cli(["clustr", "list"]), 1, /unknown command 'clustr'.*Did you mean cluster\?/);
    expectOneLineError(await cli(["cluster", "register"]), 1, /missing required argument 'name'/);
    expectOneLineError(
      await cli(["cluster", "register", "x-1", "-l", "env"]),
      1,
      /-l "env" is not key=value: e\.g\. -l env=prod/,
    );
    expectOneLineError(await cli(["cluster", "list", "-o", "xml"]), 1, /argument 'xml' is invalid/);

    // The hub's 400 names the field and the reason.
    expectOneLineError(await cli(["team", "create", "Bad_Name"]), 1, /name: must be a DNS label.*\(POST \/v1\/teams\)/);

    const badYaml = join(work, "bad.yaml");
    await writeFile(badYaml, "apiVersion: flotilla.dev/v1\nkind: Team\nmetadata: { name: [unclosed\n");
    expectOneLineError(await cli(["apply", "-f", badYaml]), 1, /bad\.yaml: document 1 is not valid YAML: /);

    const unknownKind = join(work, "kind.yaml");
    await writeFile(
      unknownKind,
      "apiVersion: flotilla.dev/v1\nkind: Team\nmetadata: { name: ok }\n---\napiVersion: flotilla.dev/v1\nkind: Gadget\nmetadata: { name: g }\n",
    );
    expectOneLineError(
      await cli(["apply", "-f", unknownKind]),
      1,
      /kind\.yaml: document 2 \(Gadget "g"\): kind: must be one of Cluster, Team, Repo, App, Environment \(POST \/v1\/apply\)/,
    );
    // Nothing of the refused file was applied.
    expect((await cli(["team", "list", "-o", "json"])).stdout).not.toContain('"ok"');
    expectOneLineError(await cli(["apply", "-f", join(work, "missing.yaml")]), 1, /missing\.yaml: no such file/);
  });

  it("wrong or missing token names where it came from; an unreachable hub exits 2", async () => {
    expectOneLineError(
      await cli(["cluster", "list"], { env: { FLOTILLA_TOKEN: "wrong-token-0123456789" } }),
      1,
      /the hub refused the token from FLOTILLA_TOKEN \(GET \/v1\/clusters\)/,
    );
    const fromFlag = await cli(["cluster", "list", "--token", "another-wrong-token-0123"]);
    expectOneLineError(fromFlag, 1, /the hub refused the token from --token/);
    expect(fromFlag.stderr).not.toContain("another-wrong-token");
    expectOneLineError(
      await cli(["status"], { env: { FLOTILLA_TOKEN: undefined } }),
      1,
      /the hub needs a token \(GET \/v1\/.*\): pass --token, set FLOTILLA_TOKEN, or add 'token:' to .*config\.yaml/,
    );

    const deadPort = await freePort();
    expectOneLineError(
      await cli(["cluster", "list"], { env: { FLOTILLA_HUB: `http://127.0.0.1:${deadPort}` } }),
      2,
      new RegExp(
        `cannot reach the hub at http://127\\.0\\.0\\.1:${deadPort} \\(connection refused; address from FLOTILLA_HUB\\)`,
      ),
    );
  });

  it("reads hub and token from the config file; flags beat environment beat file", async () => {
    const config = join(work, "config.yaml");
    await writeFile(config, `hub: ${hubUrl}\ntoken: wrong-token-in-the-file-0123\n`);
    const fileOnly = { FLOTILLA_CONFIG: config, FLOTILLA_HUB: undefined, FLOTILLA_TOKEN: undefined };
    expectOneLineError(
      await cli(["cluster", "list"], { env: fileOnly }),
      1,
      new RegExp(`the hub refused the token from config file ${config.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`),
    );
    // The environment's token beats the file's.
    expect((await cli(["cluster", "list"], { env: { ...fileOnly, FLOTILLA_TOKEN: TOKEN } })).code).toBe(0);
    // The flag beats both.
    const flagged = await cli(["team", "list", "-o", "json", "--token", TOKEN], { env: fileOnly });
    expect(flagged.code, flagged.stderr).toBe(0);
    expect(JSON.parse(flagged.stdout).items.length).toBeGreaterThan(0);

    // A config file found in the default place (under HOME) works too.
    const home = join(work, "home-with-config");
    await mkdir(join(home, ".config", "flotilla"), { recursive: true });
    await writeFile(
      join(home, ".config", "flotilla", "config.yaml"),
      `hub: ${hubUrl}\ntoken: ${TOKEN}\noutput: json\n`,
    );
    const viaHome = await cli(["team", "list"], {
      env: { HOME: home, FLOTILLA_HUB: undefined, FLOTILLA_TOKEN: undefined },
    });
    expect(viaHome.code, viaHome.stderr).toBe(0);
    expect(JSON.parse(viaHome.stdout).items.map((t: Json) => t.name)).toContain("web");

    await writeFile(config, "hub: [oops\n");
    expectOneLineError(
      await cli(["team", "list"], { env: fileOnly }),
      1,
      /config file .*config\.yaml: is not valid YAML/,
    );
    await writeFile(config, "hubb: http://x\n");
    expectOneLineError(await cli(["team", "list"], { env: fileOnly }), 1, /unknown key "hubb"/);
  });

  it("flotilla hub refuses a bad configuration in one line, and stops cleanly on SIGTERM", async () => {
    const noToken = await new Promise<Run>((resolve) => {
      const child = spawn(process.execPath, [CLI_MAIN, "hub", "--listen", "127.0.0.1:0"], {
        env: { PATH: process.env.PATH ?? "", HOME: join(work, "home"), FLOTILLA_HUB_ENCRYPTION_KEY: ENCRYPTION_KEY },
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      child.once("close", (code) => resolve({ code, stdout, stderr }));
    });
    expectOneLineError(noToken, 1, /^error: FLOTILLA_HUB_ADMIN_TOKEN: is required/);

    hubProc.kill("SIGTERM");
    expect(await hubExit).toBe(0);
    expect(hubOutput.join("")).toContain("stopping");
  });
});
