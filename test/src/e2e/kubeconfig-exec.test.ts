/**
 * Kubeconfigs as EKS, GKE and AKS hand them out: the user runs an `exec` credential plugin.
 * Against a real kube-apiserver, with a plugin script written here that prints an ExecCredential
 * holding a ServiceAccount token the API server accepts, and counts its runs: the agent's
 * client runs it once per token lifetime, again after expiry, again once the API server refuses
 * the token (401); the agent process runs with such a kubeconfig and a context other than the
 * current one; and a plugin that fails stops the agent with one line that holds no secret.
 */
import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { fromKubeconfigFile, KubeApiError, KubeClient } from "@flotilla/agent";
import {
  type AgentProcess,
  binPath,
  type Cluster,
  freePort,
  type NatsServer,
  startAgentProcess,
  startCluster,
  startNats,
  until,
} from "@flotilla/devfleet";
import { generateSigningKey, publicKeyToPem, signingKeyToPem } from "@flotilla/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";

const run = promisify(execFile);
const WAIT_MS = 90_000;
/** Printed by the failing plugin: it must reach no log line and no error. */
const LEAKED = "leaked-secret-4f1c";

describe("kubeconfig users with exec credential plugins", () => {
  const work = mkdtempSync(join(tmpdir(), "flotilla-exec-"));
  const runs = join(work, "runs");
  const tokenFile = join(work, "token");
  const lifetimeFile = join(work, "lifetime");
  let cluster: Cluster;
  let nats: NatsServer;
  const agents: AgentProcess[] = [];

  const kubectl = async (...args: string[]) =>
    (await run(binPath("kubectl"), ["--kubeconfig", cluster.kubeconfigPath, ...args])).stdout.trim();
  /** A token of a new cluster-admin ServiceAccount, as `kubectl create token` issues it. */
  const serviceAccountToken = async (name: string) => {
    await kubectl("-n", "default", "create", "serviceaccount", name);
    await kubectl(
      "create",
      "clusterrolebinding",
      name,
      "--clusterrole=cluster-admin",
      `--serviceaccount=default:${name}`,
    );
    return kubectl("-n", "default", "create", "token", name, "--duration=1h");
  };
  const pluginRuns = () => readFileSync(runs, "utf8").split("\n").filter(Boolean).length;

  /** A plugin as a user would have one: a script that counts its runs and prints an ExecCredential. */
  function writePlugin(name: string, body: string): string {
    const path = join(work, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  }

  /**
   * A kubeconfig whose current context is a user that cannot authenticate, and whose `exec`
   * context runs `command` (relative to the kubeconfig's directory, as client-go resolves it).
   */
  function writeKubeconfig(name: string, command: string): string {
    const admin = fromKubeconfigFile(cluster.kubeconfigPath);
    const path = join(work, name);
    writeFileSync(
      path,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        "current-context": "nobody",
        clusters: [
          {
            name: "fixture",
            cluster: { server: cluster.server, "certificate-authority-data": admin.ca?.toString("base64") },
          },
        ],
        users: [
          { name: "nobody", user: { token: "not-a-token" } },
          {
            name: "exec-user",
            user: {
              exec: {
                apiVersion: "client.authentication.k8s.io/v1",
                command,
                args: ["--cluster", "fixture"],
                env: [{ name: "COUNT_TO", value: runs }],
                interactiveMode: "Never",
                provideClusterInfo: true,
              },
            },
          },
        ],
        contexts: [
          { name: "nobody", context: { cluster: "fixture", user: "nobody" } },
          { name: "exec", context: { cluster: "fixture", user: "exec-user" } },
        ],
      }),
      { mode: 0o600 },
    );
    return path;
  }

  beforeAll(async () => {
    [cluster, nats] = await Promise.all([startCluster({ name: "exec" }), startNats()]);
    writeFileSync(runs, "");
    writeFileSync(tokenFile, await serviceAccountToken("exec-a"));
    writeFileSync(lifetimeFile, "3");
    // Counts its run, then prints the token of the moment with an expiry `lifetime` seconds out.
    writePlugin(
      "get-token",
      `echo "$1 $2 $(printf %s "$KUBERNETES_EXEC_INFO" | grep -c '"server":"https://127.0.0.1')" >> "$COUNT_TO"
expiry=$(date -u -d "+$(cat ${lifetimeFile}) seconds" +%Y-%m-%dT%H:%M:%SZ)
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"}}' "$(cat ${tokenFile})" "$expiry"`,
    );
  });

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await Promise.all([cluster?.stop(), nats?.stop()]);
    rmSync(work, { recursive: true, force: true });
  });

  it("runs the plugin once per token lifetime, again after expiry, and again when the API server refuses its token", async () => {
    const kube = new KubeClient(
      fromKubeconfigFile(writeKubeconfig("in-process.kubeconfig", "./get-token"), { context: "exec" }),
    );
    try {
      // Callers at once share one run; the plugin got its arguments and the cluster's details.
      const versions = await Promise.all(Array.from({ length: 5 }, () => kube.version()));
      expect(new Set(versions)).toEqual(new Set(["v1.34.4"]));
      expect(pluginRuns()).toBe(1);
      expect(readFileSync(runs, "utf8")).toBe("--cluster fixture 1\n");

      // The 3 s token expires; the next request runs the plugin again (now for a 1 h token).
      await new Promise((r) => setTimeout(r, 3_500));
      writeFileSync(lifetimeFile, "3600");
      await kube.version();
      expect(pluginRuns()).toBe(2);
      await kube.list("v1", "Namespace");
      expect(pluginRuns()).toBe(2);

      // Revoke the cached token well before its stated expiry: deleting its ServiceAccount
      // invalidates it. The plugin now hands out another account's token.
      const revoked = readFileSync(tokenFile, "utf8");
      writeFileSync(tokenFile, await serviceAccountToken("exec-b"));
      await kubectl("-n", "default", "delete", "serviceaccount", "exec-a");
      const withRevoked = new KubeClient({
        ...fromKubeconfigFile(cluster.kubeconfigPath),
        cert: undefined,
        key: undefined,
        authorization: async () => `Bearer ${revoked}`,
        unauthorized: () => false,
      });
      await until(
        "the API server to refuse the revoked token",
        () =>
          withRevoked.version().then(
            () => false,
            (err: unknown) => err instanceof KubeApiError && err.status === 401,
          ),
        WAIT_MS,
        250,
      );
      withRevoked.close();
      // One request: a 401, the plugin's third run, the same request again, answered.
      expect((await kube.list("v1", "Namespace")).map((n) => n.metadata?.name)).toContain("default");
      expect(pluginRuns()).toBe(3);
    } finally {
      kube.close();
    }
  });

  /** Starts the agent with `kubeconfig` and its `exec` context, against a NATS with no hub behind it. */
  async function startAgent(name: string, kubeconfig: string): Promise<AgentProcess> {
    const metricsPort = await freePort();
    const agent = await startAgentProcess({
      dir: join(work, name),
      bootstrap: {
        cluster: name,
        natsUrl: nats.url,
        natsCreds: "",
        hubPublicKey: publicKeyToPem(generateSigningKey().publicKey),
        agentSigningKey: signingKeyToPem(generateSigningKey()),
      },
      natsTls: nats.tls,
      kubeconfig,
      metricsPort,
      env: { FLOTILLA_KUBE_CONTEXT: "exec", FLOTILLA_HEARTBEAT_INTERVAL: "1s" },
    });
    agents.push(agent);
    return agent;
  }

  it("the agent process authenticates through the plugin, in a context other than the current one", async () => {
    const before = pluginRuns();
    const agent = await startAgent("exec-agent", writeKubeconfig("agent.kubeconfig", "./get-token"));
    // Ready means the API server answered the agent's probe: it authenticated.
    await until(
      "the agent to be ready",
      async () => {
        if (!agent.process.alive()) throw new Error(`the agent exited:\n${await agent.process.log()}`);
        const res = await fetch(`${agent.endpoints}/readyz`).catch(() => undefined);
        return res?.status === 200;
      },
      WAIT_MS,
      250,
    );
    expect(pluginRuns()).toBeGreaterThan(before);
    expect(await agent.process.log()).not.toContain(readFileSync(tokenFile, "utf8"));
  });

  it("a plugin that fails stops the agent with one line that names it and holds no secret", async () => {
    writePlugin(
      "broken-token",
      `echo "request for token ${LEAKED}" >&2\necho "error: the SSO session has expired; log in again" >&2\nexit 1`,
    );
    const agent = await startAgent("broken-agent", writeKubeconfig("broken.kubeconfig", "./broken-token"));
    const status = await agent.process.exited;
    expect(status.code).not.toBe(0);
    const log = await agent.process.log();
    expect(log).not.toContain(LEAKED);
    const lines = log.split("\n").filter((l) => l.includes("exec plugin"));
    expect(lines).toEqual([
      "flotilla-agent: ExecPluginError: exec plugin ./broken-token failed: it exited with code 1 (last line of its stderr: error: the SSO session has expired; log in again)",
    ]);
  });
});
