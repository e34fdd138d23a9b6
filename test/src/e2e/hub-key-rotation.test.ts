/**
 * The hub's signing key is rotated in the middle of a rollout across three agents, on a real
 * operator-mode nats-server with Redis, two hub replicas and three Kubernetes fixture clusters:
 * the canary wave is written with the old key, `flotilla hub rotate-key start --wait` is run
 * against the replica that does not lead (so the leader learns each step from the other one),
 * and the remaining wave goes out signed with the new key. The rollout completes, every agent
 * ends holding the new set without the old key, and a desired state signed with the retired key
 * afterwards is refused by the agent it is written for, which reports the refusal. A cluster
 * whose agent is away for a whole second rotation (finished with --force) learns the new key from
 * the history of its key set when it comes back, and runs its re-signed state on.
 */
import { spawn } from "node:child_process";
import { createDecipheriv } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type AgentProcess,
  type FixtureRepo,
  type Fleet,
  type HubProcess,
  startAgentProcess,
  startFleet,
  waitsOf,
} from "@flotilla/devfleet";
import {
  DESIRED_BUCKET,
  DESIRED_STATE,
  type DesiredStateInit,
  HUB_KEY_SET,
  hubKeySetKey,
  KeyRing,
  open,
  publicKeyFromPem,
  seal,
  signingKeyFromPem,
  stateKey,
  v1,
} from "@flotilla/proto";
import { CoreV1Api } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import { connect, credsAuthenticator, type KV, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const CLI_MAIN = fileURLToPath(new URL("../../../node_modules/.bin/flotilla", import.meta.url));
const WAIT_MS = 180_000;
const CLUSTERS = [
  { name: "canary", labels: { env: "prod", tier: "canary" } },
  { name: "eu-1", labels: { env: "prod" } },
  { name: "us-1", labels: { env: "prod" } },
] as const;

type Json = ReturnType<typeof JSON.parse>;
const until = waitsOf(WAIT_MS, 200);

function manifests(version: string): Record<string, string> {
  return {
    "deploy/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
    "deploy/config.yaml": `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop-config\ndata:\n  version: "${version}"\n`,
  };
}

/** Opens a secret the hub sealed in Redis (AES-256-GCM, `v1.<iv>.<tag>.<body>`, context as AAD). */
function openSealed(sealed: string, keyBase64: string, context: string): string {
  const [, iv = "", tag = "", body = ""] = sealed.split(".");
  const d = createDecipheriv("aes-256-gcm", Buffer.from(keyBase64.trim(), "base64"), Buffer.from(iv, "base64"));
  d.setAAD(Buffer.from(context, "utf8"));
  d.setAuthTag(Buffer.from(tag, "base64"));
  return Buffer.concat([d.update(Buffer.from(body, "base64")), d.final()]).toString("utf8");
}

describe("hub signing-key rotation in the middle of a rollout", () => {
  let fleet: Fleet;
  let leader: HubProcess;
  let follower: HubProcess;
  let repo: FixtureRepo;
  let nc: NatsConnection;
  let desired: KV;
  let oldKeyId = "";
  /** The first key as the hub stored it (sealed), kept before rotations overwrite it. */
  let oldSealed = "";
  let newKeyId = "";
  let restarted: AgentProcess | undefined;

  const api = async (method: string, path: string, body?: unknown, hub = leader) =>
    hub.api.request<Json>(method, path, body);
  const rollouts = async (): Promise<Json[]> => (await api("GET", "/v1/rollouts?app=shop&environment=prod")).json.items;
  const rollout = async (id: string): Promise<Json> => (await api("GET", `/v1/rollouts/${id}`)).json;
  const dump = async () => process.stderr.write(await fleet.logTails(80));

  async function configVersion(cluster: string): Promise<string | undefined> {
    const core = fleet.cluster(cluster).kube.kubeConfig().makeApiClient(CoreV1Api);
    try {
      return (await core.readNamespacedConfigMap({ name: "shop-config", namespace: "shop" })).data?.version;
    } catch {
      return undefined;
    }
  }

  /** The newest rollout not in `known`, once the remaining wave waits for approval. */
  async function awaitingApproval(known: Set<string>): Promise<Json> {
    return until("a new rollout waiting for approval of its remaining wave", async () => {
      const fresh = (await rollouts()).find((r) => !known.has(r.id));
      if (!fresh) return undefined;
      const r = await rollout(fresh.id);
      return r.waves[1]?.status === "awaiting-approval" ? r : undefined;
    });
  }

  async function succeeded(id: string): Promise<Json> {
    return until(`rollout ${id} to succeed`, async () => {
      const r = await rollout(id);
      if (r.state === "Failed" || r.state === "RolledBack") throw new Error(`rollout ${id} ended ${r.state}`);
      return r.state === "Succeeded" ? r : undefined;
    });
  }

  /** The key id an envelope in the desired bucket was signed with. */
  async function signerOf(key: string): Promise<string> {
    const entry = await desired.get(key);
    if (!entry) throw new Error(`no ${key} in ${DESIRED_BUCKET}`);
    return v1.Envelope.decode(entry.value).keyId;
  }

  function cli(args: string[], hub: HubProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI_MAIN, ...args], {
        env: { PATH: process.env.PATH ?? "", HOME: fleet.dir, FLOTILLA_HUB: hub.url, FLOTILLA_TOKEN: hub.token },
        stdio: ["ignore", "pipe", "pipe"],
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
    });
  }

  beforeAll(async () => {
    fleet = await startFleet({
      operatorMode: true,
      repos: { shop: { main: manifests("v1") } },
      clusters: CLUSTERS,
      hubEnv: { FLOTILLA_HUB_POLL_INTERVAL: "1s", FLOTILLA_HEARTBEAT_INTERVAL: "1s" },
      agentEnv: { FLOTILLA_HEARTBEAT_INTERVAL: "1", FLOTILLA_HEALTH_POLL: "1" },
    });
    leader = fleet.hub;
    follower = await fleet.startHub();
    repo = fleet.repo("shop");
    const setup = fleet.operatorSetup;
    if (!setup) throw new Error("the fleet runs NATS in operator mode");
    nc = await connect({
      ...fleet.nats.clientOptions(),
      authenticator: credsAuthenticator(new TextEncoder().encode(setup.hubUser.creds)),
    });
    desired = await nc.jetstream().views.kv(DESIRED_BUCKET, { bindOnly: true });

    const policy = {
      policy: {
        waves: [{ name: "canary", selector: { tier: "canary" }, bakeSeconds: 1 }],
        remaining: { requireApproval: true },
        progressDeadlineSeconds: 120,
      },
    };
    expect((await api("PUT", "/v1/environments/prod", policy)).status).toBe(201);
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
    const first = await awaitingApproval(new Set());
    expect((await api("POST", `/v1/rollouts/${first.id}/promote`)).status).toBe(200);
    await succeeded(first.id);
  }, 400_000);

  afterAll(async () => {
    await restarted?.stop();
    await nc?.close();
    await fleet?.stop();
  });

  it("starts on one key, told to every agent as key set v0", async () => {
    const keys = (await api("GET", "/v1/hub/keys")).json;
    expect(keys).toMatchObject({ version: 0, phase: "steady", clusters: 3, retiredKeyIds: [] });
    oldKeyId = keys.currentKeyId;
    expect((await api("GET", "/v1/hub")).json.hubKeyId).toBe(oldKeyId);
    const redis = new Redis(fleet.redis.url);
    oldSealed = (await redis.get("flotilla:hub-signing-key")) ?? "";
    await redis.quit();
    for (const c of CLUSTERS) {
      const entry = await until(
        `${c.name}'s key set`,
        async () => (await desired.get(hubKeySetKey(c.name))) ?? undefined,
      );
      const ring = new KeyRing([publicKeyFromPem((await api("GET", "/v1/hub")).json.hubPublicKey)]);
      expect(open(HUB_KEY_SET, entry.value, ring).message.version).toBe(0);
    }
  });

  it("rotates the key mid-rollout; the rollout completes and every agent ends on the new key alone", async () => {
    try {
      const known = new Set((await rollouts()).map((r) => r.id));
      await repo.commit("main", manifests("v2"));
      const r = await awaitingApproval(known);
      // The canary wave went out under the old key; the rest waits for approval.
      expect(await configVersion("canary")).toBe("v2");
      expect(await configVersion("eu-1")).toBe("v1");
      expect(await signerOf(stateKey("canary", "shop"))).toBe(oldKeyId);
      expect(follower.replica).not.toBe((await api("GET", "/v1/hub")).json.leaderReplica);

      // The whole walk, against the replica that does not lead.
      const walk = await cli(["hub", "rotate-key", "start", "--wait", "--timeout", "120"], follower);
      expect(walk.code, walk.stderr).toBe(0);
      expect(walk.stderr).toMatch(/next key \w+ announced in key set v1/);
      expect(walk.stderr).toContain("3 of 3 clusters hold key set v1");
      expect(walk.stdout).toMatch(/Key set:\s+v3\n/);

      const keys = (await api("GET", "/v1/hub/keys", undefined, follower)).json;
      expect(keys).toMatchObject({ version: 3, phase: "steady", retiredKeyIds: [oldKeyId] });
      newKeyId = keys.currentKeyId;
      expect(newKeyId).not.toBe(oldKeyId);
      expect(keys.keyIds).toEqual([newKeyId]);
      // The leader learnt the switch from the other replica's event.
      await until(
        "the leader to sign with the new key",
        async () => (await api("GET", "/v1/hub")).json.hubKeyId === newKeyId,
      );

      expect((await api("POST", `/v1/rollouts/${r.id}/promote`)).status).toBe(200);
      await succeeded(r.id);
      for (const c of CLUSTERS) expect(await configVersion(c.name)).toBe("v2");
      for (const name of ["eu-1", "us-1"]) expect(await signerOf(stateKey(name, "shop"))).toBe(newKeyId);
      // The canary's state of the old key was re-signed with the new one, at the same generation.
      expect(await signerOf(stateKey("canary", "shop"))).toBe(newKeyId);
      const canary = (await api("GET", "/v1/apps/shop/status")).json.clusters.find((x: Json) => x.cluster === "canary");
      expect(canary.report.phase).toBe("synced");
      expect(canary.report.observedGeneration).toBe(canary.desired.generation);

      for (const c of CLUSTERS) {
        await until(`${c.name} to say it holds key set v3`, async () => {
          const detail = (await api("GET", `/v1/clusters/${c.name}`)).json;
          return detail.status.hubKeySetVersion === 3;
        });
        const entry = await desired.get(hubKeySetKey(c.name));
        const ring = new KeyRing([publicKeyFromPem((await api("GET", "/v1/hub")).json.hubPublicKey)]);
        const set = open(HUB_KEY_SET, entry?.value ?? new Uint8Array(), ring).message;
        expect(set.version).toBe(3);
        expect(set.publicKeysPem).toHaveLength(1);
      }
      const after = (await api("GET", "/v1/hub/keys")).json;
      expect(after).toMatchObject({ holdingCurrent: 3, lagging: [], byVersion: { "3": 3 } });

      const metrics = await (await fetch(`${leader.url}/metrics`)).text();
      expect(metrics).toMatch(/^flotilla_hub_key_set_version 3$/m);
      const audit = (await api("GET", "/v1/audit?limit=20")).json.items.map((e: Json) => e.action);
      expect(audit).toEqual(expect.arrayContaining(["startKeyRotation", "finishKeyRotation"]));
    } catch (err) {
      await dump();
      throw err;
    }
  });

  it("a cluster away for a whole rotation learns the new key from the set's history when back", async () => {
    try {
      const away = fleet.cluster("us-1");
      await away.agent?.stop();
      const started = await api("POST", "/v1/hub/keys/rotation");
      expect(started.status).toBe(200);
      expect(started.json.version).toBe(4);
      await until(
        "canary and eu-1 to hold v4",
        async () => (await api("GET", "/v1/hub/keys")).json.holdingAnnounced === 2,
      );
      // us-1 last said it holds v3: finishing would leave it behind, so the hub refuses and names it.
      const refused = await api("POST", "/v1/hub/keys/rotation/finish", {});
      expect(refused.status).toBe(409);
      expect(refused.json.message).toContain("1 of 3 clusters do not hold v4 yet: us-1");
      const forced = await api("POST", "/v1/hub/keys/rotation/finish", { force: true });
      expect(forced.status).toBe(200);
      expect(forced.json).toMatchObject({ version: 6, retiredKeyIds: [oldKeyId, newKeyId] });
      const thirdKeyId = forced.json.currentKeyId;
      await until(
        "the leader to sign with the third key",
        async () => (await api("GET", "/v1/hub")).json.hubKeyId === thirdKeyId,
      );
      // While it was away its desired state was re-signed with the third key.
      await until("us-1's state re-signed", async () => (await signerOf(stateKey("us-1", "shop"))) === thirdKeyId);

      const backAt = Date.now();
      // Back on another node: an empty cache directory (the chart's emptyDir) and the bundle
      // naming the retired first key. The held set (v3) comes from the cluster's ConfigMap.
      restarted = await startAgentProcess({
        dir: join(fleet.dir, "agents", "us-1"),
        bootstrap: away.bundle,
        kubeconfig: away.kube.kubeconfigPath,
        git: fleet.git,
        env: {
          FLOTILLA_HEARTBEAT_INTERVAL: "1",
          FLOTILLA_HEALTH_POLL: "1",
          FLOTILLA_CACHE_DIR: join(fleet.dir, "agents", "us-1", "rescheduled-cache"),
        },
      });
      await until("us-1 to say it holds key set v6", async () => {
        const detail = (await api("GET", "/v1/clusters/us-1")).json;
        return detail.status.hubKeySetVersion === 6;
      });
      // It runs its state on, re-signed: a fresh report of the same generation, not a refusal.
      const report = await until("a fresh report from us-1", async () => {
        const s = (await api("GET", "/v1/apps/shop/status")).json;
        const c = s.clusters.find((x: Json) => x.cluster === "us-1");
        return c?.report && c.report.receivedAtMs > backAt ? c : undefined;
      });
      expect(report.report.phase).not.toBe("rejected");
      expect(report.report.observedGeneration).toBe(report.desired.generation);

      // And takes the next rollout, signed by the third key.
      const known = new Set((await rollouts()).map((r) => r.id));
      await repo.commit("main", manifests("v3"));
      const r = await awaitingApproval(known);
      expect((await api("POST", `/v1/rollouts/${r.id}/promote`)).status).toBe(200);
      await succeeded(r.id);
      for (const c of CLUSTERS) expect(await configVersion(c.name)).toBe("v3");
    } catch (err) {
      await dump();
      throw err;
    }
  });
  it("refuses a desired state signed with the retired key, and the agent reports the refusal", async () => {
    try {
      // The old key, as the hub first stored it (sealed) before it grew a key set from it.
      const encryptionKey = await readFile(join(fleet.dir, "hub-1", "encryption.key"), "utf8");
      const oldKey = signingKeyFromPem(openSealed(oldSealed, encryptionKey, "hub-signing-key"));
      expect(oldKey.keyId).toBe(oldKeyId);
      // Redis no longer holds a retired private key: the stored signing key is the current one.
      const redis = new Redis(fleet.redis.url);
      const nowSealed = await redis.get("flotilla:hub-signing-key");
      await redis.quit();
      expect(signingKeyFromPem(openSealed(nowSealed ?? "", encryptionKey, "hub-signing-key")).keyId).toBe(
        (await api("GET", "/v1/hub")).json.hubKeyId,
      );

      const key = stateKey("canary", "shop");
      const entry = await desired.get(key);
      const newPem = (await api("GET", "/v1/hub")).json.hubPublicKey;
      const current = open(DESIRED_STATE, entry?.value ?? new Uint8Array(), new KeyRing([publicKeyFromPem(newPem)]));
      const forged: DesiredStateInit = {
        ...current.message,
        generation: Number(current.message.generation) + 1,
        issuedAtMs: Date.now(),
      };
      await desired.put(key, seal(DESIRED_STATE, forged, oldKey));

      const report = await until("canary to report the forged generation refused", async () => {
        const s = (await api("GET", "/v1/apps/shop/status")).json;
        const c = s.clusters.find((x: Json) => x.cluster === "canary");
        return c?.report?.phase === "rejected" && c.report.rejectedGeneration === forged.generation
          ? c.report
          : undefined;
      });
      expect(report.error.code).toMatch(/signature/i);
      expect(report.error.message).toContain(oldKeyId);
      expect(await configVersion("canary")).toBe("v3");
    } catch (err) {
      await dump();
      throw err;
    }
  });
});
