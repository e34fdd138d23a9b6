/**
 * Agents' NATS credentials expire and are renewed over NATS, on a real operator-mode
 * nats-server with a real hub and agent: with a JWT lifetime of a few seconds, the agent's
 * bundle JWT expires during the test, the agent renews at half-life, and a rollout started
 * meanwhile reaches the cluster. A deregistered (revoked) cluster's renewal is refused.
 */
import { type FixtureRepo, type Fleet, type HubProcess, startFleet, waitsOf } from "@flotilla/devfleet";
import {
  CREDENTIALS_REQUEST,
  CREDENTIALS_RESPONSE,
  credsReplyPrefix,
  credsSubject,
  generateSigningKey,
  KeyRing,
  open,
  publicKeyFromPem,
  seal,
  signingKeyFromPem,
} from "@flotilla/proto";
import { CoreV1Api } from "@kubernetes/client-node";
import { connect, credsAuthenticator, ErrorCode, type NatsError, nkeys, nuid } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const WAIT_MS = 120_000;
/**
 * Lifetime of agents' JWTs: short, so they expire several times during the test, yet long
 * enough that a renewal at half-life survives a few seconds' stall of a loaded machine (at 4 s
 * a CI run with two e2e files at once let one expire while the agent waited, and an agent
 * whose JWT expired can come back only with a registration token).
 */
const CREDS_TTL = "10s";
const CLUSTER = "edge-1";

type Json = ReturnType<typeof JSON.parse>;

const until = waitsOf(WAIT_MS, 100);

function manifests(version: string): Record<string, string> {
  return {
    "deploy/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
    "deploy/config.yaml": `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop-config\ndata:\n  version: "${version}"\n`,
  };
}

function jwtOf(creds: string): { sub: string; exp?: number } {
  const jwt = /-----BEGIN NATS USER JWT-----\s*(\S+)/.exec(creds)?.[1] ?? "";
  return JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString("utf8"));
}

describe("expiring agent NATS credentials, renewed over NATS", () => {
  let fleet: Fleet;
  let hub: HubProcess;
  let repo: FixtureRepo;

  const api = async (method: string, path: string, body?: unknown) => hub.api.request<Json>(method, path, body);

  async function renewals(result: string): Promise<number> {
    const text = await (await fetch(`${hub.url}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith(`flotilla_hub_creds_renewals_total{result="${result}"}`));
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
      agentEnv: { FLOTILLA_HEARTBEAT_INTERVAL: "1", FLOTILLA_HEALTH_POLL: "1" },
    });
    hub = fleet.hub;
    repo = fleet.repo("shop");
    expect((await api("POST", "/v1/teams", { name: "shop" })).status).toBe(201);
    expect(
      (
        await api("POST", "/v1/repos", {
          name: "shop",
          team: "shop",
          url: repo.url,
          branches: { prod: "main" },
          pollIntervalSeconds: 0.5,
          credentials: { username: fleet.git.username, password: fleet.git.password },
        })
      ).status,
    ).toBe(201);
    expect(
      (await api("POST", "/v1/apps", { name: "shop", repo: "shop", path: "deploy", namespace: "shop" })).status,
    ).toBe(201);
  }, 300_000);

  afterAll(async () => {
    if (fleet) process.stderr.write(await fleet.logTails(40));
    await fleet?.stop();
  });

  it("mints the bundle's JWT with an expiry", () => {
    const claims = jwtOf(fleet.cluster(CLUSTER).bundle.natsCreds);
    expect(claims.exp).toBeTypeOf("number");
  });

  it("renews past the bundle JWT's expiry and rolls out commits made meanwhile", async () => {
    await until("v1 on the cluster", async () => (await configVersion()) === "v1");
    // Renewed at half-life: four renewals take two lifetimes, so the bundle's JWT has expired.
    await until("four renewals", async () => (await renewals("renewed")) >= 4);
    await repo.commit("main", manifests("v2"));
    await until("v2 on the cluster", async () => (await configVersion()) === "v2");
    const before = await renewals("renewed");
    await repo.commit("main", manifests("v3"));
    await until("v3 on the cluster", async () => (await configVersion()) === "v3");
    await until("two more renewals", async () => (await renewals("renewed")) >= before + 2);
    // The hub heard from the agent throughout: the cluster is Ready, never refused.
    const detail = await api("GET", `/v1/clusters/${CLUSTER}`);
    expect(detail.json.status.state).toBe("Ready");
    expect(await renewals("unknown_user")).toBe(0);
  });

  it("refuses the bundle's expired credentials on a new connection", async () => {
    const bundle = fleet.cluster(CLUSTER).bundle;
    const err = await connect({
      servers: bundle.natsUrl,
      tls: { ca: bundle.natsCa ?? "" },
      authenticator: credsAuthenticator(new TextEncoder().encode(bundle.natsCreds)),
      reconnect: false,
    }).then(
      (nc) => nc.close().then(() => undefined),
      (e: unknown) => e as NatsError,
    );
    expect(err?.code).toBe(ErrorCode.AuthorizationViolation);
  });

  it("refuses a renewal signed by another key, and any renewal once the cluster is deregistered", async () => {
    const bundle = fleet.cluster(CLUSTER).bundle;
    const agentKey = signingKeyFromPem(bundle.agentSigningKey);
    const hubKeys = new KeyRing([publicKeyFromPem(bundle.hubPublicKey)]);
    // Asked on the hub's own connection: a revoked agent cannot even connect.
    const setup = fleet.operatorSetup;
    if (!setup) throw new Error("operator mode expected");
    const nc = await connect({
      ...fleet.nats.clientOptions(),
      authenticator: credsAuthenticator(new TextEncoder().encode(setup.hubUser.creds)),
    });
    const ask = async (key = agentKey) => {
      const data = seal(
        CREDENTIALS_REQUEST,
        { cluster: CLUSTER, userPublicKey: nkeys.createUser().getPublicKey(), sentAtMs: Date.now() },
        key,
      );
      const reply = await nc.request(credsSubject(CLUSTER), data, {
        timeout: 10_000,
        noMux: true,
        reply: `${credsReplyPrefix(CLUSTER)}.${nuid.next()}`,
      });
      return open(CREDENTIALS_RESPONSE, reply.data, hubKeys).message;
    };
    try {
      const forged = await ask(generateSigningKey());
      expect(forged.jwt).toBe("");
      expect(forged.error).toMatch(/does not verify with edge-1's agent key/);
      // The agent's own key, but a NATS user the hub never minted for this cluster.
      const stranger = await ask();
      expect(stranger.jwt).toBe("");
      expect(stranger.error).toMatch(/is not cluster edge-1's NATS user/);
      expect((await api("DELETE", `/v1/clusters/${CLUSTER}`)).status).toBe(204);
      const revoked = await ask();
      expect(revoked.jwt).toBe("");
      expect(revoked.error).toMatch(/not registered/);
    } finally {
      await nc.close();
    }
  });
});
