import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, ExecPluginError, KubeApiError } from "./errors.js";
import {
  type ExecConfig,
  ExecCredentialSource,
  execInfo,
  lastStderrLine,
  type PluginOutput,
  type PluginRunner,
  parseExecConfig,
  parseExecCredential,
  processRunner,
  STDERR_LINE_MAX,
  usableUntil,
} from "./exec-credential.js";

const V1 = "client.authentication.k8s.io/v1";
const V1BETA1 = "client.authentication.k8s.io/v1beta1";
const SECRET = "tok-SECRET-do-not-print";
const where = 'kubeconfig k context "c" user "u"';

const config = (over: Partial<ExecConfig> = {}): ExecConfig => ({
  apiVersion: V1,
  command: "plugin",
  path: "plugin",
  args: [],
  env: {},
  interactiveMode: "Never",
  installHint: undefined,
  cluster: undefined,
  ...over,
});

const credential = (status: Record<string, unknown>, apiVersion = V1) =>
  JSON.stringify({ apiVersion, kind: "ExecCredential", status });

describe("parseExecConfig", () => {
  it("fills defaults, resolves a relative command against the kubeconfig's directory, keeps a bare one for PATH", () => {
    const c = parseExecConfig(
      { apiVersion: V1, command: "./bin/get-token", args: ["--x"], env: [{ name: "A", value: "1" }] },
      where,
      "/etc/kube",
      { server: "https://s" },
    );
    expect(c).toMatchObject({
      path: "/etc/kube/bin/get-token",
      command: "./bin/get-token",
      args: ["--x"],
      env: { A: "1" },
      interactiveMode: "IfAvailable",
      cluster: undefined,
    });
    expect(parseExecConfig({ apiVersion: V1BETA1, command: "aws" }, where, "/etc/kube", undefined).path).toBe("aws");
    expect(parseExecConfig({ apiVersion: V1, command: "/usr/bin/aws" }, where, "/etc/kube", undefined).path).toBe(
      "/usr/bin/aws",
    );
  });

  it("passes the cluster's details only to plugins that ask for them", () => {
    const cluster = { server: "https://s", "certificate-authority-data": "Q0E=" };
    const asks = parseExecConfig({ apiVersion: V1, command: "p", provideClusterInfo: true }, where, "/", cluster);
    expect(JSON.parse(execInfo(asks))).toEqual({
      apiVersion: V1,
      kind: "ExecCredential",
      spec: { interactive: false, cluster },
    });
    const doesNot = parseExecConfig({ apiVersion: V1, command: "p" }, where, "/", cluster);
    expect(JSON.parse(execInfo(doesNot)).spec).toEqual({ interactive: false });
  });

  it.each([
    ["no apiVersion", { command: "aws" }, /exec.apiVersion "" is not supported; use client.authentication.k8s.io\/v1/],
    ["v1alpha1", { apiVersion: "client.authentication.k8s.io/v1alpha1", command: "aws" }, /v1alpha1" is not supported/],
    ["no command", { apiVersion: V1 }, /exec.command/],
    ["a bad interactiveMode", { apiVersion: V1, command: "a", interactiveMode: "Sometimes" }, /exec.interactiveMode/],
  ])("refuses %s with one line naming the user", (_name, raw, message) => {
    let err: unknown;
    try {
      parseExecConfig(raw, where, "/", undefined);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain(where);
    expect((err as Error).message).not.toContain("\n");
  });
});

describe("parseExecCredential", () => {
  it("reads the token and its expiry", () => {
    const t = parseExecCredential(credential({ token: SECRET, expirationTimestamp: "2030-01-02T03:04:05Z" }), config());
    expect(t).toEqual({ token: SECRET, expiresAtMs: Date.parse("2030-01-02T03:04:05Z") });
    expect(parseExecCredential(credential({ token: SECRET }), config()).expiresAtMs).toBeUndefined();
    expect(parseExecCredential(credential({ token: SECRET }, V1BETA1), config({ apiVersion: V1BETA1 })).token).toBe(
      SECRET,
    );
  });

  it.each([
    ["not JSON", `token=${SECRET}`, /is not JSON/],
    ["not an ExecCredential", JSON.stringify({ kind: "Secret", token: SECRET }), /is not an ExecCredential/],
    [
      "another apiVersion",
      credential({ token: SECRET }, V1BETA1),
      /has apiVersion ".*v1beta1", but the kubeconfig asks for .*\/v1;/,
    ],
    ["no token", credential({ expirationTimestamp: "2030-01-01T00:00:00Z" }), /has no status.token/],
    [
      "a client certificate",
      credential({ clientCertificateData: SECRET, clientKeyData: SECRET }),
      /client certificate/,
    ],
    ["a bad expiry", credential({ token: SECRET, expirationTimestamp: "soon" }), /not an RFC 3339 time/],
  ])("refuses output that is %s, without quoting it", (_name, stdout, message) => {
    let err: unknown;
    try {
      parseExecCredential(stdout, config());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ExecPluginError);
    // A request that needed it fails as one the API server never answered: retried with backoff.
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).retryable).toBe(true);
    const e = err as Error;
    expect(e.message).toMatch(message);
    expect(e.message).toMatch(/^exec plugin plugin failed: /);
    expect(`${e.message} ${String(e.cause ?? "")} ${JSON.stringify(e)}`).not.toContain(SECRET);
  });
});

describe("usableUntil", () => {
  const now = 1_000_000;
  it.each([
    ["no expiry: until the API server refuses it", undefined, Number.POSITIVE_INFINITY],
    ["an hour: the expiry less 10 s", now + 3_600_000, now + 3_600_000 - 10_000],
    ["8 s: a quarter of its lifetime early", now + 8_000, now + 6_000],
    ["already expired: not usable", now - 5_000, now - 5_000],
  ])("%s", (_name, expiresAtMs, until) => {
    expect(usableUntil({ token: "t", expiresAtMs }, now)).toBe(until);
  });
});

describe("lastStderrLine", () => {
  it("keeps the last non-empty line, without control characters, cut short", () => {
    expect(lastStderrLine("first\nError: denied\n\n")).toBe("Error: denied");
    expect(lastStderrLine("\u001b[31mred\u001b[0m")).toBe("[31mred [0m");
    const long = lastStderrLine("x".repeat(STDERR_LINE_MAX + 50));
    expect(long).toHaveLength(STDERR_LINE_MAX + 1);
    expect(long.endsWith("…")).toBe(true);
    expect(lastStderrLine("")).toBe("");
  });
});

/** A runner of our own interface: hands out tokens in turn, counting runs. */
class CountingRunner implements PluginRunner {
  runs = 0;
  constructor(
    private readonly lifetimeMs: number | undefined,
    private readonly clock: { now: number },
  ) {}
  async run(): Promise<PluginOutput> {
    this.runs++;
    const status: Record<string, unknown> = { token: `token-${this.runs}` };
    if (this.lifetimeMs !== undefined) {
      status.expirationTimestamp = new Date(this.clock.now + this.lifetimeMs).toISOString();
    }
    await new Promise((r) => setTimeout(r, 5));
    return { stdout: credential(status) };
  }
}

describe("ExecCredentialSource", () => {
  it("runs the plugin once per token lifetime, and once for callers that ask together", async () => {
    const clock = { now: Date.parse("2030-01-01T00:00:00Z") };
    const runner = new CountingRunner(60_000, clock);
    const source = new ExecCredentialSource(config(), runner, () => clock.now);
    expect(await Promise.all([source.token(), source.token(), source.token()])).toEqual([
      "token-1",
      "token-1",
      "token-1",
    ]);
    clock.now += 49_000;
    expect(await source.token()).toBe("token-1");
    expect(runner.runs).toBe(1);
    clock.now += 2_000; // within 10 s of the expiry
    expect(await source.token()).toBe("token-2");
    expect(runner.runs).toBe(2);
  });

  it("keeps a token without expiry until the API server refuses it, then fetches a new one once", async () => {
    const clock = { now: 0 };
    const runner = new CountingRunner(undefined, clock);
    const source = new ExecCredentialSource(config(), runner, () => clock.now);
    expect(await source.token()).toBe("token-1");
    clock.now += 86_400_000;
    expect(await source.token()).toBe("token-1");
    expect(source.rejected("token-1")).toBe(true);
    // A second 401 for the same old token (a request in flight meanwhile) does not drop the new one.
    expect(await source.token()).toBe("token-2");
    source.rejected("token-1");
    expect(await source.token()).toBe("token-2");
    expect(runner.runs).toBe(2);
  });
});

describe("processRunner", () => {
  const dir = mkdtempSync(join(tmpdir(), "agent-exec-"));
  const script = (name: string, body: string): string => {
    const path = join(dir, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  };

  it("runs the command without a shell, with the kubeconfig's env and KUBERNETES_EXEC_INFO, stdin closed", async () => {
    const seen = join(dir, "seen");
    const path = script(
      "ok",
      `printf '%s|%s|%s' "$1" "$FROM_KUBECONFIG" "$KUBERNETES_EXEC_INFO" > ${seen}; read line && echo got-stdin >> ${seen}
printf '{"apiVersion":"${V1}","kind":"ExecCredential","status":{"token":"t"}}'`,
    );
    const c = config({ path, args: ["a b; echo injected"], env: { FROM_KUBECONFIG: "yes" } });
    const out = await processRunner.run(c);
    expect(parseExecCredential(out.stdout, c).token).toBe("t");
    expect(readFileSync(seen, "utf8")).toBe(`a b; echo injected|yes|${execInfo(c)}`);
  });

  it.each([
    [
      "exits non-zero",
      () => script("fails", `echo "token ${SECRET} expired" >&2\necho "error: access denied" >&2\nexit 3`),
      /exited with code 3 \(last line of its stderr: error: access denied\)$/,
    ],
    [
      "is missing, with the kubeconfig's install hint",
      () => join(dir, "absent"),
      /was not found \(install it: see docs\)/,
    ],
    [
      "is not executable",
      () => {
        const p = join(dir, "plain");
        writeFileSync(p, "x");
        return p;
      },
      /is not executable/,
    ],
  ])("gives one line when the plugin %s, never its secrets", async (_name, make, message) => {
    const err = await processRunner.run(config({ path: make(), installHint: "install it: see docs" })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ExecPluginError);
    const e = err as ExecPluginError;
    expect(e.message).toMatch(message);
    expect(e.message).not.toContain("\n");
    expect(`${e.message} ${String(e.cause ?? "")}`).not.toContain(SECRET);
  });

  it("refuses interactiveMode Always: the agent has no terminal", async () => {
    await expect(processRunner.run(config({ path: "true", interactiveMode: "Always" }))).rejects.toThrow(
      /interactiveMode: Always, and the agent has no terminal/,
    );
  });
});
