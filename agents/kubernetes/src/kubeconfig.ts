/**
 * Where the API server is and how to authenticate to it: a context of a kubeconfig (the current
 * one, or one named by `FLOTILLA_KUBE_CONTEXT`), or the pod's service account when running in a
 * cluster. Users authenticate as kubeconfigs from EKS, GKE, AKS and kubeadm have them: client
 * certificates (inline or files), bearer tokens (inline or a file, read per request so a rotated
 * token is picked up), basic auth, and exec credential plugins (exec-credential.ts).
 * `auth-provider` users (removed from Kubernetes in 1.26), impersonation and `proxy-url` are
 * refused with one line rather than ignored, since ignoring them would connect as someone else
 * or somewhere else.
 *
 * Why not @kubernetes/client-node's KubeConfig: importing that package loads every generated
 * model and costs about 65 MiB of resident memory, more than the rest of the agent together;
 * the agent runs in every cluster, so it reads kubeconfigs itself.
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, dirname, isAbsolute, join } from "node:path";
import { parse } from "yaml";
import { ConfigError } from "./errors.js";
import {
  type ExecClusterInfo,
  ExecCredentialSource,
  type PluginRunner,
  parseExecConfig,
  processRunner,
} from "./exec-credential.js";

/** Connection settings for one API server. */
export interface KubeTarget {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** True only when the kubeconfig says `insecure-skip-tls-verify: true`. */
  insecureSkipTlsVerify: boolean;
  servername?: string;
  /**
   * The Authorization header of the next request, read per request: a token file may have been
   * rotated, and an exec plugin runs again once its token expired.
   */
  authorization(): Promise<string | undefined>;
  /**
   * The API server answered 401 to a request sent with `authorization`. True when the request
   * is worth sending once more with a fresh {@link authorization} (an exec plugin's token was
   * dropped before its stated expiry); false when nothing would change.
   */
  unauthorized(authorization: string | undefined): boolean;
}

/** Options of {@link fromKubeconfigFile}. */
export interface KubeconfigOptions {
  /** Context to use instead of the kubeconfig's `current-context`. */
  context?: string;
  /** Runs exec plugins. @default the child-process runner */
  runner?: PluginRunner;
}

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

type Fields = Record<string, unknown>;

/** A named entry of one of the merged files, with the directory its relative paths resolve against. */
interface Entry {
  fields: Fields;
  base: string;
}

/** The kubeconfig files merged as kubectl merges them: the first file to name an entry wins. */
interface Merged {
  /** The paths, for messages. */
  where: string;
  currentContext: string | undefined;
  contexts: Map<string, Entry>;
  clusters: Map<string, Entry>;
  users: Map<string, Entry>;
}

const noRotation = () => false;

function isRecord(value: unknown): value is Fields {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const text = (value: unknown): string | undefined => (typeof value === "string" && value !== "" ? value : undefined);

function resolvePath(base: string, file: string): string {
  return isAbsolute(file) ? file : join(base, file);
}

function readMaybe(base: string, file: unknown, data: unknown): Buffer | undefined {
  const inline = text(data);
  if (inline) return Buffer.from(inline, "base64");
  const path = text(file);
  return path ? readFileSync(resolvePath(base, path)) : undefined;
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
    // The kubelet rotates projected tokens: read it per request.
    authorization: async () => `Bearer ${readFileSync(tokenPath, "utf8").trim()}`,
    unauthorized: noRotation,
  };
}

function readOne(path: string): { doc: Fields; base: string } {
  let source: string;
  try {
    source = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read kubeconfig ${path}: ${(err as Error).message}`, { cause: err });
  }
  let doc: unknown;
  try {
    // Pretty YAML errors quote the offending line, which in a kubeconfig may hold a token or key.
    doc = parse(source, { prettyErrors: false }) ?? {};
  } catch (err) {
    const at = (err as { pos?: number[] }).pos?.[0];
    const line = at === undefined ? "" : ` at line ${source.slice(0, at).split("\n").length}`;
    // No cause: the parser's error object holds the source text.
    throw new ConfigError(`cannot read kubeconfig ${path}: ${(err as Error).message.split("\n")[0]}${line}`);
  }
  if (!isRecord(doc)) throw new ConfigError(`kubeconfig ${path} is not a YAML mapping`);
  return { doc, base: dirname(path) };
}

/** Reads and merges `paths` (a KUBECONFIG list; files of a list that do not exist are skipped, as kubectl does). */
function readMerged(paths: string[]): Merged {
  const present = paths.length > 1 ? paths.filter((p) => existsSync(p)) : paths;
  if (present.length === 0) throw new ConfigError(`none of the kubeconfig files ${paths.join(delimiter)} exist`);
  const merged: Merged = {
    where: `kubeconfig ${present.join(delimiter)}`,
    currentContext: undefined,
    contexts: new Map(),
    clusters: new Map(),
    users: new Map(),
  };
  for (const path of present) {
    const { doc, base } = readOne(path);
    merged.currentContext ??= text(doc["current-context"]);
    for (const [list, field, into] of [
      ["contexts", "context", merged.contexts],
      ["clusters", "cluster", merged.clusters],
      ["users", "user", merged.users],
    ] as const) {
      const entries = doc[list];
      if (entries === undefined || entries === null) continue;
      if (!Array.isArray(entries)) throw new ConfigError(`kubeconfig ${path}: ${list} is not a list`);
      for (const entry of entries) {
        const name = isRecord(entry) ? text(entry.name) : undefined;
        if (!name || !isRecord(entry)) throw new ConfigError(`kubeconfig ${path}: an entry of ${list} has no name`);
        if (!into.has(name)) into.set(name, { fields: isRecord(entry[field]) ? entry[field] : {}, base });
      }
    }
  }
  return merged;
}

function pickContext(m: Merged, wanted: string | undefined): { name: string; entry: Entry } {
  const names = [...m.contexts.keys()];
  const name = wanted || m.currentContext || (names.length === 1 ? names[0] : undefined);
  if (!name) {
    throw new ConfigError(
      names.length === 0
        ? `${m.where} has no contexts`
        : `${m.where} has no current-context; set FLOTILLA_KUBE_CONTEXT to one of ${names.join(", ")}`,
    );
  }
  const entry = m.contexts.get(name);
  if (!entry) {
    const hint = wanted ? "FLOTILLA_KUBE_CONTEXT" : "current-context";
    throw new ConfigError(
      `${m.where} has no context ${JSON.stringify(name)} (named by ${hint}); it has ${names.join(", ") || "none"}`,
    );
  }
  return { name, entry };
}

/** The Authorization header source of a user, and whether a 401 is worth one retry. */
type Auth = Pick<KubeTarget, "authorization" | "unauthorized">;

function userAuth(user: Entry, where: string, cluster: ExecClusterInfo, runner: PluginRunner): Auth {
  const u = user.fields;
  const authProvider = u["auth-provider"];
  if (authProvider !== undefined) {
    const name = isRecord(authProvider) ? text(authProvider.name) : undefined;
    throw new ConfigError(
      `${where} uses auth-provider${name ? ` ${JSON.stringify(name)}` : ""}, which Kubernetes removed in 1.26; use its exec plugin instead (gke-gcloud-auth-plugin, kubelogin)`,
    );
  }
  for (const field of ["as", "as-uid", "as-groups", "as-user-extra"]) {
    if (u[field] !== undefined) {
      throw new ConfigError(
        `${where} impersonates (${field}), which the agent does not do; give it a user that holds the permissions itself`,
      );
    }
  }
  const token = text(u.token);
  const tokenFile = text(u.tokenFile);
  const username = text(u.username);
  const kinds = [token || tokenFile ? "token" : "", username ? "username/password" : "", u.exec ? "exec" : ""];
  const given = kinds.filter(Boolean);
  if (given.length > 1) throw new ConfigError(`${where} sets ${given.join(" and ")}; keep one of them`);
  if (token) {
    const header = `Bearer ${token}`;
    return { authorization: async () => header, unauthorized: noRotation };
  }
  if (tokenFile) {
    const path = resolvePath(user.base, tokenFile);
    // Fail at start on a missing file, not on the first request.
    readFileSync(path);
    return { authorization: async () => `Bearer ${readFileSync(path, "utf8").trim()}`, unauthorized: noRotation };
  }
  if (username) {
    const header = `Basic ${Buffer.from(`${username}:${String(u.password ?? "")}`).toString("base64")}`;
    return { authorization: async () => header, unauthorized: noRotation };
  }
  if (u.exec !== undefined) {
    const source = new ExecCredentialSource(parseExecConfig(u.exec, where, user.base, cluster), runner);
    return {
      authorization: async () => `Bearer ${await source.token()}`,
      unauthorized: (authorization) => {
        if (!authorization?.startsWith("Bearer ")) return false;
        return source.rejected(authorization.slice("Bearer ".length));
      },
    };
  }
  return { authorization: async () => undefined, unauthorized: noRotation };
}

/**
 * Loads a context of the kubeconfig at `path` (or of the files of a KUBECONFIG list, merged):
 * `options.context`, else the current context, else the only context.
 */
export function fromKubeconfigFile(path: string, options: KubeconfigOptions = {}): KubeTarget {
  const m = readMerged(path.split(delimiter).filter(Boolean));
  const { name: contextName, entry: context } = pickContext(m, options.context);
  const where = `${m.where} context ${JSON.stringify(contextName)}`;
  const clusterName = text(context.fields.cluster);
  const clusterEntry = clusterName ? m.clusters.get(clusterName) : undefined;
  if (!clusterName || !clusterEntry) {
    throw new ConfigError(
      `${where} names cluster ${JSON.stringify(clusterName ?? "")}, which the kubeconfig does not define`,
    );
  }
  const cluster = clusterEntry.fields;
  const server = text(cluster.server);
  if (!server) throw new ConfigError(`${where}: cluster ${JSON.stringify(clusterName)} has no server`);
  if (cluster["proxy-url"] !== undefined) {
    throw new ConfigError(
      `${where}: cluster ${JSON.stringify(clusterName)} sets proxy-url, which the agent does not support; run it where it reaches the API server directly`,
    );
  }
  const insecureSkipTlsVerify = cluster["insecure-skip-tls-verify"] === true;
  const userName = text(context.fields.user);
  const user = userName ? m.users.get(userName) : { fields: {}, base: clusterEntry.base };
  if (!user)
    throw new ConfigError(`${where} names user ${JSON.stringify(userName)}, which the kubeconfig does not define`);
  const userWhere = `${where} user ${JSON.stringify(userName ?? "")}`;
  try {
    const ca = readMaybe(clusterEntry.base, cluster["certificate-authority"], cluster["certificate-authority-data"]);
    if (ca && insecureSkipTlsVerify) {
      // kubectl refuses the same: skipping verification would silently ignore the CA given.
      throw new ConfigError(
        `${where}: cluster ${JSON.stringify(clusterName)} sets both a CA and insecure-skip-tls-verify; keep one`,
      );
    }
    const cert = readMaybe(user.base, user.fields["client-certificate"], user.fields["client-certificate-data"]);
    const key = readMaybe(user.base, user.fields["client-key"], user.fields["client-key-data"]);
    if (Boolean(cert) !== Boolean(key)) {
      throw new ConfigError(
        `${userWhere} has a client ${cert ? "certificate without its key" : "key without its certificate"}`,
      );
    }
    const servername = text(cluster["tls-server-name"]);
    const execCluster: ExecClusterInfo = {
      server,
      ...(ca ? { "certificate-authority-data": ca.toString("base64") } : {}),
      ...(servername ? { "tls-server-name": servername } : {}),
      ...(insecureSkipTlsVerify ? { "insecure-skip-tls-verify": true } : {}),
      ...execExtension(cluster),
    };
    return {
      server,
      ca,
      cert,
      key,
      insecureSkipTlsVerify,
      servername,
      ...userAuth(user, userWhere, execCluster, options.runner ?? processRunner),
    };
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${userWhere}: ${(err as Error).message}`, { cause: err });
  }
}

/** The cluster's `client.authentication.k8s.io/exec` extension, passed to plugins that ask for cluster info. */
function execExtension(cluster: Fields): { config?: unknown } {
  const extensions = cluster.extensions;
  if (!Array.isArray(extensions)) return {};
  const found = extensions.find((e) => isRecord(e) && e.name === "client.authentication.k8s.io/exec");
  return isRecord(found) && found.extension !== undefined ? { config: found.extension } : {};
}

/**
 * `path` (a kubeconfig, or a KUBECONFIG list) if given, else the in-cluster service account,
 * else `~/.kube/config`. `context` picks a context other than the current one.
 */
export function loadKubeTarget(path: string, context = ""): KubeTarget {
  const options = context ? { context } : {};
  if (path) return fromKubeconfigFile(path, options);
  if (process.env.KUBERNETES_SERVICE_HOST) {
    if (context)
      throw new ConfigError("FLOTILLA_KUBE_CONTEXT is set but no kubeconfig is given; set FLOTILLA_KUBECONFIG too");
    return inCluster();
  }
  const fallback = join(homedir(), ".kube", "config");
  if (existsSync(fallback)) return fromKubeconfigFile(fallback, options);
  return inCluster();
}
