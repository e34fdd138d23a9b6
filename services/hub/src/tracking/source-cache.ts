/**
 * The hub's bounded on-disk Git cache: one bare, shallow repository per registered repo, fetched
 * by branch when the tracker needs a commit it has not seen (depth 1: only the new head's
 * objects come over). It answers two questions about that commit: who made it and when (a
 * rollout's lead time starts at the commit), and what an app's inputs were (so an app whose
 * files did not change does not roll). Only the leader's tracker uses it.
 *
 * Bounded: after each fetch the cache measures itself, and while it is over its size cap it
 * deletes whole repositories, least recently used first (a deleted one is fetched again, at
 * depth 1, when next needed); repositories of repos no longer registered go the same way.
 */

import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { GitCredentials } from "@flotilla/api";
import { describeGitError, type GitHttpClient, NetGuardError } from "@flotilla/netguard";
import git from "isomorphic-git";
import { DEFAULT_GIT_CACHE_MAX_BYTES } from "../config.js";
import { GitError } from "../errors.js";
import type { CommitInfo } from "../rollout/index.js";
import type { CommitTree } from "./inputs.js";

/** Depth of the second fetch when the head moved on between listing and fetching. */
const DEEPEN = 20;

/** One commit as the cache read it. */
export interface CommitSource {
  commit: CommitInfo;
  tree: CommitTree;
}

/** Reads commits of a repo's branch. */
export interface SourceReader {
  /** The commit `sha` of `branch`; throws GitError when it cannot be fetched. */
  read(
    repo: string,
    url: string,
    credentials: GitCredentials | undefined,
    branch: string,
    sha: string,
  ): Promise<CommitSource>;
}

export interface GitSourceCacheOptions {
  /**
   * The HTTP client of every fetch: `guardedGitHttp` of @flotilla/netguard, holding each request
   * to the Git URL rules (checked after resolving, no redirects, capped, no server text in errors).
   */
  http: GitHttpClient;
  /** Directory of the cache; undefined: a temporary one, removed by close(). */
  dir?: string;
  /** @default {@link DEFAULT_GIT_CACHE_MAX_BYTES} */
  maxBytes?: number;
}

/** {@link SourceReader} over isomorphic-git and a directory on disk. */
export class GitSourceCache implements SourceReader {
  readonly #lastUse = new Map<string, number>();
  #queue: Promise<unknown> = Promise.resolve();
  #dir: Promise<string>;
  readonly #temporary: boolean;
  readonly #maxBytes: number;
  readonly #http: GitHttpClient;

  constructor(o: GitSourceCacheOptions) {
    this.#http = o.http;
    this.#temporary = o.dir === undefined;
    this.#dir =
      o.dir === undefined
        ? mkdtemp(join(tmpdir(), "flotilla-hub-git-"))
        : fs.promises.mkdir(o.dir, { recursive: true }).then(() => o.dir as string);
    this.#maxBytes = o.maxBytes ?? DEFAULT_GIT_CACHE_MAX_BYTES;
  }

  /** Removes a temporary cache; a configured directory is kept for the next start. */
  async close(): Promise<void> {
    await this.#queue.catch(() => undefined);
    if (this.#temporary) await rm(await this.#dir, { recursive: true, force: true });
  }

  /** One operation at a time: a fetch never races an eviction of its directory. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  read(
    repo: string,
    url: string,
    credentials: GitCredentials | undefined,
    branch: string,
    sha: string,
  ): Promise<CommitSource> {
    return this.#serial(async () => {
      const name = `${repo}-${createHash("sha256").update(url).digest("hex").slice(0, 12)}`;
      const gitdir = join(await this.#dir, name);
      this.#lastUse.set(name, Date.now());
      try {
        if (!(await hasCommit(gitdir, sha))) {
          await git.init({ fs, gitdir, bare: true });
          // fetch reads its refspec from the remote's config, even with a URL given.
          await git.addRemote({ fs, gitdir, remote: "origin", url, force: true });
          const fetchArgs = {
            fs,
            http: this.#http,
            gitdir,
            url,
            ref: branch,
            singleBranch: true,
            tags: false,
            ...(credentials
              ? { onAuth: () => ({ username: credentials.username, password: credentials.password }) }
              : {}),
            onAuthFailure: () => ({ cancel: true }),
          };
          await git.fetch({ ...fetchArgs, depth: 1 });
          // The branch may have moved on since it was listed: reach back a little further.
          if (!(await hasCommit(gitdir, sha))) await git.fetch({ ...fetchArgs, depth: DEEPEN });
          if (!(await hasCommit(gitdir, sha)))
            throw new Error(`commit ${sha} is no longer within ${DEEPEN} commits of branch ${branch}`);
          await this.#bound(name);
        }
        const { commit } = await git.readCommit({ fs, gitdir, oid: sha });
        const info: CommitInfo = {
          message: commit.message.trim(),
          author: `${commit.author.name} <${commit.author.email}>`,
          committedAtMs: commit.committer.timestamp * 1000,
        };
        return { commit: info, tree: commitTree(gitdir, sha) };
      } catch (err) {
        // isomorphic-git's errors (those with a code) can quote what the server sent: they are
        // described from codes and statuses only, and not kept as the cause.
        const remote = err instanceof NetGuardError || typeof (err as { code?: unknown }).code === "string";
        if (remote) throw new GitError(repo, `cannot read commit ${sha} of ${url}: ${describeGitError(err)}`);
        throw new GitError(repo, `cannot read commit ${sha} of ${url}: ${(err as Error).message}`, { cause: err });
      }
    });
  }

  /** Keeps only the repositories of `repos` (names as registered); the others are deleted. */
  async retain(repos: ReadonlySet<string>): Promise<void> {
    await this.#serial(async () => {
      const dir = await this.#dir;
      for (const name of await readdir(dir)) {
        if (repos.has(name.slice(0, name.lastIndexOf("-")))) continue;
        await rm(join(dir, name), { recursive: true, force: true });
        this.#lastUse.delete(name);
      }
    });
  }

  /** Deletes least recently used repositories while the cache is over its cap; `current` goes last. */
  async #bound(current: string): Promise<void> {
    const dir = await this.#dir;
    const sizes = new Map<string, number>();
    for (const name of await readdir(dir)) sizes.set(name, await sizeOf(join(dir, name)));
    let total = [...sizes.values()].reduce((a, b) => a + b, 0);
    const order = [...sizes.keys()].sort(
      (a, b) =>
        (a === current ? 1 : 0) - (b === current ? 1 : 0) || (this.#lastUse.get(a) ?? 0) - (this.#lastUse.get(b) ?? 0),
    );
    for (const name of order) {
      if (total <= this.#maxBytes || name === current) break;
      await rm(join(dir, name), { recursive: true, force: true });
      this.#lastUse.delete(name);
      total -= sizes.get(name) ?? 0;
    }
  }

  /** Bytes on disk now (for tests and the metrics of a caller). */
  async sizeBytes(): Promise<number> {
    return sizeOf(await this.#dir);
  }
}

async function hasCommit(gitdir: string, sha: string): Promise<boolean> {
  try {
    await git.readCommit({ fs, gitdir, oid: sha });
    return true;
  } catch {
    return false;
  }
}

async function sizeOf(path: string): Promise<number> {
  const s = await stat(path).catch(() => undefined);
  if (!s) return 0;
  if (!s.isDirectory()) return s.size;
  let total = 0;
  for (const name of await readdir(path)) total += await sizeOf(join(path, name));
  return total;
}

/** The files of commit `sha` in the cache; objects are read on demand. */
function commitTree(gitdir: string, sha: string): CommitTree {
  const cache = {};
  return {
    async entry(path) {
      if (path === "") {
        const { oid } = await git.readTree({ fs, gitdir, oid: sha, cache });
        return { oid, type: "tree" };
      }
      const slash = path.lastIndexOf("/");
      const parent = slash < 0 ? "" : path.slice(0, slash);
      const base = path.slice(slash + 1);
      try {
        const { tree } = await git.readTree({ fs, gitdir, oid: sha, cache, ...(parent ? { filepath: parent } : {}) });
        const e = tree.find((t) => t.path === base);
        if (!e) return undefined;
        return { oid: e.oid, type: e.type === "tree" ? "tree" : "blob" };
      } catch {
        return undefined;
      }
    },
    async text(path) {
      try {
        const { blob } = await git.readBlob({ fs, gitdir, oid: sha, filepath: path, cache });
        return Buffer.from(blob).toString("utf8");
      } catch {
        return undefined;
      }
    },
  };
}
