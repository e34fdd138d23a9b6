/**
 * The one-app setup the tests with simulated agents share: team `t`, its repo `web` (prod → main,
 * polled hourly, so webhooks drive it) and app `web` from `deploy/`, as apply documents after
 * the test's own Environment, and the app's files at a version.
 */
import type { FixtureRepo, GitServer } from "@flotilla/devfleet";

export function webAppFiles(version: string): Record<string, string> {
  return {
    "deploy/config.yaml": `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  v: "${version}"\n`,
  };
}

/** Team, Repo and App documents, with the repo's webhook secret; `apps` from their paths in the repo. */
export function webAppDocuments(
  git: GitServer,
  repo: FixtureRepo,
  webhookSecret: string,
  apps: readonly { name: string; path: string }[] = [{ name: "web", path: "deploy" }],
): string {
  return `apiVersion: flotilla.dev/v1
kind: Team
metadata: { name: t }
spec: { policy: { namespaces: [web] } }
---
apiVersion: flotilla.dev/v1
kind: Repo
metadata: { name: web }
spec:
  team: t
  url: ${repo.url}
  branches: { prod: main }
  pollIntervalSeconds: 3600
  credentials: { username: ${git.username}, password: ${git.password} }
  webhookSecret: ${webhookSecret}
${apps
  .map(
    (a) => `---
apiVersion: flotilla.dev/v1
kind: App
metadata: { name: ${a.name} }
spec: { repo: web, path: ${a.path}, namespace: web }
`,
  )
  .join("")}`;
}
