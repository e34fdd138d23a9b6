/**
 * The `flotilla` CLI end to end, run as a user runs it: the npm-linked `flotilla` command as a
 * child process (build it first: `npx turbo run build`). The hub it talks to is itself started
 * with `flotilla hub`, by @flotilla/devfleet, against a real nats-server, redis-server and Git
 * smart-HTTP server. Every verb is run with `-o json` and its output parsed and checked;
 * bad input must exit non-zero with one clear line on stderr.
 *
 * The test plays the two prod clusters' agents over the real protocol (as the hub e2e test
 * does): heartbeats and signed reports with the keys from the bundles `cluster register` saved,
 * so rollouts move and `rollout watch` sees them succeed, roll back, fail and be superseded.
 */
import { spawn } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type FixtureRepo,
  type Fleet,
  freePort,
  type GitServer,
  type HubProcess,
  type NatsServer,
  newEncryptionKey,
  startFleet,
  waitsOf,
} from "@flotilla/devfleet";
import {
  DESIRED_BUCKET,
  DESIRED_STATE,
  HEARTBEAT,
  Health,
  heartbeatSubject,
  isHubKeySetKey,
  KeyRing,
  open,
  parseStateKey,
  publicKeyFromPem,
  REPORT,
  type SigningKey,
  STATUS_BUCKET,
  SyncPhase,
  seal,
  signingKeyFromPem,
  stateKey,
} from "@flotilla/proto";
import { connect, type KV, type KvEntry, type NatsConnection, type QueuedIterator } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/** The command npm links at install, as the README's `npx flotilla` runs it. */
const CLI_MAIN = fileURLToPath(new URL("../../../node_modules/.bin/flotilla", import.meta.url));
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

const until = waitsOf(DEADLINE_MS, 100);

function manifest(name: string, value: string): string {
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;
}

/**
 * The agents of some clusters, played over the real protocol: a heartbeat for each every 300 ms,
 * and for every desired state the hub signs for one of them, a signed report of that exact
 * generation and revision, Synced and Healthy.
 */
class PlayedAgents {
  readonly #keys = new Map<string, SigningKey>();
  #beat: NodeJS.Timeout | undefined;
  #iter: QueuedIterator<KvEntry> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly desiredKv: KV,
    private readonly statusKv: KV,
  ) {}

  /** Starts playing the agent of the cluster a saved bootstrap bundle is for. */
  async add(bundleText: string): Promise<void> {
    const bundle = JSON.parse(bundleText) as { cluster: string; agentSigningKey: string; hubPublicKey: string };
    this.#keys.set(bundle.cluster, signingKeyFromPem(bundle.agentSigningKey));
    this.#beat ??= setInterval(() => this.#heartbeats(), 300);
    this.#heartbeats();
    if (!this.#iter) await this.#watch(bundle.hubPublicKey);
  }

  #heartbeats(): void {
    for (const [cluster, key] of this.#keys) {
      this.nc.publish(
        heartbeatSubject(cluster),
        seal(HEARTBEAT, { cluster, agentVersion: "cli-e2e", sentAtMs: Date.now() }, key),
      );
    }
  }

  async #watch(hubPublicKey: string): Promise<void> {
    const ring = new KeyRing([publicKeyFromPem(hubPublicKey)]);
    const iter = await this.desiredKv.watch({ key: ">" });
    this.#iter = iter;
    void (async () => {
      for await (const e of iter) {
        if (e.operation !== "PUT" || isHubKeySetKey(e.key)) continue;
        const { cluster, app } = parseStateKey(e.key);
        const key = this.#keys.get(cluster);
        if (!key) continue;
        const m = open(DESIRED_STATE, e.value, ring).message;
        if (m.remove) continue;
        const report = {
          cluster,
          app,
          observedGeneration: m.generation,
          revision: m.source?.revision ?? "",
          rolloutId: m.rolloutId,
          phase: SyncPhase.SYNC_PHASE_SYNCED,
          health: Health.HEALTH_HEALTHY,
          reportedAtMs: Date.now(),
          agentVersion: "cli-e2e",
        };
        await this.statusKv.put(stateKey(cluster, app), seal(REPORT, report, key));
      }
    })();
  }

  stop(): void {
    clearInterval(this.#beat);
    this.#iter?.stop();
  }
}

describe("flotilla CLI end to end", () => {
  let fleet: Fleet;
  let nats: NatsServer;
  let git: GitServer;
  let repo: FixtureRepo;
  let work: string;
  let hub: HubProcess;
  let hubUrl: string;
  let nc: NatsConnection;
  let agents: PlayedAgents;
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

  const dump = async () => process.stderr.write(`---- flotilla hub ----\n${await hub.process.tail(100)}\n`);

  beforeAll(async () => {
    fleet = await startFleet({
      hubReplicas: 0,
      repos: {
        web: {
          develop: { "deploy/dev/app.yaml": manifest("web", "dev-1") },
          main: { "deploy/prod/app.yaml": manifest("web", "prod-1") },
        },
      },
    });
    ({ nats, git } = fleet);
    repo = fleet.repo("web");
    work = await mkdtemp(join(tmpdir(), "flotilla-cli-e2e-"));
    await mkdir(join(work, "home"));
    // The hub under test is `flotilla hub` itself: flags for addresses, env for secrets.
    hub = await fleet.startHub({
      command: (listen) => ({
        script: CLI_MAIN,
        args: [
          "hub",
          "--listen",
          listen,
          "--redis-url",
          fleet.redis.url,
          "--nats-url",
          nats.url,
          "--poll-interval",
          "1s",
          "--replica-id",
          "cli-e2e",
          "--heartbeat-interval",
          "300ms",
          "--offline-after-missed",
          "10",
        ],
      }),
      env: { FLOTILLA_LOG_LEVEL: "warn" },
    });
    hubUrl = hub.url;
    baseEnv = {
      PATH: process.env.PATH ?? "",
      HOME: join(work, "home"),
      FLOTILLA_HUB: hubUrl,
      FLOTILLA_TOKEN: fleet.token,
    };
    nc = await connect(nats.clientOptions());
    agents = new PlayedAgents(
      nc,
      await nc.jetstream().views.kv(DESIRED_BUCKET),
      await nc.jetstream().views.kv(STATUS_BUCKET),
    );
  });

  afterAll(async () => {
    agents?.stop();
    await nc?.close();
    await fleet?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("flotilla hub serves /healthz; version reports both sides", async () => {
    expect(await hub.process.log()).toContain(`serving ${hubUrl}`);
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
    expect(human.stdout + human.stderr).not.toContain(fleet.token);
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
      expectOneLineError(again, 7, /cluster "prod-eu-1": already registered.*\(POST \/v1\/clusters\)/);
      await expect(stat(join(work, "again.json"))).rejects.toThrow();
      // An existing bundle file is never overwritten, and nothing is registered.
      const clash = await cli(["cluster", "register", "prod-ap-1", "--bootstrap-out", bundlePath]);
      expectOneLineError(clash, 1, /prod-eu-1\.json: already exists/);
      expect((await cli(["cluster", "get", "prod-ap-1"])).code).toBe(5);

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
      expect(yaml.stdout).toBe(
        "apiVersion: flotilla.dev/v1\nkind: Cluster\nmetadata:\n  name: prod-eu-1\nspec:\n  labels:\n    env: prod\n    tier: canary\n",
      );

      const gone = await json(["cluster", "deregister", "dev-1"]);
      expect(gone).toEqual({ name: "dev-1", deregistered: true });
      expectOneLineError(
        await cli(["cluster", "get", "dev-1"]),
        5,
        /^error: cluster "dev-1" does not exist \(GET \/v1\/clusters\/dev-1\): run 'flotilla cluster list' to see registered clusters$/,
      );

      // The saved bundles are all an agent needs: with them, the test's agents make both Ready.
      await agents.add(await readFile(bundlePath, "utf8"));
      await agents.add(await readFile(defaultPath, "utf8"));
      const ready = await until("both prod clusters Ready", async () => {
        const rows = await cli(["cluster", "list"]);
        return /^prod-eu-1 +Ready .* cli-e2e +\d+s ago/m.test(rows.stdout) && /^prod-us-1 +Ready /m.test(rows.stdout)
          ? rows
          : undefined;
      });
      expect(ready.stdout).toMatch(/^prod-us-1 +Ready +env=prod +cli-e2e /m);
      expect((await json(["cluster", "get", "prod-eu-1"])).status).toMatchObject({
        state: "Ready",
        agentVersion: "cli-e2e",
      });
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("env set from flags and from a file, env get|list", async () => {
    // Every flag lands in the policy; the hub stores it with its defaults filled in.
    const staging = await json([
      "env",
      "set",
      "staging",
      "--wave",
      "canary:tier=canary",
      "--bake",
      "canary=2m",
      "--max-concurrency",
      "remaining=50%",
      "--failure-budget",
      "canary=0",
      "--require-approval",
      "remaining",
      "--progress-deadline",
      "5m",
      "--no-auto-rollback",
      "--offline-clusters",
      "skip",
    ]);
    expect(staging).toMatchObject({
      name: "staging",
      policy: {
        waves: [{ name: "canary", selector: "tier=canary", bakeSeconds: 120, failureBudget: 0 }],
        remaining: { maxConcurrency: "50%", requireApproval: true },
        progressDeadlineSeconds: 300,
        autoRollback: false,
        offlineClusters: "skip",
      },
    });
    expect(await json(["env", "get", "staging"])).toEqual(staging);
    const human = await cli(["env", "get", "staging"]);
    expect(human.stdout).toMatch(/^Auto rollback: +no$/m);
    expect(human.stdout).toMatch(/^canary +tier=canary +\S+ +120s +0 +no$/m);
    expect(human.stdout).toMatch(/^remaining +\(clusters no wave selects\) +50% +\S+ +\S+ +yes$/m);

    const policyFile = join(work, "dev-policy.yaml");
    await writeFile(policyFile, "waves:\n  - name: first\n    maxConcurrency: 1\nprogressDeadlineSeconds: 120\n");
    const dev = await json(["env", "set", "dev", "-f", policyFile]);
    expect(dev.policy).toMatchObject({ waves: [{ name: "first", maxConcurrency: 1 }], progressDeadlineSeconds: 120 });
    const fromStdin = await json(["env", "set", "qa", "-f", "-"], {
      stdin: '{"kind":"Environment","spec":{"policy":{"offlineClusters":"skip"}}}',
    });
    expect(fromStdin.policy).toMatchObject({ offlineClusters: "skip" });

    // prod, for the rollouts below: the canary first, then the rest after an approval.
    const prod = await json([
      "env",
      "set",
      "prod",
      "--wave",
      "canary:tier=canary",
      "--bake",
      "canary=1s",
      "--bake",
      "remaining=1s",
      "--require-approval",
      "remaining",
    ]);
    expect(prod.policy).toMatchObject({
      waves: [{ name: "canary" }],
      remaining: { requireApproval: true },
      autoRollback: true,
    });
    expect((await json(["env", "list"])).items.map((e: Json) => e.name).sort()).toEqual([
      "dev",
      "prod",
      "qa",
      "staging",
    ]);

    // The hub's policy schema refuses what the CLI cannot know is wrong, naming the field.
    expectOneLineError(
      await cli(["env", "set", "prod", "--wave", "remaining:tier=x"]),
      1,
      /policy\.waves\.0\.name: .*reserved.*\(PUT \/v1\/environments\/prod\)/,
    );
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

  it("team create|list, repo add|list|get (password from stdin, never shown), app create|list|get|status", async () => {
    try {
      const created = await json([
        "team",
        "create",
        "web",
        "--description",
        "the storefront",
        "--namespace",
        "storefront",
        "--namespace",
        "reports",
        "--repo-url",
        `${git.baseUrl}/*`,
      ]);
      const policy = { namespaces: ["storefront", "reports"], repoUrls: [`${git.baseUrl}/*`] };
      expect(created).toEqual({ name: "web", description: "the storefront", policy });
      expect((await json(["team", "list"])).items).toEqual([{ name: "web", description: "the storefront", policy }]);

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

      // An app outside the team's namespaces is refused, naming the rule.
      const outside = await cli(["app", "create", "elsewhere", "--repo", "web", "-n", "kube-system"]);
      expect(outside.code).toBe(1);
      expect(outside.stderr).toMatch(
        /namespace kube-system is not allowed by team web's policy\.namespaces \(storefront, reports\)/,
      );
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
        source: "auto",
        namespace: "storefront",
        prune: true,
      });
      expect((await json(["app", "list"])).items.map((a: Json) => a.name)).toEqual(["storefront"]);
      expect(await json(["app", "get", "storefront"])).toMatchObject({ name: "storefront", repo: "web" });

      // The hub tracks the repo with the stored credentials: prod's head becomes a rollout, and
      // its canary wave reaches prod-eu-1 first.
      const prodHead = await repo.head("main");
      const status = await until("the canary to run the prod head", async () => {
        const s = await json(["app", "status", "storefront"]);
        const canary = s.clusters.find((c: Json) => c.cluster === "prod-eu-1");
        return canary?.current && canary.desired.revision === prodHead ? s : undefined;
      });
      expect(status.rollouts.find((r: Json) => r.environment === "prod")).toMatchObject({
        to: { revision: prodHead },
        state: "Progressing",
      });
      const human = await cli(["app", "get", "storefront"]);
      expect(human.stdout).toMatch(/^Namespace: +storefront$/m);
      expect(human.stdout).toMatch(
        new RegExp(`^prod-eu-1 +prod +${prodHead.slice(0, 7)} \\(gen \\d+\\) +${prodHead.slice(0, 7)} `, "m"),
      );
      expect(human.stdout).toMatch(new RegExp(`^prod +\\S+ +\\(first\\) → ${prodHead.slice(0, 7)} `, "m"));

      // A reference to a repo that does not exist points at the repo list.
      const dangling = await cli(["app", "create", "api", "--repo", "nope", "-n", "api"]);
      expect(dangling.code).toBe(1);
      expect(dangling.stderr).toMatch(/repo "nope"/);
      expect(dangling.stderr.trim().split("\n")).toHaveLength(1);
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("token create|list|revoke and audit: a member token works on its team and is refused the rest", async () => {
    const created = await cli([
      "token",
      "create",
      "--role",
      "member",
      "--team",
      "web",
      "--expires",
      "30d",
      "-d",
      "web CI",
    ]);
    expect(created.code, created.stderr).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^flt_[0-9a-f]{16}_\S{43}$/);
    expect(created.stderr).toMatch(/^token [0-9a-f]{16} minted: it is shown only now/);
    const id = token.slice(4, 20);
    const list = await json(["token", "list"]);
    const listed = list.items.find((t: Json) => t.id === id);
    expect(listed).toMatchObject({ role: "member", team: "web", description: "web CI", createdBy: "bootstrap" });
    expect(listed.expiresAtMs - Date.now()).toBeGreaterThan(29 * 86_400_000);
    expect(JSON.stringify(list)).not.toContain(token.slice(21));

    const asMember = { FLOTILLA_TOKEN: token };
    const apps = await cli(["app", "list", "-o", "json"], { env: asMember });
    expect(apps.code, apps.stderr).toBe(0);
    expect(JSON.parse(apps.stdout).items.map((a: Json) => a.name)).toContain("storefront");
    expectOneLineError(
      await cli(["cluster", "register", "intruder", "-l", "env=prod", "--bootstrap-out", "-"], { env: asMember }),
      6,
      new RegExp(
        `member token ${id} of team "web" may not change clusters: that needs an admin token \\(POST /v1/clusters\\)`,
      ),
    );
    expectOneLineError(
      await cli(["token", "create", "--role", "admin"], { env: asMember }),
      6,
      /may not change tokens/,
    );

    const minted = await json(["audit", "--kind", "Token", "--object", id]);
    expect(minted.items[0]).toMatchObject({ action: "createToken", kind: "Token", object: id, team: "web" });
    const refused = await json(["audit", "--team", "web", "--since", "1h"]);
    expect(refused.items.some((e: Json) => e.status === 403 && e.actor.tokenId === id)).toBe(true);
    const table = await cli(["audit", "--object", id]);
    expect(table.stdout).toMatch(/createToken/);

    expect((await cli(["token", "revoke", id])).code).toBe(0);
    expectOneLineError(await cli(["app", "list"], { env: asMember }), 6, new RegExp(`unknown or revoked token ${id}`));
  });

  it("rollout plan|list|get|watch|promote: the first deploy goes canary, waits for approval, then succeeds", async () => {
    try {
      const plan = await json(["rollout", "plan", "prod", "--app", "storefront"]);
      expect(plan.waves.map((w: Json) => [w.name, w.clusters, w.requireApproval])).toEqual([
        ["canary", ["prod-eu-1"], false],
        ["remaining", ["prod-us-1"], true],
      ]);
      const planTable = await cli(["rollout", "plan", "prod", "--app", "storefront"]);
      expect(planTable.stdout).toMatch(/^remaining \(implicit\) +prod-us-1 +- +1 +1s +0 +required$/m);

      const prodHead = await repo.head("main");
      const list = await json(["rollout", "list", "--app", "storefront", "--env", "prod"]);
      const first = list.items.find((r: Json) => r.to.revision === prodHead);
      expect(first).toMatchObject({ app: "storefront", environment: "prod", changed: ["revision", "settings"] });

      // watch runs until the end; meanwhile the canary bakes and the last wave awaits approval.
      const watching = cli(["rollout", "watch", first.id, "--interval", "200ms"]);
      const waiting = await until("the last wave to await approval", async () => {
        const r = await json(["rollout", "get", first.id]);
        return r.waves[1]?.status === "awaiting-approval" ? r : undefined;
      });
      expect(waiting.waves[0]).toMatchObject({ name: "canary", status: "succeeded" });
      expect(waiting.waves[1].clusters).toEqual([expect.objectContaining({ name: "prod-us-1", state: "pending" })]);
      const shown = await cli(["rollout", "get", first.id]);
      expect(shown.stdout).toMatch(
        new RegExp(
          `^State: +Progressing — wave 2/2 remaining: awaiting approval: flotilla rollout promote ${first.id}$`,
          "m",
        ),
      );
      expect(shown.stdout).toMatch(/^prod-eu-1 +canary +healthy +\d+ /m);
      const listed = await cli(["rollout", "list"]);
      expect(listed.stdout).toMatch(
        new RegExp(
          `^${first.id} +storefront +prod +revision\\+settings +\\(first\\) → ${prodHead.slice(0, 7)} +Progressing +remaining \\(2/2\\) +2 `,
          "m",
        ),
      );

      const promoted = await json(["rollout", "promote", first.id]);
      expect(promoted.waves[1].approvedAtMs).toEqual(expect.any(Number));
      const watched = await watching;
      expect(watched.code, watched.stderr).toBe(0);
      const events = watched.stdout
        .trim()
        .split("\n")
        .map((l) => l.replace(/^\S+ /, ""));
      expect(events[0]).toBe(
        `rollout ${first.id}: app storefront in prod, revision+settings changed: (first deploy) → ${prodHead.slice(0, 7)}, waves canary(1) → remaining(1)`,
      );
      expect(events).toEqual(
        expect.arrayContaining([
          "cluster prod-eu-1 healthy (wave canary)",
          "wave canary succeeded",
          "wave remaining awaiting-approval",
          "cluster prod-us-1 healthy (wave remaining)",
        ]),
      );
      expect(events.indexOf("wave canary succeeded")).toBeLessThan(
        events.indexOf("cluster prod-us-1 healthy (wave remaining)"),
      );
      expect(events.at(-1)).toMatch(new RegExp(`^rollout ${first.id} Succeeded`));
      expect((await json(["rollout", "get", first.id])).state).toBe("Succeeded");

      // A command the rollout's state refuses: 409 in one line.
      expectOneLineError(
        await cli(["rollout", "promote", first.id]),
        7,
        new RegExp(
          `cannot promote rollout "${first.id}": it already ended Succeeded.*\\(POST /v1/rollouts/${first.id}/promote\\)`,
        ),
      );
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("rollout pause|resume|rollback|abort, and watch exits 3 when rolled back or failed, 4 when superseded", async () => {
    try {
      const lastGood = await repo.head("main");
      const newRollout = async (version: string) => {
        const sha = await repo.commit("main", { "deploy/prod/app.yaml": manifest("web", version) });
        return until(`a rollout of ${version}`, async () => {
          const l = await json(["rollout", "list", "--app", "storefront", "--env", "prod"]);
          return l.items.find((r: Json) => r.to.revision === sha);
        });
      };

      // Paused: no new waves until resume. Then rolled back by hand while awaiting approval.
      const second = await newRollout("prod-2");
      expect(second.from.revision).toBe(lastGood);
      expect((await json(["rollout", "pause", second.id])).state).toBe("Paused");
      expect((await json(["rollout", "list", "--state", "Paused"])).items.map((r: Json) => r.id)).toEqual([second.id]);
      const paused = await cli(["rollout", "get", second.id]);
      expect(paused.stdout).toMatch(new RegExp(`^Paused: +\\d+s ago: flotilla rollout resume ${second.id}$`, "m"));
      expect((await json(["rollout", "resume", second.id])).state).not.toBe("Paused");
      await until("the second rollout to await approval", async () =>
        (await json(["rollout", "get", second.id])).waves[1]?.status === "awaiting-approval" ? true : undefined,
      );
      const watchSecond = cli(["rollout", "watch", second.id, "--interval", "200ms", "-o", "json"]);
      const rolledBack = await json(["rollout", "rollback", second.id]);
      expect(rolledBack.state).toBe("RolledBack");
      const w2 = await watchSecond;
      expect(w2.code).toBe(3);
      expect(JSON.parse(w2.stdout.trim().split("\n").at(-1) ?? "{}").state).toBe("RolledBack");
      expect(w2.stderr).toMatch(new RegExp(`^error: rollout ${second.id} ended RolledBack: rollback requested`));
      // The canary got the last good revision back.
      const back = await until("the canary rolled back", async () => {
        const r = await json(["rollout", "get", second.id]);
        return r.waves[0].clusters[0].state === "rolled-back" ? r : undefined;
      });
      const canaryNow = (await json(["cluster", "get", "prod-eu-1"])).apps.find((a: Json) => a.app === "storefront");
      expect(canaryNow.desired.revision).toBe(lastGood);
      expect(back.waves[1].clusters[0].state).toBe("pending");

      // A newer commit supersedes the rollout in flight: watch exits 4.
      const third = await newRollout("prod-3");
      const watchThird = cli(["rollout", "watch", third.id, "--interval", "200ms"]);
      const fourth = await newRollout("prod-4");
      const w3 = await watchThird;
      expect(w3.code, w3.stderr).toBe(4);
      expect(w3.stderr).toMatch(new RegExp(`ended Superseded: rollout ${fourth.id} of a newer commit replaced it`));

      // Aborted: Failed, exit 3.
      expect((await json(["rollout", "abort", fourth.id])).state).toBe("Failed");
      const w4 = await cli(["rollout", "watch", fourth.id]);
      expect(w4.code).toBe(3);
      expect(w4.stdout).toMatch(new RegExp(`rollout ${fourth.id} Failed: aborted`));
      expect(w4.stderr).toMatch(new RegExp(`^error: rollout ${fourth.id} ended Failed: aborted[^\n]*\n$`));
      expectOneLineError(
        await cli(["rollout", "get", "no-such-rollout"]),
        5,
        /rollout "no-such-rollout" does not exist .*run 'flotilla rollout list'/,
      );
      expectOneLineError(await cli(["rollout", "list", "--state", "Done"]), 1, /--state "Done" is not a rollout state/);
    } catch (err) {
      await dump();
      throw err;
    }
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

  it("get -o yaml emits the documents apply reads: piped back to apply they change nothing", async () => {
    const env = (await json(["env", "list"])).items[0].name as string;
    const objects = [
      ["cluster", "prod-eu-1"],
      ["team", "web"],
      ["repo", "web"],
      ["app", "storefront"],
      ["env", env],
    ] as const;
    const docs: string[] = [];
    for (const [noun, name] of objects) {
      const r = await cli([noun, "get", name, "-o", "yaml"]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^apiVersion: flotilla\.dev\/v1$/m);
      expect(r.stdout).toMatch(new RegExp(`^metadata:\n  name: ${name}\nspec:$`, "m"));
      docs.push(r.stdout);
    }
    // The repo's credentials and webhook secret are write-only: not in its document, yet kept.
    expect(docs[2]).not.toContain(git.password);
    expect(docs[2]).not.toContain("hasCredentials");
    const unchanged = await cli(["apply", "-f", "-"], { stdin: docs.join("---\n") });
    expect(unchanged.code, unchanged.stderr).toBe(0);
    expect(unchanged.stdout.trim().split("\n")).toEqual(
      objects.map(([noun, name]) => `${noun === "env" ? "environment" : noun}/${name} unchanged`),
    );
    expect(await json(["repo", "get", "web"])).toMatchObject({ hasCredentials: true, hasWebhookSecret: true });

    // Through a real shell pipe, as an operator types it.
    const piped = await new Promise<Run>((resolve, reject) => {
      const sh = `"${process.execPath}" "${CLI_MAIN}" app get storefront -o yaml | "${process.execPath}" "${CLI_MAIN}" apply -f -`;
      const child = spawn("sh", ["-c", sh], { env: baseEnv, cwd: work });
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
    });
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout).toBe("app/storefront unchanged\n");

    // An edited document is applied: the round trip is not trivially "unchanged".
    const edited = docs[3]?.replace(/^ {2}selfHeal: false$/m, "  selfHeal: true") ?? "";
    expect(edited).not.toBe(docs[3]);
    const configured = await cli(["apply", "-f", "-"], { stdin: edited });
    expect(configured.stdout, configured.stderr).toBe("app/storefront configured\n");
    expect((await json(["app", "get", "storefront"])).selfHeal).toBe(true);
    const back = await cli(["apply", "-f", "-"], { stdin: docs[3] });
    expect(back.stdout, back.stderr).toBe("app/storefront configured\n");
  });

  it("status summarizes clusters, apps and rollouts", async () => {
    const s = await json(["status"]);
    expect(s.fleet.clusters).toMatchObject({ total: 3, Ready: 2, Pending: 1 });
    expect(Object.keys(s.fleet.environments).sort()).toEqual(["dev", "prod"]);
    expect(s.apps).toBe(2);
    // The applied app "reports" is rolling out to prod (and to dev, whose only cluster has no agent).
    const inFlight = await until("the rollouts of the applied app", async () => {
      const v = await json(["status"]);
      return v.rollouts.some((r: Json) => r.app === "reports") ? v.rollouts : undefined;
    });
    for (const r of inFlight) expect(["Pending", "Progressing", "Paused"]).toContain(r.state);
    const human = await cli(["status"]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^Clusters: +3 \(Ready 2, Offline 0, Pending 1\)$/m);
    expect(human.stdout).toMatch(/^Apps: +2$/m);
    expect(human.stdout).toMatch(/^prod +2 +2 +0 +0 /m);
    expect(human.stdout).toMatch(/^dev +1 +0 +0 +1 /m);
    expect(human.stdout).toMatch(/^Rollouts in flight:$/m);
    expect(human.stdout).toMatch(/^\S+ +reports +prod +revision\+settings +\(first\) → /m);
  });

  it("bad input: unknown cluster, malformed or unknown-kind apply files, bad names, usage errors", async () => {
    expectOneLineError(
      await cli(["cluster", "get", "nope"]),
      5,
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
      /kind\.yaml: document 2 \(Gadget "g"\): kind: must be one of Cluster, Team, Repo, App, Environment, Receiver \(POST \/v1\/apply\)/,
    );
    // Nothing of the refused file was applied.
    expect((await cli(["team", "list", "-o", "json"])).stdout).not.toContain('"ok"');
    expectOneLineError(await cli(["apply", "-f", join(work, "missing.yaml")]), 1, /missing\.yaml: no such file/);
  });

  it("wrong or missing token names where it came from; an unreachable hub exits 2", async () => {
    expectOneLineError(
      await cli(["cluster", "list"], { env: { FLOTILLA_TOKEN: "wrong-token-0123456789" } }),
      6,
      /the hub refused the token from FLOTILLA_TOKEN \(GET \/v1\/clusters\)/,
    );
    const fromFlag = await cli(["cluster", "list", "--token", "another-wrong-token-0123"]);
    expectOneLineError(fromFlag, 6, /the hub refused the token from --token/);
    expect(fromFlag.stderr).not.toContain("another-wrong-token");
    expectOneLineError(
      await cli(["status"], { env: { FLOTILLA_TOKEN: undefined } }),
      6,
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
    await writeFile(config, `hub: ${hubUrl}\ntoken: wrong-token-in-the-file-0123\n`, { mode: 0o600 });
    const fileOnly = { FLOTILLA_CONFIG: config, FLOTILLA_HUB: undefined, FLOTILLA_TOKEN: undefined };
    expectOneLineError(
      await cli(["cluster", "list"], { env: fileOnly }),
      6,
      new RegExp(`the hub refused the token from config file ${config.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`),
    );
    // The environment's token beats the file's.
    expect((await cli(["cluster", "list"], { env: { ...fileOnly, FLOTILLA_TOKEN: fleet.token } })).code).toBe(0);
    // The flag beats both.
    const flagged = await cli(["team", "list", "-o", "json", "--token", fleet.token], { env: fileOnly });
    expect(flagged.code, flagged.stderr).toBe(0);
    expect(JSON.parse(flagged.stdout).items.length).toBeGreaterThan(0);

    // A config file found in the default place (under HOME) works too.
    const home = join(work, "home-with-config");
    await mkdir(join(home, ".config", "flotilla"), { recursive: true });
    await writeFile(
      join(home, ".config", "flotilla", "config.yaml"),
      `hub: ${hubUrl}\ntoken: ${fleet.token}\noutput: json\n`,
    );
    await chmod(join(home, ".config", "flotilla", "config.yaml"), 0o644);
    const viaHome = await cli(["team", "list"], {
      env: { HOME: home, FLOTILLA_HUB: undefined, FLOTILLA_TOKEN: undefined },
    });
    expect(viaHome.code, viaHome.stderr).toBe(0);
    // It holds a token others can read: the CLI says so.
    expect(viaHome.stderr).toMatch(
      /^warning: .*config\.yaml holds a token and is readable by others \(mode 0644\); run: chmod 600 /,
    );
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

  it("login keeps a checked token as a 0600 context; context add|list|use and --context pick the hub", async () => {
    const config = join(work, "contexts", "config.yaml");
    const env = { FLOTILLA_CONFIG: config, FLOTILLA_HUB: undefined, FLOTILLA_TOKEN: undefined };
    // A token the hub refuses is not saved.
    const refused = await cli(["login", "--hub", hubUrl, "--context", "local"], {
      env,
      stdin: "wrong-token-0123456789\n",
    });
    expect(refused.code, refused.stderr).toBe(6);
    await expect(stat(config)).rejects.toThrow(/ENOENT/);

    const login = await cli(["login", "--hub", hubUrl, "--context", "local"], { env, stdin: `${fleet.token}\n` });
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toMatch(/^logged in to http:\/\/127\.0\.0\.1:\d+ as admin .*; context local is current/);
    expect(login.stdout + login.stderr).not.toContain(fleet.token);
    expect((await stat(config)).mode & 0o777).toBe(0o600);
    expect((await cli(["team", "list"], { env })).code).toBe(0);

    // A second hub that is down: made current, commands go there; --context or FLOTILLA_CONTEXT go back.
    const dead = `http://127.0.0.1:${await freePort()}`;
    const added = await cli(["context", "add", "elsewhere", "--hub", dead, "--token-stdin", "--use"], {
      env,
      stdin: "another-token-0123456789",
    });
    expect(added.code, added.stderr).toBe(0);
    expect((await json(["context", "list"], { env })).items).toEqual([
      { name: "elsewhere", hub: dead, hasToken: true, current: true },
      { name: "local", hub: hubUrl, hasToken: true, current: false },
    ]);
    expectOneLineError(
      await cli(["team", "list"], { env }),
      2,
      /cannot reach the hub at .* address from config file .*config\.yaml \(context elsewhere\)\)/,
    );
    expect((await cli(["team", "list", "--context", "local"], { env })).code).toBe(0);
    expect((await cli(["team", "list"], { env: { ...env, FLOTILLA_CONTEXT: "local" } })).code).toBe(0);
    expectOneLineError(await cli(["team", "list", "--context", "nope"], { env }), 1, /has no context "nope"/);
    expect((await cli(["context", "use", "local"], { env })).code).toBe(0);
    const table = await cli(["context", "list"], { env });
    expect(table.stdout).toMatch(/^\* +local +http:\/\/127\.0\.0\.1:\d+ +set$/m);
    expect(table.stdout).not.toContain(fleet.token);
    expect((await stat(config)).mode & 0o777).toBe(0o600);
  });

  it("-o wide adds columns; --watch prints the view again when it changes, until stopped", async () => {
    const wide = await cli(["cluster", "list", "-o", "wide"]);
    expect(wide.code, wide.stderr).toBe(0);
    expect(wide.stdout.split("\n")[0]).toMatch(/^NAME +STATE +LABELS +AGENT +HEARTBEAT +AGE +AGENT KEY +CREATED$/);
    expect(wide.stdout).toMatch(/^prod-eu-1 +Ready .* \d{4}-\d\d-\d\dT[\d:.]+Z$/m);
    const apps = await cli(["app", "list", "-o", "wide"]);
    expect(apps.stdout.split("\n")[0]).toMatch(/ PRUNE +SELF-HEAL +ADOPT +DEPENDS ON +OVERRIDES$/);

    /** Runs a watching command until it printed `lines` lines, then stops it as Ctrl-C would. */
    const watch = (args: string[], lines: number) =>
      new Promise<string[]>((resolve, reject) => {
        const child = spawn(process.execPath, [CLI_MAIN, ...args], { env: baseEnv, cwd: work });
        let out = "";
        let err = "";
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.split("\n").length > lines) child.kill("SIGINT");
        });
        child.stderr.on("data", (d: Buffer) => {
          err += d.toString();
        });
        child.once("error", reject);
        child.once("close", () =>
          out.split("\n").length > lines ? resolve(out.split("\n").slice(0, lines)) : reject(new Error(err)),
        );
      });
    // The played agents beat every 300 ms, so each read of the cluster list differs from the last.
    const frames = await watch(["cluster", "list", "--watch", "--interval", "300ms", "-o", "json"], 2);
    const [a, b] = frames.map((l) => JSON.parse(l) as Json);
    expect(a.items.map((c: Json) => c.name)).toEqual(b.items.map((c: Json) => c.name));
    expect(JSON.stringify(a)).not.toBe(JSON.stringify(b));
    const status = await watch(["status", "--watch", "--interval", "300ms"], 2);
    expect(status[0]).toMatch(/^--- \d{4}-\d\d-\d\dT\S+Z$/);
    expect(status[1]).toMatch(/^Clusters: +\d+ \(Ready \d+/);
    const app = await watch(["app", "status", "storefront", "--watch", "-o", "json"], 1);
    expect(JSON.parse(app[0] ?? "{}").app).toBe("storefront");
  });

  it("flotilla hub refuses a bad configuration in one line, and stops cleanly on SIGTERM", async () => {
    const noToken = await new Promise<Run>((resolve) => {
      const child = spawn(process.execPath, [CLI_MAIN, "hub", "--listen", "127.0.0.1:0"], {
        env: {
          PATH: process.env.PATH ?? "",
          HOME: join(work, "home"),
          FLOTILLA_HUB_ENCRYPTION_KEY: newEncryptionKey(),
        },
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

    hub.process.signal("SIGTERM");
    expect((await hub.process.exited).code).toBe(0);
    expect(await hub.process.log()).toContain("stopping");
  });
});
