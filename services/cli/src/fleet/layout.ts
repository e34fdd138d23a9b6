import { homedir } from "node:os";
import { join } from "node:path";

/**
 * Where a local fleet keeps everything: server data, cluster certificates, agent bundles, logs,
 * and `fleet.json` once it is up. `flotilla down` removes the directory.
 * @default `$FLOTILLA_FLEET_DIR` or `~/.flotilla/fleet`
 */
export const DEFAULT_FLEET_DIR = process.env.FLOTILLA_FLEET_DIR ?? join(homedir(), ".flotilla", "fleet");

/** What a running fleet records about itself, for `down`, `status` and the demo commit. */
export interface FleetRecord {
  /** The supervisor process that owns every server of the fleet. */
  pid: number;
  hubUrl: string;
  /** The admin token; the file is mode 0600. */
  token: string;
  natsUrl: string;
  /** PEM file of the CA of NATS's certificate (NATS requires TLS); absent for a plaintext NATS. */
  natsCaFile?: string;
  redisUrl: string;
  gitUrl: string;
  /** Work tree of the example repo; commits pushed from it reach the Git server. */
  exampleWorkTree: string;
  clusters: { name: string; server: string; kubeconfig: string; labels: Record<string, string> }[];
  /** Every server process, so `down` can stop them even if the supervisor died. */
  pids: number[];
}

/** The files the CLI keeps beside the fleet's own, in the fleet directory. */
export function fleetPaths(dir: string) {
  return {
    dir,
    record: join(dir, "fleet.json"),
    pid: join(dir, "supervisor.pid"),
    log: join(dir, "fleet.log"),
    failed: join(dir, "failed"),
  };
}
