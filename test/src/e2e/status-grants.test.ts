/**
 * A cluster's NATS user may write the status keys of its assigned apps only, on a real
 * operator-mode nats-server with a real hub and agent. The cluster registers with no apps; each
 * app assigned to it later reaches it without a manual step: the agent finds the app's status key
 * missing from its JWT, asks the hub for a renewal naming it, reconnects and reports. Keys of
 * apps not assigned to it (made up, or not yet assigned) are refused by the server, and a removed
 * app's key is dropped at the next renewal.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type FixtureRepo, type Fleet, type HubProcess, startFleet, waitsOf } from "@flotilla/devfleet";
import {
  CREDENTIALS_REQUEST,
  CREDENTIALS_RESPONSE,
  credsReplyPrefix,
  credsSubject,
  grantsStatusKey,
  inboxPrefix,
  KeyRing,
  open,
  publicKeyFromPem,
  STATUS_BUCKET,
  seal,
  signingKeyFromPem,
  stateKey,
} from "@flotilla/proto";
import { CoreV1Api } from "@kubernetes/client-node";
import { connect, credsAuthenticator, ErrorCode, type NatsConnection, type NatsError, nkeys, nuid } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const WAIT_MS = 120_000;
const CLUSTER = "edge-1";

type Json = ReturnType<typeof JSON.parse>;

const until = waitsOf(WAIT_MS, 100);
const encoder = new TextEncoder();

function files(): Record<string, string> {
  const cm = (name: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  v: "1"\n`;
  return {
    "shop/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
    "shop/config.yaml": cm("shop-config"),
    "web/config.yaml": cm("web-config"),
  };
}

/** The JWT of a creds file's text. */
function jwtOf(creds: string): string {
  return /-----BEGIN NATS USER JWT-----\s*(\S+)/.exec(creds)?.[1] ?? "";
}

/** The publish allow list of a user JWT. */
function publishAllow(jwt: string): string[] {
  const claims = JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString("utf8"));
  return claims.nats?.pub?.allow ?? [];
}

/** The status subjects a JWT grants. */
function statusGrants(jwt: string): string[] {
  return publishAllow(jwt)
    .filter((s) => s.startsWith(`$KV.${STATUS_BUCKET}.`))
    .sort();
}

describe("per-cluster status keys: only the apps assigned to the cluster", () => {
  let fleet: Fleet;
  let hub: HubProcess;
  let repo: FixtureRepo;
  /** The hub's own NATS user, to ask for renewals as the agent would. */
  let hubNc: NatsConnection;

  const api = async (method: string, path: string, body?: unknown) => hub.api.request<Json>(method, path, body);

  async function metric(url: string, series: string): Promise<number> {
    const text = await (await fetch(`${url}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith(`${series} `));
    return line ? Number(line.split(" ").pop()) : 0;
  }

  const agentMetrics = () => {
    const url = fleet.cluster(CLUSTER).agent?.endpoints;
    if (!url) throw new Error("the fleet's agent serves no metrics");
    return url;
  };

  /** The creds the agent saved at its last renewal. */
  const agentCreds = () => readFileSync(join(fleet.dir, "agents", CLUSTER, "cache", "nats.creds"), "utf8");

  async function configMap(name: string, namespace: string): Promise<boolean> {
    const core = fleet.cluster(CLUSTER).kube.kubeConfig().makeApiClient(CoreV1Api);
    try {
      await core.readNamespacedConfigMap({ name, namespace });
      return true;
    } catch {
      return false;
    }
  }

  /** The hub's last report of `app` on the cluster, once it is of the generation in force. */
  async function currentReport(app: string): Promise<Json | undefined> {
    const res = await api("GET", `/v1/apps/${app}/status`);
    if (res.status !== 200) return undefined;
    const c = res.json.clusters.find((x: Json) => x.cluster === CLUSTER);
    if (!c?.desired || !c.report || c.report.observedGeneration !== c.desired.generation) return undefined;
    return c.report;
  }

  /** The state of `app`'s rollouts once one succeeded (a failed one ends the wait too). */
  const settledRollout = (app: string) =>
    until(`${app}'s rollout settled`, async () => {
      const rollouts: Json[] = (await api("GET", `/v1/apps/${app}/status`)).json.rollouts ?? [];
      return rollouts.find((r) => ["Succeeded", "Failed", "RolledBack"].includes(r.state))?.state;
    });

  /** A renewal asked the way the agent asks (its key, its NATS user): the new JWT. */
  async function renewAsAgent(apps: string[] = []): Promise<string> {
    const bundle = fleet.cluster(CLUSTER).bundle;
    const seed = /-----BEGIN USER NKEY SEED-----\s*(\S+)/.exec(bundle.natsCreds)?.[1] ?? "";
    const userPublicKey = nkeys.fromSeed(encoder.encode(seed)).getPublicKey();
    const data = seal(
      CREDENTIALS_REQUEST,
      { cluster: CLUSTER, userPublicKey, sentAtMs: Date.now(), apps },
      signingKeyFromPem(bundle.agentSigningKey),
    );
    const reply = await hubNc.request(credsSubject(CLUSTER), data, {
      timeout: 10_000,
      noMux: true,
      reply: `${credsReplyPrefix(CLUSTER)}.${nuid.next()}`,
    });
    const answer = open(CREDENTIALS_RESPONSE, reply.data, new KeyRing([publicKeyFromPem(bundle.hubPublicKey)])).message;
    if (!answer.jwt) throw new Error(`renewal refused: ${answer.error}`);
    return answer.jwt;
  }

  /** Connects as the cluster's user with `jwt` and the bundle's seed. */
  async function connectAs(jwt: string): Promise<NatsConnection> {
    const bundle = fleet.cluster(CLUSTER).bundle;
    const seed = /-----BEGIN USER NKEY SEED-----\s*(\S+)/.exec(bundle.natsCreds)?.[1] ?? "";
    const creds = `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`;
    return connect({
      ...fleet.nats.clientOptions(),
      authenticator: credsAuthenticator(encoder.encode(creds)),
      inboxPrefix: inboxPrefix(CLUSTER),
      reconnect: false,
    });
  }

  beforeAll(async () => {
    fleet = await startFleet({
      operatorMode: true,
      repos: { cfg: { main: files() } },
      clusters: [{ name: CLUSTER, labels: { env: "prod" } }],
      hubEnv: { FLOTILLA_HUB_POLL_INTERVAL: "1s", FLOTILLA_HEARTBEAT_INTERVAL: "1s" },
      agentEnv: { FLOTILLA_HEARTBEAT_INTERVAL: "1", FLOTILLA_HEALTH_POLL: "1" },
    });
    hub = fleet.hub;
    repo = fleet.repo("cfg");
    const setup = fleet.operatorSetup;
    if (!setup) throw new Error("operator mode expected");
    hubNc = await connect({
      ...fleet.nats.clientOptions(),
      authenticator: credsAuthenticator(encoder.encode(setup.hubUser.creds)),
    });
    // No bake: a rollout succeeds as soon as its one cluster reports healthy.
    const policy = { waves: [{ name: "all", maxConcurrency: "100%", bakeSeconds: 0 }], progressDeadlineSeconds: 300 };
    expect([200, 201]).toContain((await api("PUT", "/v1/environments/prod", { policy })).status);
    expect((await api("POST", "/v1/teams", { name: "shop" })).status).toBe(201);
    expect(
      (
        await api("POST", "/v1/repos", {
          name: "cfg",
          team: "shop",
          url: repo.url,
          branches: { prod: "main" },
          pollIntervalSeconds: 0.5,
          credentials: { username: fleet.git.username, password: fleet.git.password },
        })
      ).status,
    ).toBe(201);
  }, 300_000);

  afterAll(async () => {
    if (fleet) process.stderr.write(await fleet.logTails(40));
    await hubNc?.close();
    await fleet?.stop();
  });

  it("registers the cluster with no status keys at all", () => {
    expect(statusGrants(jwtOf(fleet.cluster(CLUSTER).bundle.natsCreds))).toEqual([]);
  });

  it("rolls out the first app assigned to the cluster: the agent asks for its key and reports", async () => {
    expect((await api("POST", "/v1/apps", { name: "shop", repo: "cfg", path: "shop", namespace: "shop" })).status).toBe(
      201,
    );
    await until("shop applied", () => configMap("shop-config", "shop"));
    const report = await until("shop's report of the generation in force", () => currentReport("shop"));
    expect(report.phase).toBe("synced");
    expect(await settledRollout("shop")).toBe("Succeeded");
    // The agent's JWT (renewed, saved) now grants exactly shop's key.
    expect(statusGrants(jwtOf(agentCreds()))).toEqual([`$KV.${STATUS_BUCKET}.${stateKey(CLUSTER, "shop")}`]);
    expect(
      await metric(agentMetrics(), 'flotilla_agent_creds_renewals_total{reason="assignment",result="renewed"}'),
    ).toBeGreaterThanOrEqual(1);
    // No expiry renewal brought it (the JWT lives 24 h): the assignment did.
    expect(await metric(agentMetrics(), 'flotilla_agent_creds_renewals_total{reason="expiry",result="renewed"}')).toBe(
      0,
    );
    expect(
      await metric(hub.url, 'flotilla_hub_creds_assignment_renewals_total{result="granted"}'),
    ).toBeGreaterThanOrEqual(1);
  });

  it("refuses, at the server, status keys of apps not assigned to the cluster, however the agent asks", async () => {
    const jwt = await renewAsAgent(["web", "made-up"]);
    expect(statusGrants(jwt)).toEqual([`$KV.${STATUS_BUCKET}.${stateKey(CLUSTER, "shop")}`]);
    expect(
      await metric(hub.url, 'flotilla_hub_creds_assignment_renewals_total{result="not_assigned"}'),
    ).toBeGreaterThanOrEqual(1);
    const nc = await connectAs(jwt);
    try {
      const kv = await nc
        .jetstream({ checkAPI: false })
        .views.kv(STATUS_BUCKET, { bindOnly: true, allow_direct: true });
      // More keys than its apps: every made-up key is refused, so the cluster holds at most one value per app.
      for (const app of ["web", "made-up", "extra-1", "extra-2", "extra-3"]) {
        const err = await kv.put(stateKey(CLUSTER, app), encoder.encode("x")).then(
          () => undefined,
          (e: unknown) => e as NatsError,
        );
        expect(err?.code, `write of ${app}'s status key`).toBe(ErrorCode.PermissionsViolation);
      }
    } finally {
      await nc.close();
    }
  });

  it("lets a running agent report an app assigned to it later, without a manual step", async () => {
    const before = await metric(
      agentMetrics(),
      'flotilla_agent_creds_renewals_total{reason="assignment",result="renewed"}',
    );
    expect((await api("POST", "/v1/apps", { name: "web", repo: "cfg", path: "web", namespace: "shop" })).status).toBe(
      201,
    );
    await until("web applied", () => configMap("web-config", "shop"));
    const report = await until("web's report of the generation in force", () => currentReport("web"));
    expect(report.phase).toBe("synced");
    expect(await settledRollout("web")).toBe("Succeeded");
    const grants = statusGrants(jwtOf(agentCreds()));
    expect(grants).toEqual(["shop", "web"].map((app) => `$KV.${STATUS_BUCKET}.${stateKey(CLUSTER, app)}`));
    expect(grantsStatusKey(publishAllow(jwtOf(agentCreds())), CLUSTER, "web")).toBe(true);
    expect(
      await metric(agentMetrics(), 'flotilla_agent_creds_renewals_total{reason="assignment",result="renewed"}'),
    ).toBeGreaterThan(before);
  });

  it("drops a removed app's key at the next renewal, once the agent reported the removal", async () => {
    expect((await api("DELETE", "/v1/apps/web")).status).toBe(204);
    await until("web pruned", async () => !(await configMap("web-config", "shop")));
    const jwt = await until("a renewal without web's key", async () => {
      const next = await renewAsAgent();
      return statusGrants(next).length === 1 ? next : undefined;
    });
    expect(statusGrants(jwt)).toEqual([`$KV.${STATUS_BUCKET}.${stateKey(CLUSTER, "shop")}`]);
  });
});
