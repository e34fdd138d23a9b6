import {
  AGENT_REQUEST,
  AGENT_RESPONSE,
  generateSigningKey,
  KeyRing,
  open,
  publicKeyToPem,
  type SigningKey,
  seal,
} from "@flotilla/proto";
import { describe, expect, it } from "vitest";
import { NotFoundError } from "../errors.js";
import type { ClusterRecord, DesiredRecord, DesiredStore, ObjectReader, RecordOf, StoredKind } from "../store.js";
import { AgentCalls, type AgentChannel } from "./agent-calls.js";

const hubKey = generateSigningKey();
const agentKeys: Record<string, SigningKey> = {
  a: generateSigningKey(),
  b: generateSigningKey(),
  c: generateSigningKey(),
};

function cluster(name: string): ClusterRecord {
  const key = agentKeys[name] as SigningKey;
  return { name, labels: {}, agentPublicKey: publicKeyToPem(key.publicKey), createdAtMs: 0 };
}

function desired(cluster: string, removed = false): DesiredRecord {
  return {
    cluster,
    app: "web",
    generation: 1,
    environment: "prod",
    repo: "r",
    branch: "main",
    revision: "abc",
    path: ".",
    rolloutId: "",
    fingerprint: "f",
    publishedAtMs: 0,
    ...(removed ? { removed: true } : {}),
  };
}

/** The registry and desired states of one app on clusters a, b and c (removed from d). */
class Store implements ObjectReader, Pick<DesiredStore, "listDesired"> {
  readonly clusters = new Map(["a", "b", "c"].map((n) => [n, cluster(n)]));
  async getObject<K extends StoredKind>(kind: K, name: string): Promise<RecordOf[K] | undefined> {
    if (kind === "App" && name === "web") return { name: "web" } as RecordOf[K];
    return undefined;
  }
  async listObjects<K extends StoredKind>(_kind: K): Promise<RecordOf[K][]> {
    return [];
  }
  async getObjects<K extends StoredKind>(_kind: K, names: readonly string[]): Promise<Map<string, RecordOf[K]>> {
    return new Map(names.flatMap((n) => (this.clusters.has(n) ? [[n, this.clusters.get(n) as RecordOf[K]]] : [])));
  }
  async listDesired(): Promise<DesiredRecord[]> {
    return [desired("c"), desired("a"), desired("b"), desired("d", true)];
  }
}

/**
 * Agents: a answers with a diff signed by its key, b with one signed by c's key (forged), c does
 * not answer. Records what each was asked, verified with the hub's key.
 */
function channel(asked: string[]): AgentChannel {
  const ring = new KeyRing([hubKey.publicKey]);
  return {
    async request(name, data) {
      const command = open(AGENT_REQUEST, data, ring).message;
      asked.push(`${name}:${command.diff ? "diff" : "refresh"}`);
      if (name === "c") throw Object.assign(new Error("TIMEOUT"), { code: "TIMEOUT" });
      const signer = name === "b" ? (agentKeys.c as SigningKey) : (agentKeys.a as SigningKey);
      return seal(
        AGENT_RESPONSE,
        {
          ok: true,
          message: "1 object(s) differ",
          diffs: [
            { ref: { group: "", version: "v1", kind: "ConfigMap", namespace: "web", name: "cfg" }, fields: ["data.x"] },
          ],
        },
        signer,
      );
    },
  };
}

describe("AgentCalls", () => {
  it("asks every cluster the app is published to, verifies each answer with that cluster's key, and reports the rest", async () => {
    const asked: string[] = [];
    const store = new Store();
    const calls = new AgentCalls({ objects: store, desired: store, channel: channel(asked), hubKey, timeoutMs: 1_000 });
    const diff = await calls.diff("web");
    expect(asked.sort()).toEqual(["a:diff", "b:diff", "c:diff"]);
    expect(diff.clusters.map((c) => [c.cluster, c.ok, c.objects.length])).toEqual([
      ["a", true, 1],
      ["b", false, 0],
      ["c", false, 0],
    ]);
    expect(diff.clusters[0]?.objects[0]).toEqual({
      group: "",
      version: "v1",
      kind: "ConfigMap",
      namespace: "web",
      name: "cfg",
      fields: ["data.x"],
    });
    expect(diff.clusters[1]?.message).toMatch(/^no usable answer: /);
    expect(diff.clusters[2]?.message).toBe("the agent did not answer within 1s: is it running and connected to NATS?");
  });

  it("sends refresh, and refuses an app that does not exist", async () => {
    const asked: string[] = [];
    const store = new Store();
    const calls = new AgentCalls({ objects: store, desired: store, channel: channel(asked), hubKey });
    const refreshed = await calls.refresh("web");
    expect(refreshed.clusters.map((c) => c.ok)).toEqual([true, false, false]);
    expect(asked.sort()).toEqual(["a:refresh", "b:refresh", "c:refresh"]);
    await expect(calls.diff("nope")).rejects.toBeInstanceOf(NotFoundError);
  });
});
