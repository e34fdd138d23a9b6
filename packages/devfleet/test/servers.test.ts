import * as fs from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import git from "isomorphic-git";
import http from "isomorphic-git/http/node";
import { connect, StorageType, StringCodec } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type GitServer,
  type NatsCluster,
  type NatsServer,
  type RedisServer,
  startGitServer,
  startNats,
  startNatsCluster,
  startRedis,
} from "../src/index.js";

const sc = StringCodec();

describe("nats-server", () => {
  let nats: NatsServer;
  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(() => nats?.stop());

  it("round-trips a JetStream KV value and keeps it across a restart", async () => {
    let nc = await connect(nats.clientOptions());
    const kv = await nc.jetstream().views.kv("harness", { history: 1 });
    await kv.put("a.web", sc.encode("v1"));
    expect(sc.decode((await kv.get("a.web"))?.value ?? new Uint8Array())).toBe("v1");
    await nc.close();

    await nats.restart();
    nc = await connect(nats.clientOptions());
    const again = await nc.jetstream().views.kv("harness");
    expect(sc.decode((await again.get("a.web"))?.value ?? new Uint8Array())).toBe("v1");
    await nc.close();
  });
});

describe("nats-server cluster", () => {
  let cluster: NatsCluster;
  beforeAll(async () => {
    cluster = await startNatsCluster({ syncAlways: false });
  });
  afterAll(() => cluster?.stop());

  it("serves TLS on every node's client port, with one CA, and replicates a KV over it", async () => {
    expect(cluster.tls?.ca).toContain("BEGIN CERTIFICATE");
    for (const node of cluster.nodes) {
      const nc = await connect({ ...cluster.clientOptions(), servers: [node.url] });
      expect(nc.info?.tls_required).toBe(true);
      await nc.close();
    }
    const nc = await connect(cluster.clientOptions());
    const kv = await nc.jetstream().views.kv("harness", { history: 1, replicas: 3, storage: StorageType.File });
    await kv.put("a.web", sc.encode("r3"));
    expect(sc.decode((await kv.get("a.web"))?.value ?? new Uint8Array())).toBe("r3");
    await nc.close();
    const plain = await connect({ servers: cluster.url.split(","), tls: null, reconnect: false }).then(
      async (c) => {
        await c.close();
        return "connected";
      },
      () => "refused",
    );
    expect(plain).toBe("refused");
  });
});

describe("redis-server", () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis?.stop());

  it("is its own server and keeps a key across a restart", async () => {
    let client = new Redis(redis.url, { lazyConnect: true });
    await client.connect();
    expect(redis.port).not.toBe(6379);
    await client.set("flotilla:probe", "kept");
    client.disconnect();

    await redis.restart();
    client = new Redis(redis.url, { lazyConnect: true });
    await client.connect();
    expect(await client.get("flotilla:probe")).toBe("kept");
    client.disconnect();
  });
});

describe("git smart-HTTP server", () => {
  let server: GitServer;
  let dir: string;
  beforeAll(async () => {
    server = await startGitServer();
    dir = await mkdtemp(join(tmpdir(), "flotilla-clone-"));
  });
  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("serves branch heads and clones with credentials, and refuses without them", async () => {
    const repo = await server.createRepo("web", {
      main: { "deploy/app.yaml": "kind: ConfigMap\n" },
      develop: { "deploy/app.yaml": "kind: ConfigMap # dev\n" },
    });
    const onAuth = () => ({ username: server.username, password: server.password });

    const refs = await git.listServerRefs({ http, url: repo.url, onAuth, protocolVersion: 2, prefix: "refs/heads/" });
    const heads = Object.fromEntries(refs.map((r) => [r.ref, r.oid]));
    expect(heads["refs/heads/main"]).toBe(await repo.head("main"));
    expect(heads["refs/heads/develop"]).toBe(await repo.head("develop"));
    expect(heads["refs/heads/main"]).not.toBe(heads["refs/heads/develop"]);

    await git.clone({ fs, http, dir, url: repo.url, ref: "develop", singleBranch: true, onAuth });
    expect(await readFile(join(dir, "deploy/app.yaml"), "utf8")).toContain("# dev");

    await expect(
      git.listServerRefs({ http, url: repo.url, onAuth: () => ({ username: "x", password: "wrong" }) }),
    ).rejects.toThrow(/401/);
    await expect(git.listServerRefs({ http, url: repo.url })).rejects.toThrow(/401/);
  });

  it("publishes new commits pushed to a branch", async () => {
    const repo = await server.createRepo("api", { main: { "a.txt": "1" } });
    const before = await repo.head("main");
    const sha = await repo.commit("main", { "a.txt": "2", "b.txt": "new" }, "second");
    expect(sha).toMatch(/^[0-9a-f]{40}$/);
    expect(sha).not.toBe(before);
    const onAuth = () => ({ username: server.username, password: server.password });
    const refs = await git.listServerRefs({ http, url: repo.url, onAuth, protocolVersion: 2, prefix: "refs/heads/" });
    expect(refs.find((r) => r.ref === "refs/heads/main")?.oid).toBe(sha);
  });
});
