import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "./errors.js";
import { fromKubeconfigFile } from "./kubeconfig.js";

const dir = mkdtempSync(join(tmpdir(), "agent-kubeconfig-"));
function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("fromKubeconfigFile", () => {
  it("reads the current context's server, CA, client certificate and token", () => {
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
    expect(t.authorization()).toBe("Bearer t2");
  });

  it.each([
    ["no server", "clusters: []\n", /no cluster server/],
    [
      "an exec user",
      "current-context: a\ncontexts: [{ name: a, context: { cluster: c, user: u } }]\nclusters: [{ name: c, cluster: { server: 'https://x' } }]\nusers: [{ name: u, user: { exec: { command: aws } } }]\n",
      /not supported/,
    ],
  ])("refuses %s with a clear error", (_n, text, message) => {
    const path = write(`bad-${_n.replaceAll(" ", "-")}`, text);
    expect(() => fromKubeconfigFile(path)).toThrow(ConfigError);
    expect(() => fromKubeconfigFile(path)).toThrow(message);
  });

  it("names the line of a YAML error without quoting it, since it may hold a token", () => {
    const path = write("broken", "users:\n- name: u\n  user:\n    token: sk-SECRET: x\n");
    let err: ConfigError | undefined;
    try {
      fromKubeconfigFile(path);
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err?.message).toMatch(/line 4/);
    expect(`${err?.message} ${(err?.cause as Error | undefined)?.message}`).not.toContain("SECRET");
  });
});
