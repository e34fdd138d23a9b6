/**
 * What a kubelet would give the one container of a Deployment's pod, worked out from the objects
 * a chart renders (or a cluster holds): its environment, its volumes (Secret items as files,
 * emptyDirs), its user and its security context. The fixture clusters run no containers (kwok
 * plays the kubelet without starting anything), so tests start the program themselves with this:
 * as a process on this machine (paths moved to where the volumes landed), or in its image under
 * runc (volumes mounted where the pod mounts them).
 */
import { chmodSync, chownSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  [field: string]: unknown;
}
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}
export interface Probe {
  httpGet?: { path: string; port: string | number };
}
export interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  fsGroup?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
  seccompProfile?: { type: string };
}
export interface Container {
  name: string;
  image?: string;
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  securityContext?: SecurityContext;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
export interface Volume {
  name: string;
  secret?: { secretName: string; defaultMode?: number; items?: { key: string; path: string }[] };
  emptyDir?: Record<string, unknown>;
  /** On a live pod: the ServiceAccount token the API server's admission adds (`kube-api-access-*`). */
  projected?: Record<string, unknown>;
}
export interface PodSpec {
  securityContext?: SecurityContext;
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  containers: Container[];
  volumes?: Volume[];
}
export interface Deployment extends KubeObject {
  spec: { replicas: number; template: { metadata?: { labels?: Record<string, string> }; spec: PodSpec } };
}

/** One volume as the container sees it. */
export interface PodMount {
  name: string;
  mountPath: string;
  readOnly: boolean;
  /** A Secret's items (path → bytes) with their mode; absent for an emptyDir. */
  secret?: { files: Record<string, Buffer>; mode: number };
}

/** Everything needed to start the pod's one container. */
export interface PodPlan {
  container: Container;
  /** The environment, paths as the container sees them; `metadata.name` field refs resolved. */
  env: Record<string, string>;
  mounts: PodMount[];
  /** User, group and the rest: the container's security context over the pod's. */
  security: SecurityContext;
  serviceAccountName: string | undefined;
  automountServiceAccountToken: boolean;
}

const ofKind = <T extends KubeObject>(objects: readonly KubeObject[], kind: string): T[] =>
  objects.filter((o) => o.kind === kind) as T[];

/** The plan of the one container of the one Deployment in `objects`, its Secrets found there too. */
export function podPlan(objects: readonly KubeObject[], podName: string): PodPlan {
  const deployments = ofKind<Deployment>(objects, "Deployment");
  if (deployments.length !== 1) throw new Error(`expected one Deployment, found ${deployments.length}`);
  return planOf((deployments[0] as Deployment).spec.template.spec, ofKind(objects, "Secret"), podName);
}

/** The plan of a pod's one container; `secrets` must hold every Secret its volumes name. */
export function planOf(pod: PodSpec, secrets: readonly KubeObject[], podName: string): PodPlan {
  if (pod.containers.length !== 1) throw new Error(`expected one container, found ${pod.containers.length}`);
  const container = pod.containers[0] as Container;
  const mounts: PodMount[] = [];
  for (const volume of pod.volumes ?? []) {
    const mount = container.volumeMounts?.find((m) => m.name === volume.name);
    // The ServiceAccount token is the runner's business (a mount under runc, a kubeconfig for a process).
    if (!mount || volume.projected) continue;
    const entry: PodMount = { name: volume.name, mountPath: mount.mountPath, readOnly: mount.readOnly === true };
    if (volume.secret) {
      const name = volume.secret.secretName;
      const secret = secrets.find((s) => s.metadata.name === name);
      if (!secret) throw new Error(`the pod mounts Secret ${name}, which is not among the objects`);
      const data = (secret.data ?? {}) as Record<string, string>;
      const items = volume.secret.items ?? Object.keys(data).map((key) => ({ key, path: key }));
      const files: Record<string, Buffer> = {};
      for (const { key, path } of items) {
        const value = data[key];
        if (value === undefined) throw new Error(`Secret ${name} has no key ${key}`);
        files[path] = Buffer.from(value, "base64");
      }
      entry.secret = { files, mode: volume.secret.defaultMode ?? 0o644 };
    } else if (!volume.emptyDir) {
      throw new Error(`volume ${volume.name}: only Secret and emptyDir volumes are wired here`);
    }
    mounts.push(entry);
  }
  const env: Record<string, string> = {};
  for (const v of container.env ?? []) {
    if (v.valueFrom?.fieldRef?.fieldPath === "metadata.name") env[v.name] = podName;
    else if (v.valueFrom) throw new Error(`env ${v.name}: only metadata.name field refs are wired here`);
    else env[v.name] = v.value ?? "";
  }
  return {
    container,
    env,
    mounts,
    security: { ...pod.securityContext, ...container.securityContext },
    serviceAccountName: pod.serviceAccountName,
    automountServiceAccountToken: pod.automountServiceAccountToken !== false,
  };
}

/** A volume made on this machine: where it is, and where the container sees it. */
export interface HostMount {
  source: string;
  destination: string;
  readOnly: boolean;
}

/**
 * Makes the plan's volumes under `dir`: a directory per volume, Secret items written with the
 * Secret's mode and owned by the pod's fsGroup (so a non-root container can read them, as the
 * kubelet arranges). Returns the mounts and the environment with every value that points into
 * a volume moved to where that volume landed here, for running the program as a process.
 */
export function materialize(plan: PodPlan, dir: string): { mounts: HostMount[]; hostEnv: Record<string, string> } {
  const mounts: HostMount[] = [];
  const group = plan.security.fsGroup;
  for (const m of plan.mounts) {
    const source = join(dir, m.name);
    mkdirSync(source, { recursive: true });
    if (!m.secret) {
      // An emptyDir as the kubelet makes it: writable by all, owned by the fsGroup, setgid.
      if (group !== undefined) chownSync(source, 0, group);
      chmodSync(source, 0o2777);
    }
    for (const [path, bytes] of Object.entries(m.secret?.files ?? {})) {
      const file = join(source, path);
      writeFileSync(file, bytes, { mode: m.secret?.mode });
      if (group !== undefined) chownSync(file, 0, group);
    }
    mounts.push({ source, destination: m.mountPath, readOnly: m.readOnly });
  }
  const hostEnv: Record<string, string> = {};
  for (const [name, value] of Object.entries(plan.env)) {
    // The deepest mount holding the path, as in a container's filesystem.
    const mount = mounts
      .filter((m) => value === m.destination || value.startsWith(`${m.destination}/`))
      .sort((a, b) => b.destination.length - a.destination.length)[0];
    hostEnv[name] = mount ? mount.source + value.slice(mount.destination.length) : value;
  }
  return { mounts, hostEnv };
}

/** The URL a probe of the container fetches, on loopback. */
export function probeUrl(container: Container, probe: Probe | undefined): string {
  const get = probe?.httpGet;
  if (!get) throw new Error(`container ${container.name} has no httpGet probe`);
  const port =
    typeof get.port === "number" ? get.port : container.ports?.find((p) => p.name === get.port)?.containerPort;
  if (!port) throw new Error(`probe port ${get.port} is not a port of container ${container.name}`);
  return `http://127.0.0.1:${port}${get.path}`;
}
