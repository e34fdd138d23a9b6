/**
 * The example fleet `flotilla up` starts: three clusters, one app repo with a `develop` branch
 * (feeds `dev`) and a `main` branch (feeds `prod`), and the fleet configuration that registers
 * it, with a two-wave prod policy.
 */
import { stringify } from "yaml";
import type { FleetOptions } from "./fleet.js";

/** Team, repo and app names of the example. */
export const EXAMPLE = {
  team: "demo",
  repo: "guestbook",
  app: "guestbook",
  namespace: "guestbook",
} as const;

/** The example's clusters: name and labels. The canary is in prod's first wave. */
export const EXAMPLE_CLUSTERS = [
  { name: "dev-1", labels: { env: "dev", region: "local" } },
  { name: "prod-canary-1", labels: { env: "prod", tier: "canary", region: "local" } },
  { name: "prod-1", labels: { env: "prod", region: "local" } },
] as const;

/** The manifests of the example app at one version. */
export function exampleManifests(version: string, replicas = 2): Record<string, string> {
  const labels = { app: "guestbook" };
  const deployment = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "guestbook", labels },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [
            {
              name: "web",
              image: `registry.local/guestbook:${version}`,
              ports: [{ containerPort: 8080 }],
              envFrom: [{ configMapRef: { name: "guestbook" } }],
            },
          ],
        },
      },
    },
  };
  const service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "guestbook", labels },
    spec: { selector: labels, ports: [{ port: 80, targetPort: 8080 }] },
  };
  const config = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "guestbook", labels },
    data: { GREETING: `hello from ${version}` },
  };
  return {
    "README.md": "# guestbook\n\nExample app for the Flotilla local fleet. `deploy/` is applied to every cluster.\n",
    "deploy/deployment.yaml": stringify(deployment),
    "deploy/service.yaml": stringify(service),
    "deploy/configmap.yaml": stringify(config),
  };
}

/**
 * The fleet configuration: the team, its repo (dev → develop, prod → main), the app, and the
 * two environments. prod rolls out to canaries first, bakes, then to the rest.
 */
export function exampleDocuments(repoUrl: string, credentials: { username: string; password: string }): string {
  const docs = [
    {
      apiVersion: "flotilla.dev/v1",
      kind: "Team",
      metadata: { name: EXAMPLE.team },
      // The team's apps may use the example's namespace only (by default: demo and demo-*).
      spec: { policy: { namespaces: [EXAMPLE.namespace] } },
    },
    {
      apiVersion: "flotilla.dev/v1",
      kind: "Repo",
      metadata: { name: EXAMPLE.repo },
      spec: {
        team: EXAMPLE.team,
        url: repoUrl,
        branches: { dev: "develop", prod: "main" },
        pollIntervalSeconds: 3,
        credentials,
      },
    },
    {
      apiVersion: "flotilla.dev/v1",
      kind: "App",
      metadata: { name: EXAMPLE.app },
      spec: {
        repo: EXAMPLE.repo,
        path: "deploy",
        source: "manifests",
        namespace: EXAMPLE.namespace,
        prune: true,
        selfHeal: true,
      },
    },
    {
      apiVersion: "flotilla.dev/v1",
      kind: "Environment",
      metadata: { name: "dev" },
      spec: { policy: { waves: [{ name: "all", selector: {}, maxConcurrency: "100%", bakeSeconds: 0 }] } },
    },
    {
      apiVersion: "flotilla.dev/v1",
      kind: "Environment",
      metadata: { name: "prod" },
      spec: {
        policy: {
          waves: [
            { name: "canary", selector: { tier: "canary" }, maxConcurrency: 1, bakeSeconds: 10 },
            { name: "rest", selector: {}, maxConcurrency: "50%", bakeSeconds: 0 },
          ],
          progressDeadlineSeconds: 120,
          autoRollback: true,
        },
      },
    },
  ];
  return docs.map((d) => stringify(d)).join("---\n");
}

/**
 * The example fleet as {@link startFleet} options: NATS in operator mode with fsync on every
 * write, the example repo and configuration, {@link EXAMPLE_CLUSTERS} each with an agent, and
 * the paces a person watching it wants (a poll every 3 s, heartbeats every 2 s).
 */
export function exampleFleet(options: Pick<FleetOptions, "dir" | "progress" | "signal"> = {}): FleetOptions {
  return {
    ...options,
    operatorMode: true,
    natsSyncAlways: true,
    repos: { [EXAMPLE.repo]: { main: exampleManifests("v1"), develop: exampleManifests("v1") } },
    apply: {
      documents: ({ git, repo }) =>
        exampleDocuments(repo(EXAMPLE.repo).url, { username: git.username, password: git.password }),
      summary: `applied team ${EXAMPLE.team}, repo ${EXAMPLE.repo} (dev → develop, prod → main), app ${EXAMPLE.app}, environments dev and prod`,
    },
    clusters: EXAMPLE_CLUSTERS,
    hubEnv: { FLOTILLA_HUB_POLL_INTERVAL: "3s", FLOTILLA_HEARTBEAT_INTERVAL: "2s" },
    agentEnv: { FLOTILLA_HEARTBEAT_INTERVAL: "2s", FLOTILLA_DRIFT_INTERVAL: "30s" },
  };
}
