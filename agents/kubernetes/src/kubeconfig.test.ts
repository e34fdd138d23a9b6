import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { ConfigError } from "./errors.js";
import type { PluginOutput, PluginRunner } from "./exec-credential.js";
import { fromKubeconfigFile } from "./kubeconfig.js";

const dir = mkdtempSync(join(tmpdir(), "agent-kubeconfig-"));
function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
const b64 = (s: string) => Buffer.from(s).toString("base64");

/** A kubeconfig with one context per user, all on one cluster unless the user says otherwise. */
function kubeconfig(
  name: string,
  users: Record<string, Record<string, unknown>>,
  options: { current?: string; cluster?: Record<string, unknown> } = {},
): string {
  return write(
    name,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      ...(options.current ? { "current-context": options.current } : {}),
      clusters: [{ name: "c", cluster: { server: "https://c:6443", ...options.cluster } }],
      users: Object.entries(users).map(([user, fields]) => ({ name: user, user: fields })),
      contexts: Object.keys(users).map((user) => ({ name: user, context: { cluster: "c", user } })),
    }),
  );
}

function errorOf(load: () => unknown): Error {
  try {
    load();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).not.toContain("\n");
    return err as Error;
  }
  throw new Error("expected a ConfigError");
}

describe("fromKubeconfigFile", () => {
  it("reads the current context's server, CA, client certificate and token", async () => {
    write("ca.crt", "CA-FILE");
    const path = write(
      "config",
      `apiVersion: v1
kind: Config
current-context: b
contexts:
  - { name: a, context: { cluster: one, user: u1 } }
  - { name: b, context: { cluster: two, user: u2 } }
clusters:
  - { name: one, cluster: { server: "https://one:6443" } }
  - { name: two, cluster: { server: "https://two:6443", certificate-authority: ca.crt } }
users:
  - { name: u1, user: { token: t1 } }
  - { name: u2, user: { token: t2, client-certificate-data: ${b64("CERT")}, client-key-data: ${b64("KEY")} } }
`,
    );
    const t = fromKubeconfigFile(path);
    expect(t.server).toBe("https://two:6443");
    expect(t.ca?.toString()).toBe("CA-FILE");
    expect(t.cert?.toString()).toBe("CERT");
    expect(t.key?.toString()).toBe("KEY");
    expect(await t.authorization()).toBe("Bearer t2");
    expect(t.insecureSkipTlsVerify).toBe(false);
    expect(t.unauthorized("Bearer t2")).toBe(false);

    const other = fromKubeconfigFile(path, { context: "a" });
    expect(other.server).toBe("https://one:6443");
    expect(await other.authorization()).toBe("Bearer t1");
  });

  it("reads client certificates and tokens from files relative to the kubeconfig, the token per request", async () => {
    const sub = join(dir, "files");
    mkdirSync(sub);
    writeFileSync(join(sub, "client.crt"), "CERT-FILE");
    writeFileSync(join(sub, "client.key"), "KEY-FILE");
    writeFileSync(join(sub, "token"), "first\n");
    const path = join(sub, "config");
    writeFileSync(
      path,
      stringify({
        "current-context": "x",
        clusters: [{ name: "c", cluster: { server: "https://c" } }],
        users: [
          { name: "u", user: { "client-certificate": "client.crt", "client-key": "client.key", tokenFile: "token" } },
        ],
        contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
      }),
    );
    const t = fromKubeconfigFile(path);
    expect([t.cert?.toString(), t.key?.toString()]).toEqual(["CERT-FILE", "KEY-FILE"]);
    expect(await t.authorization()).toBe("Bearer first");
    writeFileSync(join(sub, "token"), "rotated\n");
    expect(await t.authorization()).toBe("Bearer rotated");
  });

  it("merges a KUBECONFIG list as kubectl does: first file wins, missing files skipped", async () => {
    const first = write(
      "first",
      stringify({
        "current-context": "prod",
        contexts: [{ name: "prod", context: { cluster: "prod", user: "admin" } }],
        users: [{ name: "admin", user: { token: "from-first" } }],
      }),
    );
    const second = write(
      "second",
      stringify({
        "current-context": "dev",
        clusters: [{ name: "prod", cluster: { server: "https://prod" } }],
        users: [{ name: "admin", user: { token: "from-second" } }],
      }),
    );
    const t = fromKubeconfigFile([first, join(dir, "absent"), second].join(delimiter));
    expect(t.server).toBe("https://prod");
    expect(await t.authorization()).toBe("Bearer from-first");
  });

  it("skips TLS verification only when the kubeconfig says so", () => {
    expect(
      fromKubeconfigFile(
        kubeconfig("insecure", { u: {} }, { current: "u", cluster: { "insecure-skip-tls-verify": true } }),
      ).insecureSkipTlsVerify,
    ).toBe(true);
    expect(
      fromKubeconfigFile(
        kubeconfig("string-true", { u: {} }, { current: "u", cluster: { "insecure-skip-tls-verify": "true" } }),
      ).insecureSkipTlsVerify,
    ).toBe(false);
  });

  it("runs an exec plugin for the token, with the cluster's details when asked, and again after a 401", async () => {
    const seen: string[] = [];
    const runner: PluginRunner = {
      async run(config): Promise<PluginOutput> {
        seen.push(`${config.path} ${config.args.join(" ")} ${config.cluster?.server ?? "-"}`);
        return {
          stdout: JSON.stringify({
            apiVersion: config.apiVersion,
            kind: "ExecCredential",
            status: { token: `exec-${seen.length}` },
          }),
        };
      },
    };
    const path = kubeconfig(
      "exec",
      {
        eks: {
          exec: {
            apiVersion: "client.authentication.k8s.io/v1beta1",
            command: "aws",
            args: ["eks", "get-token", "--cluster-name", "prod"],
            provideClusterInfo: true,
          },
        },
      },
      { current: "eks" },
    );
    const t = fromKubeconfigFile(path, { runner });
    expect(await t.authorization()).toBe("Bearer exec-1");
    expect(await t.authorization()).toBe("Bearer exec-1");
    expect(t.unauthorized("Bearer exec-1")).toBe(true);
    expect(await t.authorization()).toBe("Bearer exec-2");
    expect(seen).toEqual([
      "aws eks get-token --cluster-name prod https://c:6443",
      "aws eks get-token --cluster-name prod https://c:6443",
    ]);
  });

  it.each([
    ["no contexts", stringify({ clusters: [] }), /has no contexts/],
    [
      "several contexts and no current one",
      stringify({
        contexts: [
          { name: "a", context: {} },
          { name: "b", context: {} },
        ],
      }),
      /has no current-context; set FLOTILLA_KUBE_CONTEXT to one of a, b/,
    ],
    [
      "a current context that does not exist",
      stringify({ "current-context": "gone", contexts: [{ name: "a", context: {} }] }),
      /has no context "gone" \(named by current-context\); it has a/,
    ],
    [
      "a context naming a cluster it does not define",
      stringify({
        "current-context": "a",
        contexts: [{ name: "a", context: { cluster: "x" } }],
        clusters: [{ name: "y", cluster: { server: "https://y" } }],
      }),
      /context "a" names cluster "x", which the kubeconfig does not define/,
    ],
  ])("refuses %s with one line", (name, text, message) => {
    const path = write(`bad-${name.replaceAll(" ", "-")}`, text);
    expect(errorOf(() => fromKubeconfigFile(path)).message).toMatch(message);
  });

  it("refuses a context the agent is told to use that the kubeconfig lacks", () => {
    const path = kubeconfig("two", { a: {}, b: {} }, { current: "a" });
    expect(errorOf(() => fromKubeconfigFile(path, { context: "c" })).message).toMatch(
      /has no context "c" \(named by FLOTILLA_KUBE_CONTEXT\); it has a, b/,
    );
  });

  it.each([
    [
      "an auth-provider user (removed upstream)",
      { "auth-provider": { name: "gcp", config: { "access-token": "SECRET" } } },
      {},
      /user "u" uses auth-provider "gcp", which Kubernetes removed in 1.26; use its exec plugin instead/,
    ],
    ["impersonation", { token: "t", as: "admin" }, {}, /impersonates \(as\), which the agent does not do/],
    [
      "a token and a password",
      { token: "SECRET", username: "u", password: "SECRET" },
      {},
      /sets token and username\/password; keep one/,
    ],
    [
      "a client certificate without its key",
      { "client-certificate-data": b64("C") },
      {},
      /client certificate without its key/,
    ],
    [
      "an exec plugin of an old API",
      { exec: { apiVersion: "client.authentication.k8s.io/v1alpha1", command: "x" } },
      {},
      /v1alpha1" is not supported/,
    ],
    [
      "a CA together with insecure-skip-tls-verify",
      {},
      { "certificate-authority-data": b64("CA"), "insecure-skip-tls-verify": true },
      /sets both a CA and insecure-skip-tls-verify/,
    ],
    ["a proxy", {}, { "proxy-url": "http://proxy:3128" }, /sets proxy-url, which the agent does not support/],
    ["a token file that is missing", { tokenFile: "/nonexistent/token" }, {}, /user "u": ENOENT/],
  ])("refuses %s with one line naming the context, never the secret", (name, user, cluster, message) => {
    const path = kubeconfig(`refuse-${name.replaceAll(" ", "-")}`, { u: user }, { current: "u", cluster });
    const err = errorOf(() => fromKubeconfigFile(path));
    expect(err.message).toMatch(message);
    expect(err.message).toContain(`context "u"`);
    expect(err.message).not.toContain("SECRET");
  });

  it("names the line of a YAML error without quoting it, since it may hold a token", () => {
    const path = write("broken", "users:\n- name: u\n  user:\n    token: sk-SECRET: x\n");
    const err = errorOf(() => fromKubeconfigFile(path));
    expect(err.message).toMatch(/line 4/);
    expect(`${err.message} ${(err.cause as Error | undefined)?.message}`).not.toContain("SECRET");
  });
});
