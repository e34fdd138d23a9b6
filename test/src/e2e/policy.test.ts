/**
 * What a team's apps may touch, end to end: a fleet of the real hub, nats-server, redis-server and
 * Git smart-HTTP server, and two real agents on two Kubernetes fixture clusters of environment
 * `prod`: `canary` (tier=canary) in the first wave, `main` in the second. Build first
 * (`npm run build`).
 *
 * Teams `b` and `d` have no policy of their own, so the hub sends their apps the default: the
 * team's own name space (`b`, `b-*`) and no cluster-scoped kind. Team `a` may use namespace
 * `team-a` only; team `c` may use `team-a` too, which its policy allows but ownership does not:
 * app `a` owns Namespace `team-a` and what is in it. Every bad
 * revision below must fail at the canary with nothing applied, and never reach `main`.
 *
 * The Git server listens on 127.0.0.2 and is the only loopback address the hub and agents are
 * allowed to reach, so the loopback listener on 127.0.0.1 stands for an internal service that a
 * repository must not be able to read (it records every request it gets).
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { type FixtureRepo, type Fleet, startFleet, waitsOf } from "@flotilla/devfleet";
import {
  DESIRED_BUCKET,
  DESIRED_STATE,
  ErrorCode,
  isHubKeySetKey,
  KeyRing,
  open,
  publicKeyFromPem,
  type Report,
  STATUS_BUCKET,
  SyncPhase,
  v1,
} from "@flotilla/proto";
import { AppsV1Api, CoreV1Api, RbacAuthorizationV1Api } from "@kubernetes/client-node";
import { connect, type KvEntry, type NatsConnection, type QueuedIterator } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const GIT_HOST = "127.0.0.2";
const CLUSTERS = [
  { name: "canary", labels: { env: "prod", tier: "canary" } },
  { name: "main", labels: { env: "prod" } },
] as const;
/** The agent's own namespace and the Secret the agent chart keeps its bootstrap bundle in. */
const AGENT_NS = "flotilla-system";
const BOOTSTRAP_SECRET = "flotilla-agent-bootstrap";

type Json = ReturnType<typeof JSON.parse>;
const until = waitsOf(120_000, 100);

/** An HTTP server on `host` that records every request and answers with `answer`. */
async function listen(
  host: string,
  answer: (url: string) => { status: number; headers?: Record<string, string>; body?: string },
): Promise<{ server: Server; url: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const a = answer(req.url ?? "/");
    res.writeHead(a.status, a.headers).end(a.body ?? "");
  });
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  return { server, url: `http://${host}:${(server.address() as AddressInfo).port}`, requests };
}

const configMap = (name: string, data: Record<string, string>, namespace?: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n${namespace ? `  namespace: ${namespace}\n` : ""}data:\n${Object.entries(
    data,
  )
    .map(([k, v]) => `  ${k}: "${v}"`)
    .join("\n")}\n`;

const deployment = (name: string, image: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: 1
  selector:
    matchLabels: { app: ${name} }
  template:
    metadata:
      labels: { app: ${name} }
    spec:
      containers:
        - name: main
          image: ${image}
`;

/** Team b's revision that tries to take the cluster over. */
const TAKEOVER = `apiVersion: v1
kind: Namespace
metadata:
  name: team-a
  labels: { team: b }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: b-is-admin
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin }
subjects:
  - { kind: ServiceAccount, name: default, namespace: b }
---
apiVersion: v1
kind: Secret
metadata:
  name: ${BOOTSTRAP_SECRET}
  namespace: ${AGENT_NS}
stringData:
  bootstrap.json: "{}"
---
${configMap("b-was-here", { owner: "b" }, "kube-system")}`;

/**
 * Commits `files` on top of `branch` and puts `bomb/deep` in it, a directory whose every level
 * names the level below ten times: 10^8 paths from ten Git objects. Built with plumbing, since a
 * checkout of it would write those paths; the work tree is left behind the branch, so commit
 * nothing more to `repo` afterwards.
 */
function pushTreeBomb(repo: FixtureRepo, branch: string, files: Record<string, string>): string {
  const git = (args: string[], input?: string) =>
    execFileSync("git", args, { cwd: repo.workTree, input, encoding: "utf8" }).trim();
  for (const [path, content] of Object.entries(files)) {
    writeFileSync(join(repo.workTree, path), content);
    git(["add", path]);
  }
  const base = git(["write-tree"]);
  const blob = git(["hash-object", "-w", "--stdin"], configMap("leaf", { k: "v" }));
  let deep = git(["mktree"], `100644 blob ${blob}\tleaf.yaml\n`);
  for (let level = 0; level < 8; level++) {
    deep = git(["mktree"], Array.from({ length: 10 }, (_, i) => `040000 tree ${deep}\td${i}\n`).join(""));
  }
  const bomb = git(["mktree"], `${git(["ls-tree", `${base}:bomb`])}\n040000 tree ${deep}\tdeep\n`);
  const others = git(["ls-tree", base])
    .split("\n")
    .filter((l) => !l.endsWith("\tbomb"));
  const root = git(["mktree"], `${[...others, `040000 tree ${bomb}\tbomb`].join("\n")}\n`);
  const author = ["-c", "user.name=Flotilla Test", "-c", "user.email=test@flotilla.invalid"];
  const commit = git([...author, "commit-tree", root, "-p", "HEAD", "-m", "bomb"]);
  git(["push", "--quiet", "origin", `${commit}:refs/heads/${branch}`]);
  return commit;
}

describe("team policy, ownership and hermetic rendering through a real hub and agents", () => {
  let fleet: Fleet;
  let nc: NatsConnection;
  const watches: QueuedIterator<KvEntry>[] = [];
  /** Every desired state the hub wrote: `<cluster>.<app>` and revision. */
  const written: { key: string; revision: string }[] = [];
  /** Every report the agents sent, in order. */
  const reports: Report[] = [];
  /** Stands for an internal service: nothing may ever reach it. */
  let internal: Awaited<ReturnType<typeof listen>>;
  /** A Git host that answers every request with a redirect to the internal service. */
  let redirector: Awaited<ReturnType<typeof listen>>;

  const dump = async () => process.stderr.write(await fleet.logTails(100));
  const api = (method: string, path: string, body?: unknown) => fleet.hub.api.request<Json>(method, path, body);
  const repo = (name: string) => fleet.repo(name);
  const k8s = (cluster: string) => fleet.cluster(cluster).kube.kubeConfig();
  const core = (cluster: string) => k8s(cluster).makeApiClient(CoreV1Api);

  /** The newest rollout of `app` to `revision` once `test` holds. */
  async function rollout(app: string, revision: string, what: string, test: (r: Json) => boolean): Promise<Json> {
    return until(`${app}'s rollout to ${revision.slice(0, 7)}: ${what}`, async () => {
      const list = (await api("GET", `/v1/rollouts?app=${app}&environment=prod`)).json;
      const summary = list.items?.find((r: Json) => r.to?.revision === revision);
      if (!summary) return undefined;
      const r = (await api("GET", `/v1/rollouts/${summary.id}`)).json;
      return test(r) ? r : undefined;
    });
  }

  /** The canary's failed report of `app` at `revision`. */
  const failedReport = (app: string, revision: string) =>
    until(`canary's failed report of ${app}`, () =>
      reports.find(
        (r) =>
          r.cluster === "canary" && r.app === app && r.revision === revision && r.phase === SyncPhase.SYNC_PHASE_FAILED,
      ),
    );

  /** Fails a bad revision at the canary: the rollout failed in its first wave and `main` never got it. */
  async function expectStoppedAtCanary(app: string, revision: string): Promise<Json> {
    const r = await rollout(app, revision, "failed", (x) => x.state === "Failed" && x.settled);
    expect(r.failure.wave).toBe("canary");
    expect(r.failure.reason).toMatch(/canary: apply failed/);
    expect(written.filter((w) => w.key === `main.${app}` && w.revision === revision)).toEqual([]);
    return r;
  }

  const uids = async (cluster: string) => {
    const c = core(cluster);
    const apps = k8s(cluster).makeApiClient(AppsV1Api);
    const ns = await c.readNamespace({ name: "team-a" });
    const cm = await c.readNamespacedConfigMap({ name: "a-config", namespace: "team-a" });
    const web = await apps.readNamespacedDeployment({ name: "a-web", namespace: "team-a" });
    const secret = await c.readNamespacedSecret({ name: BOOTSTRAP_SECRET, namespace: AGENT_NS });
    return {
      namespace: [ns.metadata?.uid, ns.metadata?.labels?.["flotilla.dev/app"], ns.metadata?.labels?.team],
      config: [cm.metadata?.uid, cm.metadata?.resourceVersion],
      web: [web.metadata?.uid, web.metadata?.resourceVersion, web.metadata?.labels?.["flotilla.dev/app"]],
      secret: [secret.metadata?.uid, secret.metadata?.resourceVersion],
    };
  };

  beforeAll(async () => {
    internal = await listen("127.0.0.1", () => ({ status: 200, body: "internal-secret-value" }));
    redirector = await listen(GIT_HOST, (url) => ({ status: 302, headers: { location: `${internal.url}${url}` } }));
    fleet = await startFleet({
      gitHost: GIT_HOST,
      repos: {
        a: {
          main: {
            "app-a/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n",
            "app-a/config.yaml": configMap("a-config", { owner: "a" }),
            "app-a/web.yaml": deployment("a-web", "registry.invalid/a:1"),
          },
        },
        b: { main: { "app-b/config.yaml": configMap("b-config", { v: "1" }) } },
        c: {
          main: {
            "steal/web.yaml": deployment("a-web", "registry.invalid/c:1"),
            "remote-base/kustomization.yaml":
              "resources:\n  - https://github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v5.0.0\n",
            "generator/kustomization.yaml": `configMapGenerator:\n  - name: leak\n    files:\n      - ${internal.url}/token\n`,
          },
        },
        bombs: {
          main: {
            "calm/kustomization.yaml": "resources:\n  - config.yaml\n",
            "calm/config.yaml": configMap("calm", { v: "1" }),
            "bomb/config.yaml": configMap("bomb", { v: "1" }),
          },
        },
      },
      clusters: CLUSTERS,
      hubEnv: { FLOTILLA_HUB_POLL_INTERVAL: "1s", FLOTILLA_HEARTBEAT_INTERVAL: "1s" },
      agentEnv: { FLOTILLA_HEARTBEAT_INTERVAL: "1", FLOTILLA_HEALTH_POLL: "1", FLOTILLA_HEALTH_IDLE_POLL: "5" },
    });
    try {
      const ring = new KeyRing([publicKeyFromPem((await api("GET", "/v1/hub")).json.hubPublicKey)]);
      nc = await connect(fleet.nats.clientOptions());
      const desiredWatch = await (await nc.jetstream().views.kv(DESIRED_BUCKET)).watch({ key: ">" });
      const statusWatch = await (await nc.jetstream().views.kv(STATUS_BUCKET)).watch({ key: ">" });
      watches.push(desiredWatch, statusWatch);
      void (async () => {
        for await (const e of desiredWatch) {
          if (e.operation === "PUT" && !isHubKeySetKey(e.key)) {
            written.push({ key: e.key, revision: open(DESIRED_STATE, e.value, ring).message.source?.revision ?? "" });
          }
        }
      })();
      void (async () => {
        // The hub verifies reports; here only their content matters.
        for await (const e of statusWatch) {
          if (e.operation === "PUT" && e.value.length > 0) {
            reports.push(v1.Report.decode(v1.Envelope.decode(e.value).payload));
          }
        }
      })();

      const policy = {
        waves: [
          { name: "canary", selector: { tier: "canary" }, bakeSeconds: 1 },
          { name: "main", selector: {}, bakeSeconds: 1 },
        ],
        progressDeadlineSeconds: 90,
        autoRollback: false,
      };
      expect((await api("PUT", "/v1/environments/prod", { policy })).status).toBe(201);
      for (const c of CLUSTERS) {
        // What the agent chart installs: the bootstrap bundle as a Secret in the agent's namespace.
        const cc = core(c.name);
        await cc.createNamespace({ body: { metadata: { name: AGENT_NS } } }).catch(() => undefined);
        await cc.createNamespacedSecret({
          namespace: AGENT_NS,
          body: {
            metadata: { name: BOOTSTRAP_SECRET },
            stringData: { "bootstrap.json": JSON.stringify(fleet.cluster(c.name).bundle) },
          },
        });
      }
      await register("a", "a", [{ name: "a", path: "app-a", namespace: "team-a", prune: true }]);
      await register("b", "b", [{ name: "b", path: "app-b", namespace: "b", prune: true }]);
      await register("d", "bombs", [
        { name: "calm", path: "calm", source: "kustomize", namespace: "d" },
        { name: "bomb", path: "bomb", namespace: "d" },
      ]);
      for (const [app, name] of [
        ["a", "a"],
        ["b", "b"],
        ["calm", "bombs"],
        ["bomb", "bombs"],
      ] as const) {
        await rollout(app, await repo(name).head("main"), "Succeeded", (r) => r.state === "Succeeded");
      }
    } catch (err) {
      await dump();
      throw err;
    }
  }, 300_000);

  afterAll(async () => {
    for (const w of watches) w.stop();
    await nc?.close();
    await fleet?.stop();
    internal?.server.close();
    redirector?.server.close();
  });

  /** The teams' policies; a team not here has none (the default). */
  const POLICIES: Record<string, Json> = { a: { namespaces: ["team-a"] }, c: { namespaces: ["c", "team-a"] } };

  /** Registers `team` (once), its repo `name` on the fleet's Git server, and `apps` of it. */
  async function register(team: string, name: string, apps: Json[]): Promise<void> {
    if ((await api("GET", `/v1/teams/${team}`)).status === 404) {
      const policy = POLICIES[team];
      expect((await api("POST", "/v1/teams", { name: team, ...(policy ? { policy } : {}) })).status).toBe(201);
    }
    const r = await api("POST", "/v1/repos", {
      name,
      team,
      url: repo(name).url,
      branches: { prod: "main" },
      pollIntervalSeconds: 0.5,
      credentials: { username: fleet.git.username, password: fleet.git.password },
    });
    expect(r.status, r.text).toBe(201);
    for (const app of apps) expect((await api("POST", "/v1/apps", { repo: name, ...app })).status).toBe(201);
  }

  it("refuses a revision that takes over another team's namespace, cluster-admin and the agent's Secret, applying nothing", async () => {
    try {
      const before = { canary: await uids("canary"), main: await uids("main") };
      expect(before.canary.namespace.slice(1)).toEqual(["a", undefined]);
      const revision = await repo("b").commit("main", { "app-b/takeover.yaml": TAKEOVER });
      const r = await expectStoppedAtCanary("b", revision);
      const report = await failedReport("b", revision);
      expect(report.error?.code).toBe(ErrorCode.ERROR_CODE_POLICY_VIOLATION);
      expect(report.error?.retryable).toBe(false);
      expect(
        (report.error?.objects ?? []).map(
          (o) => `${o.ref?.kind} ${o.ref?.namespace}/${o.ref?.name}: ${o.message?.split(":")[0]}`,
        ),
      ).toEqual([
        "Namespace /team-a: refused by rule namespaces",
        "ClusterRoleBinding /b-is-admin: refused by rule cluster-resources",
        `Secret ${AGENT_NS}/${BOOTSTRAP_SECRET}: refused by rule agent-namespace`,
        "ConfigMap kube-system/b-was-here: refused by rule namespaces",
      ]);
      // The hub sent team b's policy: the default, its own name space.
      expect(r.failure.reason).toMatch(/namespace team-a is not allowed by team b's policy \(namespaces: b, b-\*\)/);
      expect(r.failure.reason).toMatch(/4 object\(s\) refused, nothing applied/);
      expect({ canary: await uids("canary"), main: await uids("main") }).toEqual(before);
      const rbac = k8s("canary").makeApiClient(RbacAuthorizationV1Api);
      await expect(rbac.readClusterRoleBinding({ name: "b-is-admin" })).rejects.toMatchObject({ code: 404 });
      await expect(
        core("canary").readNamespacedConfigMap({ name: "b-was-here", namespace: "kube-system" }),
      ).rejects.toMatchObject({ code: 404 });
      // Team a's objects are still a's: a prune by b would find nothing of b's to delete there.
      expect(
        (await core("canary").readNamespacedConfigMap({ name: "a-config", namespace: "team-a" })).metadata?.labels?.[
          "flotilla.dev/app"
        ],
      ).toBe("a");
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("refuses a Deployment another app owns, naming the owner, and leaves it as it was", async () => {
    try {
      const before = await uids("canary");
      await register("c", "c", [{ name: "steal", path: "steal", namespace: "team-a" }]);
      const revision = await repo("c").head("main");
      await expectStoppedAtCanary("steal", revision);
      const report = await failedReport("steal", revision);
      expect(report.error?.code).toBe(ErrorCode.ERROR_CODE_OWNERSHIP_CONFLICT);
      expect(report.error?.objects?.map((o) => `${o.ref?.kind} ${o.ref?.namespace}/${o.ref?.name}`)).toEqual([
        "Deployment team-a/a-web",
      ]);
      expect(report.error?.objects?.[0]?.message).toMatch(/^refused by rule owned-by-app: owned by app a;/);
      expect(await uids("canary")).toEqual(before);
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("refuses a remote base and a generator file fetched from an internal address, which hears nothing", async () => {
    try {
      for (const [name, path] of [
        ["remote", "remote-base"],
        ["leak", "generator"],
      ]) {
        expect(
          (await api("POST", "/v1/apps", { name, repo: "c", path, source: "kustomize", namespace: "c" })).status,
        ).toBe(201);
      }
      const revision = await repo("c").head("main");
      for (const [app, message] of [
        ["remote", /remote-base\/kustomization\.yaml: resources entry "https:\/\/github\.com\/.*" is remote/],
        [
          "leak",
          /generator\/kustomization\.yaml: configMapGenerator\.files entry "http:\/\/127\.0\.0\.1:\d+\/token" is remote/,
        ],
      ] as const) {
        await expectStoppedAtCanary(app, revision);
        const report = await failedReport(app, revision);
        expect(report.error?.code).toBe(ErrorCode.ERROR_CODE_RENDER_FAILED);
        expect(report.error?.message).toMatch(message);
      }
      expect(internal.requests).toEqual([]);
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("refuses a tree bomb at once while another app of the same repo and agent keeps reconciling", async () => {
    try {
      const revision = pushTreeBomb(repo("bombs"), "main", { "calm/config.yaml": configMap("calm", { v: "2" }) });
      await expectStoppedAtCanary("bomb", revision);
      const report = await failedReport("bomb", revision);
      expect(report.error?.code).toBe(ErrorCode.ERROR_CODE_RENDER_FAILED);
      expect(report.error?.message).toMatch(
        /^render stopped at "bomb[^"]*": more than 20000 tree entries listed, the limit of one render/,
      );
      process.stdout.write(
        `tree bomb: refused after ${report.timings?.fetchMs} ms fetch, ${report.timings?.totalMs} ms in all\n`,
      );
      // The other app of the same commit went through both waves.
      await rollout("calm", revision, "Succeeded", (r) => r.state === "Succeeded");
      for (const c of CLUSTERS) {
        expect((await core(c.name).readNamespacedConfigMap({ name: "calm", namespace: "d" })).data?.v).toBe("2");
      }
      // The bomb's earlier objects stay as they were.
      expect((await core("canary").readNamespacedConfigMap({ name: "bomb", namespace: "d" })).data?.v).toBe("1");
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("refuses repository URLs that reach loopback, link-local or metadata addresses, and ones that redirect", async () => {
    try {
      for (const [url, reason] of [
        ["http://169.254.169.254/x", /a cloud metadata address \(169\.254\.169\.254\)/],
        ["https://localhost:6379/x", /localhost resolves to a loopback address/],
        ["https://0x7f000001/x", /a loopback address \(127\.0\.0\.1\)/],
      ] as const) {
        const res = await api("POST", "/v1/repos", { name: "bad", team: "c", url, branches: { prod: "main" } });
        expect(res.status, url).toBe(400);
        expect(res.json.message, url).toMatch(reason);
        expect(res.json.message, url).toMatch(/^url: repository URL \S+ is refused: /);
        expect(res.json.message.split("\n"), url).toHaveLength(1);
      }
      expect((await api("GET", "/v1/repos/bad")).status).toBe(404);

      // A redirect cannot be known before asking: the repo is saved, and every listing refuses it.
      const moved = await api("POST", "/v1/repos", {
        name: "moved",
        team: "c",
        url: `${redirector.url}/moved.git`,
        branches: { prod: "main" },
        pollIntervalSeconds: 0.5,
      });
      expect(moved.status).toBe(201);
      const line = await until("the hub to refuse the redirect", async () =>
        (await fleet.hub.process.log())
          .split("\n")
          .find((l) => l.includes('repo \\"moved\\"') && l.includes("redirects are not followed")),
      );
      expect(line).toMatch(/the server answered with a redirect \(HTTP 302\)/);
      expect(line).not.toContain(internal.url);
      expect(redirector.requests.length).toBeGreaterThan(0);
      expect(internal.requests).toEqual([]);
    } catch (err) {
      await dump();
      throw err;
    }
  });
});
