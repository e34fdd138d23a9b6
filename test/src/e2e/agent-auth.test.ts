/**
 * The cluster agent with real per-cluster NATS credentials (operator mode): the user JWT the
 * hub mints allows only this cluster's keys and subjects, and the agent must still watch its
 * desired states, write its reports, heartbeat and answer RPC within those permissions.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type AgentProcess,
  type Cluster,
  type GitServer,
  type NatsServer,
  startAgentProcess,
  startCluster,
  startGitServer,
  startNats,
} from "@flotilla/devfleet";
import { createOperatorSetup, mintClusterUser, statusStreamConfig } from "@flotilla/hub";
import {
  AGENT_REQUEST,
  AGENT_RESPONSE,
  DESIRED_BUCKET,
  DESIRED_STATE,
  generateSigningKey,
  HEARTBEAT,
  Health,
  heartbeatSubject,
  KeyRing,
  open,
  publicKeyToPem,
  REPORT,
  rpcSubject,
  SourceType,
  STATUS_BUCKET,
  SyncPhase,
  seal,
  signingKeyToPem,
  stateKey,
} from "@flotilla/proto";
import { CoreV1Api } from "@kubernetes/client-node";
import { connect, credsAuthenticator, type NatsConnection, StorageType } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const CLUSTER = "auth-e2e";
const WAIT_MS = 90_000;

describe("cluster agent with per-cluster NATS credentials", () => {
  const hubKey = generateSigningKey();
  const agentKey = generateSigningKey();
  const agentKeys = new KeyRing([agentKey.publicKey]);
  const work = mkdtempSync(join(tmpdir(), "flotilla-agent-auth-"));
  let nats: NatsServer;
  let git: GitServer;
  let cluster: Cluster;
  let hub: NatsConnection;
  let agent: AgentProcess | undefined;

  beforeAll(async () => {
    const setup = await createOperatorSetup();
    [nats, git, cluster] = await Promise.all([
      startNats({ operator: setup, syncAlways: true }),
      startGitServer(),
      startCluster({ name: CLUSTER }),
    ]);
    hub = await connect({
      ...nats.clientOptions(),
      authenticator: credsAuthenticator(new TextEncoder().encode(setup.hubUser.creds)),
    });
    await hub.jetstream().views.kv(DESIRED_BUCKET, { storage: StorageType.File, history: 1 });
    await (await hub.jetstreamManager()).streams.add(statusStreamConfig());
    const user = await mintClusterUser(setup, CLUSTER);

    const repo = await git.createRepo("cfg", {
      main: { "app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greeting\ndata:\n  text: hi\n" },
    });
    agent = await startAgentProcess({
      dir: join(work, "agent"),
      bootstrap: {
        cluster: CLUSTER,
        natsUrl: nats.url,
        natsCreds: user.creds,
        hubPublicKey: publicKeyToPem(hubKey.publicKey),
        agentSigningKey: signingKeyToPem(agentKey),
      },
      natsTls: nats.tls,
      kubeconfig: cluster.kubeconfigPath,
      git,
      env: { FLOTILLA_HEARTBEAT_INTERVAL: "1" },
    });

    const desired = await hub.jetstream().views.kv(DESIRED_BUCKET);
    await desired.put(
      stateKey(CLUSTER, "greet"),
      seal(
        DESIRED_STATE,
        {
          cluster: CLUSTER,
          app: "greet",
          generation: 1,
          targetNamespace: "default",
          prune: true,
          source: {
            repoUrl: repo.url,
            branch: "main",
            revision: await repo.head("main"),
            path: "app",
            type: SourceType.SOURCE_TYPE_MANIFESTS,
          },
        },
        hubKey,
      ),
    );
  });

  afterAll(async () => {
    await agent?.stop();
    await hub?.close();
    await Promise.all([nats?.stop(), git?.stop(), cluster?.stop()]);
    rmSync(work, { recursive: true, force: true });
  });

  it("watches its desired state and writes its report within its permissions", async () => {
    const status = await hub.jetstream().views.kv(STATUS_BUCKET);
    const deadline = Date.now() + WAIT_MS;
    let phase: SyncPhase | undefined;
    let health: Health | undefined;
    while (Date.now() < deadline && !(phase === SyncPhase.SYNC_PHASE_SYNCED && health === Health.HEALTH_HEALTHY)) {
      await new Promise((r) => setTimeout(r, 200));
      const e = await status.get(stateKey(CLUSTER, "greet"));
      if (!e?.value.length) continue;
      const report = open(REPORT, e.value, agentKeys).message;
      phase = report.phase;
      health = report.health;
    }
    expect(phase).toBe(SyncPhase.SYNC_PHASE_SYNCED);
    const cm = await cluster
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .readNamespacedConfigMap({ name: "greeting", namespace: "default" });
    expect(cm.data?.text).toBe("hi");
  });

  it("heartbeats and answers RPC", async () => {
    const sub = hub.subscribe(heartbeatSubject(CLUSTER), { max: 1 });
    for await (const msg of sub) expect(open(HEARTBEAT, msg.data, agentKeys).message.cluster).toBe(CLUSTER);
    const reply = await hub.request(rpcSubject(CLUSTER), seal(AGENT_REQUEST, { diff: { app: "greet" } }, hubKey), {
      timeout: 30_000,
    });
    const res = open(AGENT_RESPONSE, reply.data, agentKeys).message;
    expect(res.ok).toBe(true);
    expect(res.diffs).toEqual([]);
  });
});
