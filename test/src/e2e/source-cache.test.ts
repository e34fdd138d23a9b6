/**
 * The hub's Git cache against a real `git http-backend` behind basic auth: it fetches a head at
 * depth 1, reads its commit (author, message, committer time) and files, and stays under its cap.
 */
import { startGitServer } from "@flotilla/devfleet";
import { GitSourceCache } from "@flotilla/hub";
import { guardedGitHttp, parseAllowList } from "@flotilla/netguard";
import { expect, it } from "vitest";

it("reads a new head's commit and tree, and evicts repositories over its size cap", async () => {
  const git = await startGitServer();
  // The hub's rules as the fleet sets them for its loopback Git server.
  const http = guardedGitHttp({ rules: { allowHttp: true, allowed: parseAllowList(["127.0.0.1"]) } });
  const cache = new GitSourceCache({ http, maxBytes: 1024 * 1024 });
  try {
    const repo = await git.createRepo("shop", { main: { "apps/a/x.yaml": "1" } });
    const credentials = { username: git.username, password: git.password };
    const first = await repo.head("main");
    const r = await cache.read("shop", repo.url, credentials, "main", first);
    expect(r.commit.message).toBe("create main");
    expect(r.commit.committedAtMs).toBeGreaterThan(0);
    expect(await r.tree.text("apps/a/x.yaml")).toBe("1");
    expect((await r.tree.entry("apps/a"))?.type).toBe("tree");
    const second = await repo.commit("main", { "apps/a/x.yaml": "2" }, "a: two");
    const r2 = await cache.read("shop", repo.url, credentials, "main", second);
    expect(r2.commit.message).toBe("a: two");
    expect((await r2.tree.entry("apps/a"))?.oid).not.toBe((await r.tree.entry("apps/a"))?.oid);
    await expect(
      cache.read("shop", repo.url, { ...credentials, password: "wrong" }, "main", "f".repeat(40)),
    ).rejects.toThrow(/cannot read commit/);
    expect(await cache.sizeBytes()).toBeLessThan(1024 * 1024);
    // Nothing but the loopback Git server is allowed.
    await expect(cache.read("x", "http://169.254.169.254/x.git", undefined, "main", first)).rejects.toThrow(
      /cannot read commit .*a cloud metadata address/,
    );
  } finally {
    await cache.close();
    await git.stop();
  }
}, 60_000);
