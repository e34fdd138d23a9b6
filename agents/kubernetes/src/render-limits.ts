/**
 * What one render may read from Git and produce. A repository is untrusted input: a small
 * repository can name the same subtree ten times per level (a "tree bomb"), so a listing that
 * follows every entry never ends, and a render tool could be fed gigabytes. Each render gets a
 * budget; the first limit crossed stops it with one line naming the limit.
 */
import { RenderLimitError } from "./errors.js";

/** Caps of one render. */
export interface RenderLimits {
  /** Tree entries (files and directories) visited while listing. @default {@link DEFAULT_RENDER_LIMITS} */
  maxEntries: number;
  /** Directory levels below the app's path. */
  maxDepth: number;
  /** Files read. */
  maxFiles: number;
  /** Bytes of file content read. */
  maxBytes: number;
  /** Objects one render may produce. */
  maxObjects: number;
}

/**
 * Defaults: far above what a real app's directory holds (a large Helm chart has a few hundred
 * files and a few MiB), far below what stalls the agent.
 */
export const DEFAULT_RENDER_LIMITS: RenderLimits = {
  maxEntries: 20_000,
  maxDepth: 24,
  maxFiles: 5_000,
  maxBytes: 64 * 1024 * 1024,
  maxObjects: 10_000,
};

/** Counts what one render reads against its {@link RenderLimits}. */
export class ReadBudget {
  #entries = 0;
  #files = 0;
  #bytes = 0;

  constructor(readonly limits: RenderLimits = DEFAULT_RENDER_LIMITS) {}

  /** Counts `n` tree entries visited under `path`. */
  visit(n: number, path: string): void {
    this.#entries += n;
    if (this.#entries > this.limits.maxEntries) {
      throw new RenderLimitError(
        path,
        `more than ${this.limits.maxEntries} tree entries listed`,
        "the directory holds too many files, or names the same subdirectory many times",
      );
    }
  }

  /** Checks a directory at `depth` levels below where the listing started. */
  descend(depth: number, path: string): void {
    if (depth > this.limits.maxDepth) {
      throw new RenderLimitError(
        path,
        `more than ${this.limits.maxDepth} directory levels`,
        "the directories nest too deep",
      );
    }
  }

  /** Counts one file of `bytes` read at `path`. */
  read(bytes: number, path: string): void {
    this.#files += 1;
    this.#bytes += bytes;
    if (this.#files > this.limits.maxFiles) {
      throw new RenderLimitError(path, `more than ${this.limits.maxFiles} files read`, "the app reads too many files");
    }
    if (this.#bytes > this.limits.maxBytes) {
      throw new RenderLimitError(
        path,
        `more than ${sizeOf(this.limits.maxBytes)} read`,
        "the app's files are too large",
      );
    }
  }

  /** Checks the number of rendered objects. */
  objects(n: number, path: string): void {
    if (n > this.limits.maxObjects) {
      throw new RenderLimitError(
        path,
        `${n} objects rendered, more than ${this.limits.maxObjects}`,
        "the app renders too many objects",
      );
    }
  }
}

function sizeOf(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${Math.round(bytes / 1024 / 1024)} MiB` : `${bytes} bytes`;
}
