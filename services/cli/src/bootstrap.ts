/**
 * Bootstrap bundles carry an agent's private key and NATS credentials, and the hub shows each
 * one exactly once. They go to a file only the user can read (mode 0600), created exclusively
 * so an older bundle is never overwritten, or to stdout when the user asks with `-`; never
 * into a table or a log line.
 */
import { closeSync, constants, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { BootstrapBundle } from "@flotilla/api";
import { InputFileError } from "./errors.js";

/** File mode of a bundle: owner read/write only. */
export const SECRET_FILE_MODE = 0o600;

/** Default bundle file name of a cluster, in the current directory. */
export function defaultBundlePath(cluster: string, dir = "."): string {
  return join(dir, `${cluster}-bootstrap.json`);
}

/** The JSON text of a bundle as the agent's `--bootstrap` file expects it. */
export function bundleText(bundle: BootstrapBundle): string {
  return `${JSON.stringify(bundle, null, 2)}\n`;
}

/** A secret file created up front, before the request that produces its content. */
export interface ReservedFile {
  /** The path as given, or `-` for stdout. */
  path: string;
  write(text: string): void;
  /** Removes the still-empty file when the request failed, so nothing half-done is left. */
  discard(): void;
}

/**
 * Creates the file now, empty, with mode 0600 (refusing an existing one), so a path that cannot
 * be written fails BEFORE the hub registers anything. `-` writes to `stdout` instead.
 */
export function reserveSecretFile(path: string, stdout: NodeJS.WritableStream): ReservedFile {
  if (path === "-") return { path, write: (text) => void stdout.write(text), discard: () => {} };
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, SECRET_FILE_MODE);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code === "EEXIST"
        ? "already exists; move it away or choose another --bootstrap-out (a bundle is never overwritten)"
        : `cannot be created (${code ?? (err as Error).message})`;
    throw new InputFileError(path, reason, { cause: err });
  }
  let open = true;
  const close = () => {
    if (open) closeSync(fd);
    open = false;
  };
  return {
    path,
    write(text) {
      writeSync(fd, text);
      close();
    },
    discard() {
      close();
      rmSync(path, { force: true });
    },
  };
}

/**
 * Writes a bundle the hub already returned (an apply that created clusters) to `<dir>/<cluster>-bootstrap.json`,
 * or, if that exists, to the first free `<cluster>-bootstrap-<n>.json`: the bundle cannot be
 * asked for again, so it must land somewhere. Returns the path written.
 */
export function saveBundle(bundle: BootstrapBundle, dir: string): string {
  for (let n = 1; ; n++) {
    const path = n === 1 ? defaultBundlePath(bundle.cluster, dir) : join(dir, `${bundle.cluster}-bootstrap-${n}.json`);
    try {
      const file = reserveSecretFile(path, process.stdout);
      file.write(bundleText(bundle));
      return path;
    } catch (err) {
      const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
      if (code !== "EEXIST" || n >= 100) throw err;
    }
  }
}
