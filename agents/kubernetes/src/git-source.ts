/**
 * Reads one exact commit of a repository with isomorphic-git: one bare cache repository per
 * URL, fetched by branch only when the commit is not already there, and read straight from the
 * object store (no working tree).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import git from "isomorphic-git";
import http from "isomorphic-git/http/node";
import { FetchError, RevisionNotFoundError } from "./errors.js";
import { credentialFor, type GitCredential } from "./git-credentials.js";
import type { ManifestFile } from "./manifest.js";

/** One file of a commit: path relative to the repository root, and its blob id. */
interface TreeFile {
  path: string;
  oid: string;
}

const REMOTE = "origin";

/** Fetches and reads commits; safe to share between apps (one fetch per repository at a time). */
export class GitSource {
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(
    readonly cacheDir: string,
    readonly credentials: readonly GitCredential[],
  ) {}

  /** Cache directory of a repository URL. */
  gitdirOf(url: string): string {
    return join(this.cacheDir, createHash("sha256").update(url).digest("hex").slice(0, 24));
  }

  /**
   * Makes sure `revision` is in the cache, fetching `branch` when it is not. Throws FetchError
   * (retryable) when the server fails, RevisionNotFoundError when the fetch succeeded without it.
   */
  async ensureCommit(url: string, branch: string, revision: string): Promise<{ fetched: boolean }> {
    const gitdir = this.gitdirOf(url);
    return this.#serialize(gitdir, async () => {
      if (await this.#hasCommit(gitdir, revision)) return { fetched: false };
      await this.#initCache(gitdir, url);
      const cred = credentialFor(this.credentials, url);
      try {
        await git.fetch({
          fs,
          http,
          gitdir,
          remote: REMOTE,
          ref: branch,
          singleBranch: true,
          tags: false,
          onAuth: () => (cred ? { username: cred.username, password: cred.password } : { cancel: true }),
        });
      } catch (err) {
        const e = err as { code?: string; data?: { statusCode?: number }; message: string };
        if (e.code === "NotFoundError") throw new RevisionNotFoundError(url, branch, revision);
        const status = e.data?.statusCode ? `HTTP ${e.data.statusCode}: ` : "";
        throw new FetchError(url, `${status}${e.message}`, { cause: err });
      }
      if (!(await this.#hasCommit(gitdir, revision))) throw new RevisionNotFoundError(url, branch, revision);
      return { fetched: true };
    });
  }

  /** Every file under `dir` (repository-relative, "" for the root) in `revision`, recursively. */
  async listFiles(url: string, revision: string, dir: string, cache: object = {}): Promise<TreeFile[]> {
    const gitdir = this.gitdirOf(url);
    const out: TreeFile[] = [];
    const visit = async (treePath: string): Promise<void> => {
      let tree: Awaited<ReturnType<typeof git.readTree>>;
      try {
        tree = await git.readTree({ fs, gitdir, oid: revision, filepath: treePath || undefined, cache });
      } catch (err) {
        if ((err as { code?: string }).code === "NotFoundError" && treePath === dir) return;
        throw err;
      }
      for (const entry of tree.tree) {
        const path = treePath ? `${treePath}/${entry.path}` : entry.path;
        // Symlinks and submodules are skipped: a link could point outside the repository.
        if (entry.type === "tree") await visit(path);
        else if (entry.type === "blob" && entry.mode !== "120000") out.push({ path, oid: entry.oid });
      }
    };
    await visit(dir);
    return out;
  }

  /** Reads the files under `dir` accepted by `filter` as text. */
  async readFiles(
    url: string,
    revision: string,
    dir: string,
    filter: (path: string) => boolean,
  ): Promise<ManifestFile[]> {
    const gitdir = this.gitdirOf(url);
    // One pack cache per read: packs stay in memory only while a commit is being read.
    const cache = {};
    const files = (await this.listFiles(url, revision, dir, cache)).filter((f) => filter(f.path));
    return Promise.all(
      files.map(async (f) => {
        const { blob } = await git.readBlob({ fs, gitdir, oid: f.oid, cache });
        return { path: f.path, content: Buffer.from(blob).toString("utf8") };
      }),
    );
  }

  /** Writes the whole tree of `revision` under `target` (for kustomize and helm, which read a directory). */
  async writeTree(url: string, revision: string, target: string): Promise<void> {
    const gitdir = this.gitdirOf(url);
    const cache = {};
    for (const f of await this.listFiles(url, revision, "", cache)) {
      const { blob } = await git.readBlob({ fs, gitdir, oid: f.oid, cache });
      const path = join(target, f.path);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, blob);
    }
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
