/**
 * The operator's verbs end to end, run as an operator runs them: the npm-linked `flotilla`
 * command against a real hub and a real agent on a Kubernetes fixture cluster (devfleet), real
 * nats-server, redis-server and Git smart-HTTP server. `app wait` waits for health and gives up
 * with a non-zero code; `app diff` shows a change made by hand on the cluster; `app refresh`
 * makes the agent put it back at once; `app delete` prunes the app's objects from the cluster;
 * and each kind of failure has its own exit code. Build first: `npx turbo run build`.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { binPath, type Fleet, freePort, startFleet, waitsOf } from "@flotilla/devfleet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const FLOTILLA = fileURLToPath(new URL("../../../node_modules/.bin/flotilla", import.meta.url));
const until = waitsOf(120_000, 250);

const configMap = (value: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  greeting: "${value}"\n`;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describe("flotilla app diff|refresh|wait|delete and exit codes, against a real agent", () => {
  let fleet: Fleet;
  let env: NodeJS.ProcessEnv;

  const flotilla = async (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Result> => {
    try {
      const { stdout, stderr } = await run(FLOTILLA, args, { env: { ...env, ...extra }, timeout: 180_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
    }
  };
  const kubectl = async (...args: string[]): Promise<string> => {
    const kubeconfig = fleet.cluster("one").kube.kubeconfigPath;
    return (await run(binPath("kubectl"), ["--kubeconfig", kubeconfig, "-n", "web", ...args])).stdout;
  };
  const greeting = async (): Promise<string | undefined> => {
    try {
      return await kubectl("get", "configmap", "settings", "-o", "jsonpath={.data.greeting}");
    } catch {
      return undefined;
    }
  };

  beforeAll(async () => {
    fleet = await startFleet({
      repos: { web: { main: { "deploy/settings.yaml": configMap("from-git") } } },
      clusters: [{ name: "one", labels: { env: "prod" } }],
      hubEnv: { FLOTILLA_HUB_POLL_INTERVAL: "1s", FLOTILLA_HEARTBEAT_INTERVAL: "1s", FLOTILLA_LOG_LEVEL: "warn" },
      agentEnv: { FLOTILLA_HEARTBEAT_INTERVAL: "1", FLOTILLA_LOG_LEVEL: "warn" },
    });
    const { FLOTILLA_CONFIG: _c, FLOTILLA_OUTPUT: _o, ...rest } = process.env;
    // HOME without a config file: only the environment speaks.
    env = {
      ...rest,
      HOME: fleet.dir,
      XDG_CONFIG_HOME: fleet.dir,
      FLOTILLA_HUB: fleet.hub.url,
      FLOTILLA_TOKEN: fleet.hub.token,
    };
    const repo = fleet.repo("web");
    const apply = `apiVersion: flotilla.dev/v1
kind: Environment
metadata: { name: prod }
spec: { policy: { waves: [{ name: all, selector: {}, bakeSeconds: 0 }] } }
---
apiVersion: flotilla.dev/v1
kind: Team
metadata: { name: web }
spec: {}
---
apiVersion: flotilla.dev/v1
kind: Repo
metadata: { name: web }
spec:
  team: web
  url: ${repo.url}
  branches: { prod: main }
  pollIntervalSeconds: 1
  credentials: { username: ${fleet.git.username}, password: ${fleet.git.password} }
---
apiVersion: flotilla.dev/v1
kind: App
metadata: { name: web }
spec: { repo: web, path: deploy, namespace: web, prune: true }
---
apiVersion: flotilla.dev/v1
kind: App
metadata: { name: nowhere }
spec: { repo: web, path: deploy, namespace: web-nowhere, clusterSelector: { tier: none } }
`;
    const res = await fetch(`${fleet.hub.url}/v1/apply`, {
      method: "POST",
      headers: { authorization: `Bearer ${fleet.hub.token}`, "content-type": "application/yaml" },
      body: apply,
    });
    expect(res.status, await res.clone().text()).toBe(200);
  }, 300_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  it("waits, diffs, refreshes and deletes through the hub; each failure has its exit code", async () => {
    try {
      // wait: healthy on the one cluster, exit 0; an app published nowhere times out, exit 1.
      const waited = await flotilla(["app", "wait", "web", "--health", "--timeout", "150s", "-o", "json"]);
      expect(waited.code, waited.stderr).toBe(0);
      expect(JSON.parse(waited.stdout)).toEqual({ app: "web", ready: true, clusters: 1 });
      expect(await greeting()).toBe("from-git");
      const late = await flotilla(["app", "wait", "nowhere", "--timeout", "2s"]);
      expect(late.code).toBe(1);
      expect(late.stderr).toMatch(/^error: app nowhere not ready after 2s: no cluster has a desired state/);

      // diff: a hand edit on the cluster shows, by object and field.
      expect((await flotilla(["app", "diff", "web", "--exit-code"])).code).toBe(0);
      await kubectl("patch", "configmap", "settings", "--type=merge", "-p", '{"data":{"greeting":"by-hand"}}');
      const diff = await flotilla(["app", "diff", "web", "-o", "json"]);
      expect(diff.code, diff.stderr).toBe(0);
      expect(JSON.parse(diff.stdout).clusters).toEqual([
        {
          cluster: "one",
          ok: true,
          message: "1 object(s) differ",
          objects: [
            {
              group: "",
              version: "v1",
              kind: "ConfigMap",
              namespace: "web",
              name: "settings",
              fields: ["data.greeting"],
            },
          ],
        },
      ]);
      const table = await flotilla(["app", "diff", "web"]);
      expect(table.stdout).toMatch(/^one +ConfigMap\/web\/settings +data\.greeting$/m);
      expect((await flotilla(["app", "diff", "web", "--exit-code"])).code).toBe(1);

      // refresh: the agent reconciles before answering, so the edit is gone when it returns.
      const refreshed = await flotilla(["app", "refresh", "web"]);
      expect(refreshed.code, refreshed.stderr).toBe(0);
      expect(refreshed.stdout).toMatch(/^one +yes +refreshed web$/m);
      expect(await greeting()).toBe("from-git");

      // Exit codes: not found 5, unauthorized 6, conflict 7, unreachable 2.
      expect((await flotilla(["app", "diff", "nope"])).code).toBe(5);
      expect((await flotilla(["app", "list"], { FLOTILLA_TOKEN: "flt_0000000000000000_wrong" })).code).toBe(6);
      const conflict = await flotilla(["team", "delete", "web", "--yes"]);
      expect(conflict.code).toBe(7);
      expect(conflict.stderr).toMatch(/still owns repos web; delete them first/);
      const port = await freePort();
      expect((await flotilla(["app", "list"], { FLOTILLA_HUB: `http://127.0.0.1:${port}` })).code).toBe(2);

      // delete: refused without --yes off a terminal; with it, the app's objects are pruned.
      const unasked = await flotilla(["app", "delete", "web"]);
      expect(unasked.code).toBe(1);
      expect(unasked.stderr).toMatch(/pass --yes/);
      const deleted = await flotilla(["app", "delete", "web", "--yes"]);
      expect(deleted.code, deleted.stderr).toBe(0);
      expect(deleted.stdout).toMatch(/^app\/web deleted; its objects are pruned from every cluster that ran it$/m);
      await until("the ConfigMap pruned from the cluster", async () =>
        (await greeting()) === undefined ? true : undefined,
      );
      expect((await flotilla(["app", "get", "web"])).code).toBe(5);
    } catch (err) {
      console.error(await fleet.logTails(40));
      throw err;
    }
  }, 400_000);
});
