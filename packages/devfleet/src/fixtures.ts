import { existsSync, realpathSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { FixtureMissingError } from "./errors.js";

/**
 * Where `scripts/fixtures.sh` puts the binaries it builds from upstream Go modules.
 * Each tool lives in `<cache>/bin/<tool>-<version>/<tool>`; `<cache>/bin/current/<tool>`
 * links to the version this checkout pins, so tests never depend on what is on PATH.
 * @default `$FLOTILLA_CACHE` or `~/.cache/flotilla`
 */
export const FIXTURE_CACHE = process.env.FLOTILLA_CACHE ?? join(homedir(), ".cache", "flotilla");

/** The tools the fixture script builds. */
export type FixtureTool =
  | "nats-server"
  | "etcd"
  | "kube-apiserver"
  | "kube-controller-manager"
  | "kube-scheduler"
  | "kubectl"
  | "kwok"
  | "kstatus"
  | "promlint"
  | "helm"
  | "kustomize"
  | "toxiproxy-server"
  | "prometheus";

/** Absolute path of a pinned fixture binary; throws FixtureMissingError when absent. */
export function binPath(tool: FixtureTool): string {
  const path = join(FIXTURE_CACHE, "bin", "current", tool);
  if (!existsSync(path)) throw new FixtureMissingError(tool, path);
  return path;
}

/**
 * Absolute path of a data file that `scripts/fixtures.sh` installs beside a
 * fixture binary, from the same release (kwok's `stages.yaml`); throws
 * FixtureMissingError when absent.
 */
export function fixtureDataPath(tool: FixtureTool, file: string): string {
  const path = join(dirname(realpathSync(binPath(tool))), file);
  if (!existsSync(path)) throw new FixtureMissingError(tool, path);
  return path;
}
