/**
 * Where the API server is and how to authenticate to it: a kubeconfig file's current context,
 * or the pod's service account when running in a cluster.
 *
 * Why not @kubernetes/client-node's KubeConfig: importing that package loads every generated
 * model and costs about 65 MiB of resident memory, more than the rest of the agent together;
 * the agent runs in every cluster, so it reads kubeconfigs itself. Exec and auth-provider
 * plugins are not supported (use a token or client certificate).
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import { parse } from "yaml";
import { ConfigError } from "./errors.js";

/** Connection settings for one API server. */
export interface KubeTarget {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTlsVerify: boolean;
  servername?: string;
  /** Authorization header value, read per request so rotated tokens are picked up. */
  authorization(): string | undefined;
}

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

interface NamedEntry<T> {
  name: string;
  [key: string]: unknown;
  cluster?: T;
  user?: T;
  context?: T;
}

type Fields = Record<string, string | boolean | undefined>;

function readMaybe(base: string, file: unknown, data: unknown): Buffer | undefined {
  if (typeof data === "string" && data) return Buffer.from(data, "base64");
  if (typeof file === "string" && file) return readFileSync(isAbsolute(file) ? file : join(base, file));
  return undefined;
}

/** The service account's settings when running in a pod. */
function inCluster(): KubeTarget {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? "443";
  if (!host) throw new ConfigError("no kubeconfig given and not running in a cluster (KUBERNETES_SERVICE_HOST unset)");
  const tokenPath = join(SERVICE_ACCOUNT_DIR, "token");
  return {
    server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    ca: readFileSync(join(SERVICE_ACCOUNT_DIR, "ca.crt")),
    insecureSkipTlsVerify: false,
    authorization: () => `Bearer ${readFileSync(tokenPath, "utf8").trim()}`,
  };
}

/** Loads the current context of the kubeconfig at `path`. */
export function fromKubeconfigFile(path: string): KubeTarget {
  let doc: {
    "current-context"?: string;
    contexts?: NamedEntry<Fields>[];
    clusters?: NamedEntry<Fields>[];
    users?: NamedEntry<Fields>[];
  };
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read kubeconfig ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    // Pretty YAML errors quote the offending line, which in a kubeconfig may hold a token or key.
    doc = parse(text, { prettyErrors: false }) ?? {};
  } catch (err) {
    const at = (err as { pos?: number[] }).pos?.[0];
    const line = at === undefined ? "" : ` at line ${text.slice(0, at).split("\n").length}`;
    throw new ConfigError(`cannot read kubeconfig ${path}: ${(err as Error).message}${line}`, { cause: err });
  }
  const base = dirname(path);
  const contextName = doc["current-context"];
  const context = doc.contexts?.find((c) => c.name === contextName)?.context ?? doc.contexts?.[0]?.context;
  const cluster = doc.clusters?.find((c) => c.name === context?.cluster)?.cluster ?? doc.clusters?.[0]?.cluster;
  const user = (doc.users?.find((u) => u.name === context?.user)?.user ?? {}) as Record<string, unknown>;
  if (!cluster?.server || typeof cluster.server !== "string") {
    throw new ConfigError(`kubeconfig ${path} has no cluster server for context ${contextName ?? "(none)"}`);
  }
  if (user.exec || user["auth-provider"]) {
    throw new ConfigError(
      `kubeconfig ${path}: exec/auth-provider users are not supported; use a token or client certificate`,
    );
  }
  const token = typeof user.token === "string" ? user.token : undefined;
  const tokenFile = typeof user.tokenFile === "string" ? user.tokenFile : undefined;
  const basic =
    typeof user.username === "string"
      ? `Basic ${Buffer.from(`${user.username}:${String(user.password ?? "")}`).toString("base64")}`
      : undefined;
  try {
    return {
      server: cluster.server,
      ca: readMaybe(base, cluster["certificate-authority"], cluster["certificate-authority-data"]),
      cert: readMaybe(base, user["client-certificate"], user["client-certificate-data"]),
      key: readMaybe(base, user["client-key"], user["client-key-data"]),
      insecureSkipTlsVerify: cluster["insecure-skip-tls-verify"] === true,
      servername: typeof cluster["tls-server-name"] === "string" ? cluster["tls-server-name"] : undefined,
      authorization: () =>
        token ? `Bearer ${token}` : tokenFile ? `Bearer ${readFileSync(tokenFile, "utf8").trim()}` : basic,
    };
  } catch (err) {
    throw new ConfigError(`kubeconfig ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** `path` if given, else in-cluster service account, else `~/.kube/config`. */
export function loadKubeTarget(path: string): KubeTarget {
  if (path) return fromKubeconfigFile(path.split(":")[0] ?? path);
  if (process.env.KUBERNETES_SERVICE_HOST) return inCluster();
  const fallback = join(homedir(), ".kube", "config");
  if (existsSync(fallback)) return fromKubeconfigFile(fallback);
  return inCluster();
}
