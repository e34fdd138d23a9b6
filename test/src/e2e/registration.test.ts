/**
 * Registration tokens end to end, on a real operator-mode nats-server, redis-server, hub and
 * agent. Agents' JWTs live a few seconds; the agent is stopped until its JWT has expired, and a
 * commit is made meanwhile. Started again without a token it cannot connect and says what to
 * do; started with a token (`POST /v1/clusters/{name}/registration-tokens`, what
 * `flotilla cluster token` calls) and the hub's URL it registers once, with a NATS user key of
 * its own, and reconciles the commit. Revoked afterwards, it notices and, its token spent, says
 * what to do. A used token, an expired one, another cluster's and one for an unknown cluster are
 * refused alike; of two concurrent uses of one token exactly one registers (Redis GETDEL); Redis
 * and the logs never hold a token; an address that keeps guessing is throttled (429).
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import {
  type AgentProcess,
  type FixtureRepo,
  type Fleet,
  type HubProcess,
  startAgentProcess,
  startFleet,
  waitsOf,
} from "@flotilla/devfleet";
import { KEY_PREFIX } from "@flotilla/hub";
import { CoreV1Api } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import { nkeys } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/** The command npm links at install, as the README's `npx flotilla` runs it. */
const CLI_MAIN = fileURLToPath(new URL("../../../node_modules/.bin/flotilla", import.meta.url));
const WAIT_MS = 120_000;
/**
 * Lifetime of agents' JWTs: short enough that one expires while the agent is stopped, long
 * enough that the bundle's is still good when a loaded machine has started the agent.
 */
const CREDS_TTL = "30s";
const CLUSTER = "edge-1";
/** Registered without an agent: its tokens must not register edge-1. */
const OTHER = "edge-2";
const AGENT_ENV = { FLOTILLA_HEARTBEAT_INTERVAL: "1", FLOTILLA_HEALTH_POLL: "1" };

type Json = ReturnType<typeof JSON.parse>;

const until = waitsOf(WAIT_MS, 100);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function manifests(version: string): Record<string, string> {
  return {
    "deploy/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
    "deploy/config.yaml": `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop-config\ndata:\n  version: "${version}"\n`,
  };
}

function claimsOf(creds: string): { sub: string; exp?: number } {
  const jwt = /-----BEGIN NATS USER JWT-----\s*(\S+)/.exec(creds)?.[1] ?? "";
  return JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString("utf8"));
}

function expiryMs(creds: string): number {
  const { exp } = claimsOf(creds);
  if (exp === undefined) throw new Error("the JWT does not expire");
  return exp * 1000;
}

const subjectOf = (creds: string) => claimsOf(creds).sub;

describe("registration tokens: an agent offline past its credentials' expiry comes back", () => {
  let fleet: Fleet;
  let hub: HubProcess;
  let repo: FixtureRepo;
  const started: AgentProcess[] = [];
  const minted: string[] = [];
  let usedToken = "";
  /** The agent that came back with a token. */
  let comeback: AgentProcess | undefined;

  const api = async (method: string, path: string, body?: unknown) => hub.api.request<Json>(method, path, body);

  async function mint(cluster: string, ttlSeconds: number): Promise<{ token: string; expiresAtMs: number }> {
    const res = await api("POST", `/v1/clusters/${cluster}/registration-tokens`, { ttlSeconds });
    expect(res.status, res.text).toBe(201);
    minted.push(res.json.token);
    return res.json;
  }

  /** An agent's registration, as the agent sends it, without a bearer token. */
  async function register(cluster: string, token: string) {
    return hub.api.request<Json>(
      "POST",
      `/v1/clusters/${cluster}/register`,
      { token, natsUserPublicKey: nkeys.createUser().getPublicKey() },
      { token: null },
    );
  }

  async function metric(name: string, result: string): Promise<number> {
    const text = await (await fetch(`${hub.url}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith(`${name}{result="${result}"}`));
    return line ? Number(line.split(" ").pop()) : 0;
  }

  async function configVersion(): Promise<string | undefined> {
    const core = fleet.cluster(CLUSTER).kube.kubeConfig().makeApiClient(CoreV1Api);
    try {
      return (await core.readNamespacedConfigMap({ name: "shop-config", namespace: "shop" })).data?.version;
    } catch {
      return undefined;
    }
  }

  /** Starts the cluster's agent again, in its old directory (its saved creds and Git cache). */
  async function startAgent(env: Record<string, string> = {}): Promise<AgentProcess> {
    const c = fleet.cluster(CLUSTER);
    const agent = await startAgentProcess({
      dir: join(fleet.dir, "agents", CLUSTER),
      bootstrap: c.bundle,
      kubeconfig: c.kube.kubeconfigPath,
      git: fleet.git,
      env: { ...AGENT_ENV, ...env },
    });
    started.push(agent);
    return agent;
  }

  beforeAll(async () => {
    fleet = await startFleet({
      operatorMode: true,
      repos: { shop: { main: manifests("v1") } },
      clusters: [{ name: CLUSTER, labels: { env: "prod" } }],
      hubEnv: {
        FLOTILLA_HUB_POLL_INTERVAL: "1s",
        FLOTILLA_HEARTBEAT_INTERVAL: "1s",
        FLOTILLA_AGENT_CREDS_TTL: CREDS_TTL,
      },
      agentEnv: AGENT_ENV,
    });
    hub = fleet.hub;
    repo = fleet.repo("shop");
    expect((await api("POST", "/v1/teams", { name: "shop" })).status).toBe(201);
    const repoBody = {
      name: "shop",
      team: "shop",
      url: repo.url,
      branches: { prod: "main" },
      pollIntervalSeconds: 0.5,
      credentials: { username: fleet.git.username, password: fleet.git.password },
    };
    expect((await api("POST", "/v1/repos", repoBody)).status).toBe(201);
    const app = { name: "shop", repo: "shop", path: "deploy", namespace: "shop" };
    expect((await api("POST", "/v1/apps", app)).status).toBe(201);
    expect((await api("POST", "/v1/clusters", { name: OTHER, labels: { env: "lab" } })).status).toBe(201);
  }, 300_000);

  afterAll(async () => {
    for (const agent of started) await agent.stop();
    if (fleet) process.stderr.write(await fleet.logTails(40));
    await fleet?.stop();
  });

  it("stopped past its JWT's expiry, the agent cannot connect and says to run 'flotilla cluster token'", async () => {
    await until("v1 on the cluster", async () => (await configVersion()) === "v1");
    await fleet.cluster(CLUSTER).agent?.stop();
    await repo.commit("main", manifests("v2"));
    // The newest creds the agent holds: saved after its last renewal, else the bundle's.
    const saved = await readFile(join(fleet.dir, "agents", CLUSTER, "cache", "nats.creds"), "utf8").catch(
      () => undefined,
    );
    const expiresAtMs = expiryMs(saved ?? fleet.cluster(CLUSTER).bundle.natsCreds);
    await sleep(Math.max(0, expiresAtMs - Date.now()) + 1_000);

    const stranded = await startAgent();
    const log = await until("the agent's advice", async () => {
      const text = await stranded.process.log();
      return text.includes(`flotilla cluster token ${CLUSTER}`) ? text : undefined;
    });
    expect(log).toContain("FLOTILLA_REGISTRATION_TOKEN_FILE");
    await stranded.stop();
    expect(await configVersion()).toBe("v1");
  });

  it("registers once with a token and the hub's URL, then reconciles what was committed meanwhile", async () => {
    // Minted as an operator does: the token alone on stdout, what it is on stderr.
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [CLI_MAIN, "cluster", "token", CLUSTER, "--ttl", "10m"],
      {
        env: {
          PATH: process.env.PATH ?? "",
          HOME: await mkdtemp(join(tmpdir(), "registration-cli-")),
          FLOTILLA_HUB: hub.url,
          FLOTILLA_TOKEN: fleet.token,
        },
      },
    );
    const token = stdout.trim();
    expect(token).toMatch(/^flreg_[A-Za-z0-9_-]{43}$/);
    expect(stderr).toContain(`registration token for cluster/${CLUSTER}, shown only now`);
    minted.push(token);
    usedToken = token;
    const tokenFile = join(fleet.dir, "registration-token");
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
    // The test hub serves plain HTTP on loopback: the agent refuses that unless told explicitly.
    comeback = await startAgent({
      FLOTILLA_HUB_URL: hub.url,
      FLOTILLA_HUB_INSECURE: "true",
      FLOTILLA_REGISTRATION_TOKEN_FILE: tokenFile,
    });
    const agent = comeback;
    await until("v2 on the cluster", async () => (await configVersion()) === "v2");
    expect(await metric("flotilla_hub_registrations_total", "registered")).toBe(1);
    // Renewals go on over NATS with the new user, and so do rollouts.
    const renewed = await metric("flotilla_hub_creds_renewals_total", "renewed");
    await repo.commit("main", manifests("v3"));
    await until("v3 on the cluster", async () => (await configVersion()) === "v3");
    await until("a renewal of the new user", async () =>
      (await metric("flotilla_hub_creds_renewals_total", "renewed")) > renewed ? true : undefined,
    );
    expect((await api("GET", `/v1/clusters/${CLUSTER}`)).json.status.state).toBe("Ready");
    // A NATS user of the agent's own making, kept for restarts: not the bundle's.
    const saved = await readFile(join(fleet.dir, "agents", CLUSTER, "cache", "nats.creds"), "utf8");
    expect(subjectOf(saved)).not.toBe(subjectOf(fleet.cluster(CLUSTER).bundle.natsCreds));
    const log = await agent.process.log();
    expect(log).toContain("registered with the registration token");
    expect(log).not.toContain(token);
  });

  it("an agent whose user is revoked notices (refused twice) and, its token spent, says what to do", async () => {
    const agent = comeback;
    if (!agent) throw new Error("the agent did not come back");
    const spent = "its registration token was used already or refused";
    expect(await agent.process.log()).not.toContain(spent);
    // Someone else registers edge-1: the hub revokes the agent's user, and NATS drops it.
    expect((await register(CLUSTER, (await mint(CLUSTER, 600)).token)).status).toBe(200);
    await until("the agent's advice", async () => ((await agent.process.log()).includes(spent) ? true : undefined));
  });

  it("refuses a used, an expired and another cluster's token, and an unknown cluster, with one answer", async () => {
    const refusedBefore = await metric("flotilla_hub_registrations_total", "refused");
    const expiring = await mint(CLUSTER, 1);
    const other = await mint(OTHER, 600);
    await sleep(Math.max(0, expiring.expiresAtMs - Date.now()) + 500);

    const answers = [
      await register(CLUSTER, usedToken),
      await register(CLUSTER, expiring.token),
      await register(CLUSTER, other.token),
      await register("nowhere", other.token),
    ];
    for (const a of answers) expect(a.status, a.text).toBe(401);
    const bodies = answers.map((a) => a.text.replaceAll(CLUSTER, "X").replaceAll("nowhere", "X"));
    expect(new Set(bodies).size).toBe(1);
    expect(answers[0]?.json.message).toContain(`flotilla cluster token ${CLUSTER}`);
    expect(await metric("flotilla_hub_registrations_total", "refused")).toBe(refusedBefore + 4);
    // Presented for another cluster, the token was not spent: it still registers its own.
    expect((await register(OTHER, other.token)).status).toBe(200);
  });

  it("of two concurrent uses of one token, exactly one registers", async () => {
    const { token } = await mint(OTHER, 600);
    const statuses = (await Promise.all([register(OTHER, token), register(OTHER, token)])).map((a) => a.status);
    expect(statuses.sort()).toEqual([200, 401]);
  });

  it("refuses an agentPublicKey (400, naming it) without spending the token; a new mint voids the earlier token", async () => {
    const first = await mint(OTHER, 600);
    const takeover = await hub.api.request<Json>(
      "POST",
      `/v1/clusters/${OTHER}/register`,
      { token: first.token, natsUserPublicKey: nkeys.createUser().getPublicKey(), agentPublicKey: "PEM" },
      { token: null },
    );
    expect(takeover.status, takeover.text).toBe(400);
    expect(takeover.json.message).toContain("agentPublicKey");
    const second = await mint(OTHER, 600);
    expect((await register(OTHER, first.token)).status).toBe(401);
    expect((await register(OTHER, second.token)).status).toBe(200);
  });

  it("logs no token, on the hub or the agent", async () => {
    const logs = [await hub.process.log(), ...(await Promise.all(started.map((a) => a.process.log())))];
    expect(minted.length).toBeGreaterThan(3);
    for (const token of minted) for (const log of logs) expect(log).not.toContain(token);
  });

  it("keeps no token in Redis: only digests, under keys that expire", async () => {
    const redis = new Redis(fleet.redis.url);
    try {
      const unused = await mint(OTHER, 600);
      const keys = await redis.keys(`${KEY_PREFIX}registration-token:*`);
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys) {
        expect(await redis.pttl(key)).toBeGreaterThan(0);
        const value = (await redis.get(key)) ?? "";
        for (const token of minted) {
          expect(key).not.toContain(token);
          expect(value).not.toContain(token);
        }
      }
      expect(minted).toContain(unused.token);
    } finally {
      redis.disconnect();
    }
  });

  // Last: it leaves this address over the limit of failed authentications for a minute.
  it("throttles an address that keeps presenting bad tokens, like failed authentications", async () => {
    const answers = [];
    for (let i = 0; i < 25; i++) answers.push(await register(CLUSTER, `flreg_guess-${i}`));
    const statuses = answers.map((a) => a.status);
    expect(statuses).toContain(401);
    expect(statuses.at(-1)).toBe(429);
    expect(answers.at(-1)?.json.error).toBe("too_many_requests");
    // Over the limit, the address waits whatever it sends: its token is not even looked at.
    expect((await api("POST", `/v1/clusters/${OTHER}/registration-tokens`, { ttlSeconds: 60 })).status).toBe(429);
  });
});
