import * as fs from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { guardedGitHttp, STRICT_RULES } from "@flotilla/netguard";
import git from "isomorphic-git";
import { afterAll, describe, expect, it } from "vitest";
import { FetchError, RenderLimitError, RepoUrlRefusedError } from "./errors.js";
import { GitCache } from "./git-source.js";
import { DEFAULT_RENDER_LIMITS, ReadBudget } from "./render-limits.js";

const URL = "https://git.example/bomb.git";
const dir = mkdtempSync(join(tmpdir(), "agent-git-source-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A commit written straight into the cache's object store, as a fetch would leave it. */
async function commitTree(
  cache: GitCache,
  entries: { mode: string; path: string; oid: string; type: "blob" | "tree" | "commit" }[],
) {
  const gitdir = cache.gitdirOf(URL);
  if (!fs.existsSync(join(gitdir, "config"))) await git.init({ fs, gitdir, bare: true });
  const tree = await git.writeTree({ fs, gitdir, tree: entries });
  const author = { name: "t", email: "t@example.invalid", timestamp: 0, timezoneOffset: 0 };
  return git.writeCommit({ fs, gitdir, commit: { message: "c", tree, parent: [], author, committer: author } });
}

async function blob(cache: GitCache, text: string): Promise<string> {
  return git.writeBlob({ fs, gitdir: cache.gitdirOf(URL), blob: new TextEncoder().encode(text) });
}

describe("GitCache snapshots", () => {
  const cache = new GitCache(dir, [], guardedGitHttp({ rules: STRICT_RULES }));

  it.each([
    ["http://169.254.169.254/x", /plain HTTP is not allowed/],
    ["https://localhost:6379/x", /localhost resolves to a loopback address/],
    ["https://0x7f000001/x", /a loopback address \(127\.0\.0\.1\)/],
  ])("refuses to fetch %s, terminally, in one line", async (url, message) => {
    const err = await cache.ensureCommit(url, "main", "1".repeat(40)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RepoUrlRefusedError);
    expect((err as RepoUrlRefusedError).retryable).toBe(false);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message.split("\n")).toHaveLength(1);
  });

  it("retries a name that does not resolve", async () => {
    const err = await cache.ensureCommit("https://nowhere.invalid/x", "main", "1".repeat(40)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FetchError);
    expect((err as FetchError).retryable).toBe(true);
  });

  it("reads files and directories, and follows neither symlinks nor submodules", async () => {
    const gitdir = cache.gitdirOf(URL);
    await git.init({ fs, gitdir, bare: true });
    const a = await blob(cache, "a: 1\n");
    const link = await blob(cache, "/etc/passwd");
    const sub = await git.writeTree({ fs, gitdir, tree: [{ mode: "100644", path: "b.yaml", oid: a, type: "blob" }] });
    const commit = await commitTree(cache, [
      { mode: "100644", path: "a.yaml", oid: a, type: "blob" },
      { mode: "120000", path: "passwd", oid: link, type: "blob" },
      { mode: "160000", path: "vendor", oid: "0".repeat(40), type: "commit" },
      { mode: "040000", path: "sub", oid: sub, type: "tree" },
    ]);
    const snap = cache.snapshot(URL, commit, new ReadBudget());
    expect(await snap.list("")).toEqual(["a.yaml", "sub/b.yaml"]);
    expect(await Promise.all(["", "a.yaml", "sub", "passwd", "vendor", "nope"].map((p) => snap.stat(p)))).toEqual([
      "dir",
      "file",
      "dir",
      undefined,
      undefined,
      undefined,
    ]);
    expect(new TextDecoder().decode(await snap.read("sub/b.yaml"))).toBe("a: 1\n");
    expect(await snap.list("a.yaml")).toEqual([]);
  });

  it("stops listing a tree bomb at the entry limit, quickly", async () => {
    const gitdir = cache.gitdirOf(URL);
    // Each level names the level below ten times: 10^12 paths in a few hundred bytes of objects.
    let oid = await git.writeTree({
      fs,
      gitdir,
      tree: [{ mode: "100644", path: "x.yaml", oid: await blob(cache, "x: 1\n"), type: "blob" }],
    });
    for (let level = 0; level < 12; level++) {
      const tree = Array.from({ length: 10 }, (_, i) => ({
        mode: "040000",
        path: `d${i}`,
        oid,
        type: "tree" as const,
      }));
      oid = await git.writeTree({ fs, gitdir, tree });
    }
    const commit = await commitTree(cache, [{ mode: "040000", path: "app", oid, type: "tree" }]);
    const snap = cache.snapshot(URL, commit, new ReadBudget(DEFAULT_RENDER_LIMITS));
    const err = await snap.list("app").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RenderLimitError);
    expect((err as Error).message).toMatch(/more than 20000 tree entries listed/);
  });

  it("stops at the depth limit", async () => {
    const gitdir = cache.gitdirOf(URL);
    let oid = await git.writeTree({
      fs,
      gitdir,
      tree: [{ mode: "100644", path: "x.yaml", oid: await blob(cache, "x\n"), type: "blob" }],
    });
    for (let level = 0; level < 6; level++)
      oid = await git.writeTree({ fs, gitdir, tree: [{ mode: "040000", path: "d", oid, type: "tree" }] });
    const commit = await commitTree(cache, [{ mode: "040000", path: "app", oid, type: "tree" }]);
    const err = await cache
      .snapshot(URL, commit, new ReadBudget({ ...DEFAULT_RENDER_LIMITS, maxDepth: 3 }))
      .list("app")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RenderLimitError);
    expect((err as Error).message).toMatch(/more than 3 directory levels/);
  });
});
