/**
 * Runs an image that scripts/images.sh built as a container, without a container engine: the
 * image's filesystem from `buildah mount`, an OCI runtime spec from `runc spec` set up as a
 * kubelet would set it up for the pod (the image's entry point, environment and working
 * directory; the pod's user, read-only root filesystem, no capabilities, no privilege
 * escalation; its volumes bound where the pod mounts them), run by runc. The
 * network namespace is the host's, so the container reaches the loopback servers of the test.
 *
 * Why runc and not `podman run`: podman sets RLIMIT_NOFILE and RLIMIT_NPROC in every
 * container, which this sandbox forbids (it lacks CAP_SYS_RESOURCE: "error setting rlimit type
 * 6: operation not permitted"); crun refuses its hybrid cgroup layout. runc with a spec of our
 * own runs.
 */
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type ManagedProcess, startProcess } from "@flotilla/devfleet";
import type { HostMount, SecurityContext } from "../kubelet.js";

const run = promisify(execFile);
const IMAGES_SCRIPT = resolve(dirname(fileURLToPath(import.meta.url)), "../../../scripts/images.sh");

/** `scripts/images.sh ARGS...`: builds, or buildah on the script's image store. */
export async function images(...args: string[]): Promise<string> {
  const { stdout } = await run(IMAGES_SCRIPT, args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim();
}

/** The parts of an image's configuration a container runs with. */
export interface ImageConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  ExposedPorts?: Record<string, unknown>;
}

export async function imageConfig(image: string): Promise<ImageConfig> {
  const inspect = JSON.parse(await images("buildah", "inspect", "--type", "image", image)) as {
    OCIv1: { config?: ImageConfig };
  };
  return inspect.OCIv1.config ?? {};
}

/** Options of {@link startContainer}. */
export interface ContainerOptions {
  name: string;
  image: string;
  /** Holds the bundle and the log. */
  dir: string;
  /** Over the image's own environment. */
  env: Readonly<Record<string, string>>;
  mounts: readonly HostMount[];
  /** The pod's security context (user, read-only root, capabilities, privilege escalation). */
  security: SecurityContext;
}

/** A running container. */
export interface Container {
  readonly process: ManagedProcess;
  /** The image's filesystem as the container sees it (read it, do not write it). */
  readonly rootfs: string;
  /** Stops the container and removes it, its bundle state and its working copy of the image. */
  stop(): Promise<void>;
}

const NO_CAPABILITIES = { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] };

/** Starts `image` as the pod would run it; resolves once runc has started (the program may still be starting). */
export async function startContainer(o: ContainerOptions): Promise<Container> {
  const config = await imageConfig(o.image);
  const ctr = await images(
    "buildah",
    "from",
    "--pull-never",
    "--name",
    `flotilla-test-${o.name}-${process.pid}`,
    o.image,
  );
  const rootfs = await images("buildah", "mount", ctr);
  const bundle = join(o.dir, `${o.name}-bundle`);
  mkdirSync(bundle, { recursive: true });
  await run("runc", ["spec", "--bundle", bundle]);
  const specPath = join(bundle, "config.json");
  const spec = JSON.parse(readFileSync(specPath, "utf8")) as {
    process: Record<string, unknown>;
    root: Record<string, unknown>;
    mounts: Record<string, unknown>[];
    linux: { namespaces: { type: string }[] };
  };
  const [imageUid, imageGid] = (config.User ?? "0:0").split(":").map(Number);
  const uid = o.security.runAsUser ?? imageUid ?? 0;
  const gid = o.security.runAsGroup ?? imageGid ?? uid;
  const env = new Map((config.Env ?? []).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
  for (const [k, v] of Object.entries(o.env)) env.set(k, v);
  spec.process = {
    ...spec.process,
    terminal: false,
    user: { uid, gid, ...(o.security.fsGroup !== undefined ? { additionalGids: [o.security.fsGroup] } : {}) },
    args: [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])],
    env: [...env].map(([k, v]) => `${k}=${v}`),
    cwd: config.WorkingDir || "/",
    capabilities: o.security.capabilities?.drop?.includes("ALL") ? NO_CAPABILITIES : spec.process.capabilities,
    noNewPrivileges: o.security.allowPrivilegeEscalation === false,
  };
  spec.root = { path: rootfs, readonly: o.security.readOnlyRootFilesystem === true };
  spec.linux.namespaces = spec.linux.namespaces.filter((n) => n.type !== "network");
  // Bind mounts for emptyDirs too, not tmpfs: runc gives a tmpfs the mode of the directory it
  // covers, and a kubelet's emptyDir is a fresh world-writable directory whatever the image holds.
  for (const m of o.mounts) {
    spec.mounts.push({
      destination: m.destination,
      type: "bind",
      source: m.source,
      options: ["rbind", m.readOnly ? "ro" : "rw", "nosuid", "nodev"],
    });
  }
  writeFileSync(specPath, JSON.stringify(spec, null, 2));
  const id = `flotilla-${o.name}-${process.pid}`;
  const proc = await startProcess({
    name: o.name,
    command: "runc",
    args: ["run", "--bundle", bundle, id],
    logPath: join(o.dir, `${o.name}.log`),
  });
  let stopped: Promise<void> | undefined;
  return {
    process: proc,
    rootfs,
    stop() {
      stopped ??= (async () => {
        // runc run forwards SIGTERM to the container's init: the program's own clean stop.
        await proc.stop(10_000);
        await run("runc", ["delete", "--force", id]).catch(() => undefined);
        await images("buildah", "umount", ctr).catch(() => undefined);
        await images("buildah", "rm", ctr).catch(() => undefined);
      })();
      return stopped;
    },
  };
}
