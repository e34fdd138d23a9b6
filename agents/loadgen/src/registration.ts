/**
 * Registers many clusters through the hub's API in a few requests: `POST /v1/apply` with many
 * Cluster documents answers each new cluster's bootstrap bundle, as `POST /v1/clusters` does
 * for one.
 */
import type { ApplyResponse, BootstrapBundle } from "@flotilla/api";
import { RegistrationError } from "./errors.js";

/** Clusters per apply request: well under the hub's body limit, and quick to answer. */
export const DEFAULT_REGISTRATION_CHUNK = 500;

/** The hub API call registration makes; `HubApi` of @flotilla/devfleet is one. */
export interface ApplyClient {
  request<T>(
    method: string,
    path: string,
    body?: unknown,
    options?: { contentType?: string },
  ): Promise<{ status: number; text: string; json: T | undefined }>;
}

/** A cluster to register. */
export interface ClusterSpec {
  name: string;
  labels: Readonly<Record<string, string>>;
}

function clusterDocument(c: ClusterSpec): string {
  return [
    "apiVersion: flotilla.dev/v1",
    "kind: Cluster",
    `metadata: { name: ${JSON.stringify(c.name)} }`,
    `spec: { labels: ${JSON.stringify(c.labels)} }`,
  ].join("\n");
}

/**
 * Registers every cluster and returns their bootstrap bundles in the order given. Every name
 * must be new: a cluster that exists has no bundle to hand out again, so that fails the call.
 */
export async function registerClusters(
  api: ApplyClient,
  clusters: readonly ClusterSpec[],
  chunk = DEFAULT_REGISTRATION_CHUNK,
): Promise<BootstrapBundle[]> {
  const bundles: BootstrapBundle[] = [];
  for (let i = 0; i < clusters.length; i += chunk) {
    const part = clusters.slice(i, i + chunk);
    const res = await api.request<ApplyResponse>("POST", "/v1/apply", part.map(clusterDocument).join("\n---\n"), {
      contentType: "application/yaml",
    });
    if (res.status !== 200 || !res.json) {
      throw new RegistrationError(part[0]?.name ?? "", `the hub answered ${res.status}: ${res.text.slice(0, 300)}`);
    }
    const byName = new Map(res.json.results.map((r) => [r.name, r]));
    for (const c of part) {
      const bootstrap = byName.get(c.name)?.bootstrap;
      if (!bootstrap) {
        throw new RegistrationError(c.name, "was already registered; deregister it or choose other names");
      }
      bundles.push(bootstrap);
    }
  }
  return bundles;
}
