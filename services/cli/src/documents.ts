/**
 * API objects as the documents `flotilla apply -f` reads: `apiVersion`, `kind`, `metadata.name`
 * and `spec`, so `flotilla <kind> get <name> -o yaml | flotilla apply -f -` changes nothing.
 * Pure: only what the hub stores as the spec goes in; what it adds (status, key ids, times) and
 * what it never shows (a repo's credentials and webhook secret, a receiver's URL and secret,
 * which apply keeps when a Repo or Receiver document leaves them out) stay out.
 */
import {
  API_VERSION,
  type App,
  type ClusterView,
  type Environment,
  type Kind,
  type Receiver,
  type Repo,
  type Team,
} from "@flotilla/api";
import { stringify as toYaml } from "yaml";

/** One applied document. */
export interface ApplyDocumentOut {
  apiVersion: typeof API_VERSION;
  kind: Kind;
  metadata: { name: string };
  spec: Record<string, unknown>;
}

/** The API object each kind's `get` answers. */
export interface ObjectOf {
  Cluster: Pick<ClusterView, "name" | "labels">;
  Team: Team;
  Repo: Repo;
  App: App;
  Environment: Environment;
  Receiver: Receiver;
}

/** The fields of an API object that are not its spec, per kind. */
const NOT_SPEC: Record<Kind, readonly string[]> = {
  Cluster: [],
  Team: ["name"],
  Repo: ["name", "hasCredentials", "hasWebhookSecret"],
  App: ["name"],
  Environment: ["name"],
  Receiver: ["name", "urlOrigin", "hasSecret"],
};

/** The apply document of an API object. */
export function toDocument<K extends Kind>(kind: K, object: ObjectOf[K]): ApplyDocumentOut {
  let spec: Record<string, unknown>;
  if (kind === "Cluster") spec = { labels: { ...(object as ObjectOf["Cluster"]).labels } };
  else {
    const skip = new Set(NOT_SPEC[kind]);
    spec = Object.fromEntries(Object.entries(object).filter(([k, v]) => !skip.has(k) && v !== undefined));
  }
  return { apiVersion: API_VERSION, kind, metadata: { name: object.name }, spec };
}

/** Documents as one YAML stream, `---` between them, ending with a newline. */
export function documentsYaml(docs: readonly ApplyDocumentOut[]): string {
  return docs.map((d) => toYaml(d)).join("---\n");
}
