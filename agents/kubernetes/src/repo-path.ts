import { posix } from "node:path";
import { PathEscapeError } from "./errors.js";

/**
 * Normalizes a path inside a repository to a relative POSIX path ("" for the root).
 * Throws PathEscapeError for absolute paths, backslashes, NUL bytes, or `..` that leaves the root.
 */
export function resolveRepoPath(path: string): string {
  if (path.includes("\0") || path.includes("\\") || posix.isAbsolute(path)) throw new PathEscapeError(path);
  const normalized = posix.normalize(path === "" ? "." : path);
  if (normalized === ".." || normalized.startsWith("../")) throw new PathEscapeError(path);
  return normalized === "." ? "" : normalized.replace(/\/+$/, "");
}

/** Joins a relative `child` onto repository directory `dir`, refusing escapes from the repository. */
export function joinRepoPath(dir: string, child: string): string {
  if (posix.isAbsolute(child)) throw new PathEscapeError(child);
  return resolveRepoPath(dir === "" ? child : `${dir}/${child}`);
}
