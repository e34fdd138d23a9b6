/**
 * Git in memory behind the agent's {@link GitSource}, for unit tests: each revision is a map of
 * repository paths to file contents. Reads count against the budget as the real source's do.
 * Not part of the build (see tsconfig.build.json).
 */
import type { EntryType, GitSource, Snapshot } from "../git-source.js";
import type { ReadBudget } from "../render-limits.js";

/** Files of one commit: repository path → content. */
export type Files = Record<string, string>;

class MemorySnapshot implements Snapshot {
  constructor(
    private readonly files: Files,
    private readonly budget: ReadBudget,
  ) {}

  async stat(path: string): Promise<EntryType | undefined> {
    if (path === "") return "dir";
    if (this.files[path] !== undefined) return "file";
    return Object.keys(this.files).some((f) => f.startsWith(`${path}/`)) ? "dir" : undefined;
  }

  async read(path: string): Promise<Uint8Array> {
    const text = this.files[path];
    if (text === undefined) throw new Error(`${path} is not a file`);
    const bytes = new TextEncoder().encode(text);
    this.budget.read(bytes.byteLength, path);
    return bytes;
  }

  async list(dir: string): Promise<string[]> {
    const prefix = dir ? `${dir}/` : "";
    const found = Object.keys(this.files)
      .filter((f) => f.startsWith(prefix))
      .sort();
    this.budget.visit(found.length, dir);
    return found;
  }
}

export class FakeGit implements GitSource {
  /** Fetches asked for, as `url@revision`. */
  readonly fetches: string[] = [];

  constructor(readonly revisions: Record<string, Files>) {}

  async ensureCommit(url: string, _branch: string, revision: string): Promise<{ fetched: boolean }> {
    this.fetches.push(`${url}@${revision}`);
    return { fetched: false };
  }

  snapshot(_url: string, revision: string, budget: ReadBudget): Snapshot {
    return new MemorySnapshot(this.revisions[revision] ?? {}, budget);
  }
}
