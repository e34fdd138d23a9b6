import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { CommandContext } from "../context.js";
import { run } from "../program.js";
import { type NatsInitResult, OPERATOR_SETUP_FILE, parseListen, SERVER_CONFIG_FILE } from "./nats.js";

function context() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  stderr.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const ctx = new CommandContext({ stdout, stderr, stdin: new PassThrough() }, { HOME: "/nonexistent-home" });
  return { ctx, out: () => out, err: () => err };
}

describe("flotilla nats init", () => {
  it("writes the operator setup (0600) and a server config that trusts it; a second run keeps the setup", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "flotilla-nats-init-")), "nats");
    const first = context();
    expect(await run(["nats", "init", "--dir", dir, "--listen", "127.0.0.1:14222", "-o", "json"], first.ctx)).toBe(0);
    const result = JSON.parse(first.out()) as NatsInitResult;
    expect(result).toMatchObject({ keptExistingSetup: false, serverConfigFile: join(dir, SERVER_CONFIG_FILE) });
    const setupPath = join(dir, OPERATOR_SETUP_FILE);
    expect(statSync(setupPath).mode & 0o777).toBe(0o600);
    const setup = JSON.parse(readFileSync(setupPath, "utf8")) as { operator: { publicKey: string; jwt: string } };
    expect(setup.operator.publicKey).toBe(result.operator);
    const config = readFileSync(result.serverConfigFile, "utf8");
    for (const line of [
      'listen: "127.0.0.1:14222"',
      'server_name: "flotilla-nats"',
      `store_dir: ${JSON.stringify(join(dir, "jetstream"))}`,
      "sync_interval: always",
      `operator: ${JSON.stringify(setup.operator.jwt)}`,
      "type: full",
      'http: "127.0.0.1:8222"',
    ]) {
      expect(config).toContain(line);
    }
    // The config holds JWTs (public), never a seed.
    expect(config).not.toMatch(/\bS[OAU][A-Z2-7]{20,}/);

    const again = context();
    expect(await run(["nats", "init", "--dir", dir, "--listen", "0.0.0.0:4333", "--monitor", "off"], again.ctx)).toBe(
      0,
    );
    expect(again.out()).toContain("kept as it was");
    expect(readFileSync(setupPath, "utf8")).toContain(result.operator);
    const rewritten = readFileSync(result.serverConfigFile, "utf8");
    expect(rewritten).toContain('listen: "0.0.0.0:4333"');
    expect(rewritten).not.toContain("http:");
  });

  it("refuses a bad --listen and a damaged operator setup with one line", async () => {
    const bad = context();
    expect(await run(["nats", "init", "--dir", "/tmp/unused", "--listen", "4222"], bad.ctx)).toBe(1);
    expect(bad.err()).toBe('error: --listen "4222" is not host:port: e.g. --listen 0.0.0.0:4222\n');

    const dir = mkdtempSync(join(tmpdir(), "flotilla-nats-init-"));
    writeFileSync(join(dir, OPERATOR_SETUP_FILE), "{}");
    const damaged = context();
    expect(await run(["nats", "init", "--dir", dir], damaged.ctx)).toBe(1);
    expect(damaged.err()).toMatch(/operator-setup.json: .*; move it away to create a new one\n$/);
    expect(damaged.err().split("\n")).toHaveLength(2);
  });

  it("writes a tls block for --tls-cert and --tls-key, with client certificates for --tls-client-ca", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flotilla-nats-init-"));
    for (const f of ["nats.crt", "nats.key", "clients-ca.crt"]) writeFileSync(join(dir, f), "PEM");
    const files = ["--tls-cert", join(dir, "nats.crt"), "--tls-key", join(dir, "nats.key")];
    const tls = context();
    expect(await run(["nats", "init", "--dir", join(dir, "a"), ...files], tls.ctx)).toBe(0);
    const config = readFileSync(join(dir, "a", SERVER_CONFIG_FILE), "utf8");
    expect(config).toContain(`cert_file: ${JSON.stringify(join(dir, "nats.crt"))}`);
    expect(config).toContain("verify: false");
    expect(tls.out()).toContain(`required, certificate ${join(dir, "nats.crt")}`);

    const mutual = context();
    const clientCa = ["--tls-client-ca", join(dir, "clients-ca.crt")];
    expect(await run(["nats", "init", "--dir", join(dir, "b"), ...files, ...clientCa], mutual.ctx)).toBe(0);
    expect(readFileSync(join(dir, "b", SERVER_CONFIG_FILE), "utf8")).toContain("verify: true");

    const plain = context();
    expect(await run(["nats", "init", "--dir", join(dir, "c")], plain.ctx)).toBe(0);
    expect(readFileSync(join(dir, "c", SERVER_CONFIG_FILE), "utf8")).not.toContain("tls {");
    expect(plain.out()).toContain("FLOTILLA_NATS_INSECURE=true");
  });

  it.each([
    [["--tls-cert", "x.crt"], "--tls-cert and --tls-key go together"],
    [["--tls-cert", "/nonexistent/x.crt", "--tls-key", "/nonexistent/x.key"], "/nonexistent/x.crt: does not exist"],
  ])("refuses TLS flags %j with one line", async (flags, message) => {
    const bad = context();
    expect(
      await run(["nats", "init", "--dir", mkdtempSync(join(tmpdir(), "flotilla-nats-init-")), ...flags], bad.ctx),
    ).toBe(1);
    expect(bad.err()).toContain(message);
    expect(bad.err().split("\n")).toHaveLength(2);
  });

  it.each([
    ["0.0.0.0:4222", { host: "0.0.0.0", port: 4222 }],
    ["[::1]:4222", { host: "::1", port: 4222 }],
  ])("parses --listen %s", (text, parts) => {
    expect(parseListen(text)).toEqual(parts);
  });
});
