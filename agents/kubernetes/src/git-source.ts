/**
 * Reads exact commits of Git repositories: one bare cache repository per URL, fetched by branch
 * only when the commit is not already there, and read straight from the object store (no
 * working tree), lazily and within a {@link ReadBudget}.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { describeGitError, type GitHttpClient, ResponseTooLargeError, UrlRefusedError } from "@flotilla/netguard";
import git from "isomorphic-git";
import { FetchError, RepoUrlRefusedError, RevisionNotFoundError } from "./errors.js";
import { credentialFor, type GitCredential } from "./git-credentials.js";
import type { ReadBudget } from "./render-limits.js";

/** What a path is in a commit (symlinks and submodules are not followed: a link could leave the repository). */
export type EntryType = "file" | "dir";

/** One commit's files, read on demand; every read counts against the budget it was opened with. */
export interface Snapshot {
  /** What repository path `path` ("" for the root) is, undefined when the commit has nothing there. */
  stat(path: string): Promise<EntryType | undefined>;
  /** The bytes of the file at `path`. */
  read(path: string): Promise<Uint8Array>;
  /** Every file under directory `dir`, recursively, as repository paths; [] when `dir` is not a directory. */
  list(dir: string): Promise<string[]>;
}

/** Where the agent gets an app's source: the seam between reconciling and Git. */
export interface GitSource {
  /**
   * Makes sure `revision` is in the cache, fetching `branch` when it is not. Throws FetchError
   * (retryable) when the server fails, RevisionNotFoundError when the fetch succeeded without it.
   */
  ensureCommit(url: string, branch: string, revision: string): Promise<{ fetched: boolean }>;
  /** Opens `revision` of `url` (already in the cache) for reading within `budget`. */
  snapshot(url: string, revision: string, budget: ReadBudget): Snapshot;
}

const REMOTE = "origin";
/** Git file modes of what a snapshot follows; symlinks (120000) and submodules (160000) are not. */
const TREE_MODE = "040000";
const FILE_MODES = new Set(["100644", "100755"]);

interface Entry {
  name: string;
  mode: string;
  oid: string;
}

/** {@link GitSource} over isomorphic-git; safe to share between apps (one fetch per repository at a time). */
export class GitCache implements GitSource {
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(
    readonly cacheDir: string,
    readonly credentials: readonly GitCredential[],
    /** The HTTP client of every fetch: `guardedGitHttp` of @flotilla/netguard, holding URLs to the Git URL rules. */
    private readonly http: GitHttpClient,
  ) {}

  /** Cache directory of a repository URL. */
  gitdirOf(url: string): string {
    return join(this.cacheDir, createHash("sha256").update(url).digest("hex").slice(0, 24));
  }

  async ensureCommit(url: string, branch: string, revision: string): Promise<{ fetched: boolean }> {
    const gitdir = this.gitdirOf(url);
    return this.#serialize(gitdir, async () => {
      if (await this.#hasCommit(gitdir, revision)) return { fetched: false };
      await this.#initCache(gitdir, url);
      const cred = credentialFor(this.credentials, url);
      try {
        await git.fetch({
          fs,
          http: this.http,
          gitdir,
          remote: REMOTE,
          ref: branch,
          singleBranch: true,
          tags: false,
          onAuth: () => (cred ? { username: cred.username, password: cred.password } : { cancel: true }),
          // Without this isomorphic-git asks onAuth again forever on a 401 with bad credentials.
          onAuthFailure: () => ({ cancel: true }),
        });
      } catch (err) {
        if ((err as { code?: string }).code === "NotFoundError") throw new RevisionNotFoundError(url, branch, revision);
        // A refused URL, or an answer too large, stays so; a name that does not resolve, or a server
        // that fails, may do better later.
        if (err instanceof UrlRefusedError || err instanceof ResponseTooLargeError) {
          throw new RepoUrlRefusedError(err.message);
        }
        // The cause is dropped on purpose: isomorphic-git's errors can quote what the server sent.
        throw new FetchError(url, describeGitError(err));
      }
      if (!(await this.#hasCommit(gitdir, revision))) throw new RevisionNotFoundError(url, branch, revision);
      return { fetched: true };
    });
  }

  snapshot(url: string, revision: string, budget: ReadBudget): Snapshot {
    return new CommitSnapshot(this.gitdirOf(url), revision, budget);
  }

  async #hasCommit(gitdir: string, revision: string): Promise<boolean> {
    if (!fs.existsSync(join(gitdir, "config"))) return false;
    try {
      await git.readCommit({ fs, gitdir, oid: revision });
      return true;
    } catch {
      return false;
    }
  }

  async #initCache(gitdir: string, url: string): Promise<void> {
    if (fs.existsSync(join(gitdir, "config"))) return;
    await mkdir(gitdir, { recursive: true });
    await git.init({ fs, gitdir, bare: true });
    await git.addRemote({ fs, gitdir, remote: REMOTE, url, force: true });
  }

  /** Runs `fn` after any earlier work on the same cache repository. */
  async #serialize<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(key) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.#locks.set(key, settled);
    try {
      return await next;
    } finally {
      if (this.#locks.get(key) === settled) this.#locks.delete(key);
    }
  }
}

/**
 * One commit read through isomorphic-git. Trees are read once per snapshot and kept by object id,
 * so a subtree named many times costs one read; what is listed still counts entry by entry.
 */
class CommitSnapshot implements Snapshot {
  /** One pack cache per snapshot: packs stay in memory only while a commit is being read. */
  readonly #cache = {};
  readonly #trees = new Map<string, Promise<Entry[]>>();
  #root: Promise<string> | undefined;

  constructor(
    private readonly gitdir: string,
    private readonly revision: string,
    private readonly budget: ReadBudget,
  ) {}

  async stat(path: string): Promise<EntryType | undefined> {
    const found = await this.#resolve(path);
    return found?.type;
  }

  async read(path: string): Promise<Uint8Array> {
    const found = await this.#resolve(path);
    if (found?.type !== "file") throw new Error(`${path} is not a file of ${this.revision}`);
    const { blob } = await git.readBlob({ fs, gitdir: this.gitdir, oid: found.oid, cache: this.#cache });
    this.budget.read(blob.byteLength, path);
    return blob;
  }

  async list(dir: string): Promise<string[]> {
    const found = await this.#resolve(dir);
    if (found?.type !== "dir") return [];
    const out: string[] = [];
    const visit = async (oid: string, path: string, depth: number): Promise<void> => {
      this.budget.descend(depth, path);
      const entries = await this.#tree(oid);
      this.budget.visit(entries.length, path);
      for (const e of entries) {
        const child = path ? `${path}/${e.name}` : e.name;
        if (e.mode === TREE_MODE) await visit(e.oid, child, depth + 1);
        else if (FILE_MODES.has(e.mode)) out.push(child);
      }
    };
    await visit(found.oid, dir, 0);
    return out;
  }

  /** The entry at repository path `path`, following directories only. */
  async #resolve(path: string): Promise<{ type: EntryType; oid: string } | undefined> {
    let oid = await this.#rootTree();
    if (path === "") return { type: "dir", oid };
    const parts = path.split("/");
    for (const [i, name] of parts.entries()) {
      const entry = (await this.#tree(oid)).find((e) => e.name === name);
      if (!entry) return undefined;
      const last = i === parts.length - 1;
      if (entry.mode === TREE_MODE) {
        oid = entry.oid;
        if (last) return { type: "dir", oid };
      } else if (last && FILE_MODES.has(entry.mode)) {
        return { type: "file", oid: entry.oid };
      } else {
        return undefined;
      }
    }
    return undefined;
  }

  #rootTree(): Promise<string> {
    this.#root ??= git
      .readCommit({ fs, gitdir: this.gitdir, oid: this.revision, cache: this.#cache })
      .then((c) => c.commit.tree);
    return this.#root;
  }

  #tree(oid: string): Promise<Entry[]> {
    let entries = this.#trees.get(oid);
    if (!entries) {
      entries = git
        .readTree({ fs, gitdir: this.gitdir, oid, cache: this.#cache })
        .then((t) => t.tree.map((e) => ({ name: e.path, mode: e.mode, oid: e.oid })));
      this.#trees.set(oid, entries);
    }
    return entries;
  }
}
