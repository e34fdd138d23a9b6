import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_LISTEN,
  DEFAULT_OFFLINE_AFTER_MISSED,
  DEFAULT_POLL_INTERVAL_MS,
  loadConfig,
  parseConfig,
} from "./config.js";
import { ConfigError } from "./errors.js";

const key = Buffer.alloc(32, 7).toString("base64");
const base = { FLOTILLA_HUB_ADMIN_TOKEN: "an-admin-token-long-enough", FLOTILLA_HUB_ENCRYPTION_KEY: key };

describe("loadConfig", () => {
  it("fills every default", () => {
    const c = loadConfig(base, []);
    expect(c.listen).toEqual({ host: "127.0.0.1", port: 8080 });
    expect(DEFAULT_LISTEN).toBe("127.0.0.1:8080");
    expect(c.pollIntervalMs).toBe(DEFAULT_POLL_INTERVAL_MS);
    expect(c.heartbeatIntervalMs).toBe(DEFAULT_HEARTBEAT_INTERVAL_MS);
    expect(c.offlineAfterMissed).toBe(DEFAULT_OFFLINE_AFTER_MISSED);
    expect(c.natsCreds).toBeUndefined();
    expect(c.operatorSetup).toBeUndefined();
    expect(c.encryptionKey).toEqual(Buffer.alloc(32, 7));
  });

  it("reads env vars, and flags win over them", () => {
    const c = loadConfig({ ...base, FLOTILLA_HUB_LISTEN: "0.0.0.0:9000", FLOTILLA_HUB_POLL_INTERVAL: "2m" }, [
      "--listen",
      "127.0.0.1:0",
      "--heartbeat-interval",
      "500ms",
      "--offline-after-missed",
      "5",
    ]);
    expect(c.listen).toEqual({ host: "127.0.0.1", port: 0 });
    expect(c.pollIntervalMs).toBe(120_000);
    expect(c.heartbeatIntervalMs).toBe(500);
    expect(c.offlineAfterMissed).toBe(5);
  });

  it("reads the Git URL rules, the names the agent reads: HTTPS to public hosts unless told otherwise", () => {
    expect(loadConfig(base, [])).toMatchObject({ gitAllowHttp: false, gitAllowedHosts: [] });
    const c = loadConfig({ ...base, FLOTILLA_GIT_ALLOW_HTTP: "true" }, [
      "--git-allowed-hosts",
      "127.0.0.1,git.internal",
    ]);
    expect(c).toMatchObject({ gitAllowHttp: true, gitAllowedHosts: ["127.0.0.1", "git.internal"] });
    expect(() => loadConfig({ ...base, FLOTILLA_GIT_ALLOWED_HOSTS: "10.0.0.0/99" }, [])).toThrow(
      /FLOTILLA_GIT_ALLOWED_HOSTS.*allowed Git host "10\.0\.0\.0\/99"/,
    );
  });

  it("reads the replica count of the buckets and the Redis Sentinel settings", () => {
    expect(loadConfig(base, [])).toMatchObject({ natsReplicas: 1, redisSentinelMaster: "flotilla" });
    expect(loadConfig(base, []).redisSentinels).toBeUndefined();
    const c = loadConfig(
      { ...base, FLOTILLA_NATS_REPLICAS: "3", FLOTILLA_REDIS_SENTINELS: "127.0.0.1:26379, [::1]:26380" },
      ["--redis-sentinel-master", "main"],
    );
    expect(c).toMatchObject({
      natsReplicas: 3,
      redisSentinelMaster: "main",
      redisSentinels: [
        { host: "127.0.0.1", port: 26379 },
        { host: "::1", port: 26380 },
      ],
    });
    expect(() => loadConfig({ ...base, FLOTILLA_REDIS_SENTINELS: "sentinel-a" }, [])).toThrow(
      /FLOTILLA_REDIS_SENTINELS.*"sentinel-a" is not host:port/,
    );
    expect(() => loadConfig({ ...base, FLOTILLA_NATS_REPLICAS: "0" }, [])).toThrow(/FLOTILLA_NATS_REPLICAS/);
  });

  it("requires TLS to NATS by default, and reads its CA, client certificate and server name from files", () => {
    const plain = loadConfig(base, []);
    expect(plain.natsInsecure).toBe(false);
    expect([plain.natsCa, plain.agentNatsCa]).toEqual([undefined, undefined]);
    const dir = mkdtempSync(join(tmpdir(), "hub-config-"));
    const pem = (label: string) => `-----BEGIN ${label}-----\nAAAA\n-----END ${label}-----\n`;
    writeFileSync(join(dir, "ca.pem"), pem("CERTIFICATE"));
    writeFileSync(join(dir, "key.pem"), pem("PRIVATE KEY"));
    const c = loadConfig(
      {
        ...base,
        FLOTILLA_NATS_CA_FILE: join(dir, "ca.pem"),
        FLOTILLA_NATS_CERT_FILE: join(dir, "ca.pem"),
        FLOTILLA_NATS_SERVER_NAME: "nats.internal",
      },
      ["--nats-key", join(dir, "key.pem"), "--agent-nats-ca-file", join(dir, "ca.pem")],
    );
    expect(c).toMatchObject({
      natsCa: pem("CERTIFICATE"),
      natsCert: pem("CERTIFICATE"),
      natsKey: pem("PRIVATE KEY"),
      natsServerName: "nats.internal",
      agentNatsCa: pem("CERTIFICATE"),
    });
    expect(() =>
      loadConfig({ ...base, FLOTILLA_NATS_INSECURE: "true", FLOTILLA_NATS_CA_FILE: join(dir, "ca.pem") }, []),
    ).toThrow("FLOTILLA_NATS_INSECURE: is true but FLOTILLA_NATS_CA_FILE set TLS up");
    expect(loadConfig({ ...base, FLOTILLA_NATS_INSECURE: "true" }, []).natsInsecure).toBe(true);
  });

  it("reads file settings from the files they name", () => {
    const dir = mkdtempSync(join(tmpdir(), "hub-config-"));
    writeFileSync(join(dir, "token"), "token-from-a-file-0123\n");
    writeFileSync(join(dir, "creds"), "-----BEGIN NATS USER JWT-----");
    const c = loadConfig({ FLOTILLA_HUB_ENCRYPTION_KEY: key, FLOTILLA_HUB_ADMIN_TOKEN_FILE: join(dir, "token") }, [
      "--nats-creds",
      join(dir, "creds"),
    ]);
    expect(c.adminToken).toBe("token-from-a-file-0123");
    expect(c.natsCreds).toContain("NATS USER JWT");
  });

  it.each([
    [{ FLOTILLA_HUB_ENCRYPTION_KEY: key }, [], /FLOTILLA_HUB_ADMIN_TOKEN: is required/],
    [{ FLOTILLA_HUB_ADMIN_TOKEN: "an-admin-token-long-enough" }, [], /FLOTILLA_HUB_ENCRYPTION_KEY: is required/],
    [{ ...base, FLOTILLA_HUB_ADMIN_TOKEN: "short" }, [], /FLOTILLA_HUB_ADMIN_TOKEN: must be at least 16/],
    [
      { ...base, FLOTILLA_HUB_ENCRYPTION_KEY: "c2hvcnQ=" },
      [],
      /FLOTILLA_HUB_ENCRYPTION_KEY: must be base64 of exactly 32 bytes/,
    ],
    [{ ...base, FLOTILLA_HUB_POLL_INTERVAL: "soon" }, [], /FLOTILLA_HUB_POLL_INTERVAL: "soon" is not a duration/],
    [{ ...base, FLOTILLA_HUB_LISTEN: "8080" }, [], /FLOTILLA_HUB_LISTEN: "8080" is not host:port/],
    [{ ...base, FLOTILLA_LOG_LEVEL: "loud" }, [], /FLOTILLA_LOG_LEVEL/],
    [{ ...base, FLOTILLA_HUB_OFFLINE_AFTER_MISSED: "0" }, [], /FLOTILLA_HUB_OFFLINE_AFTER_MISSED/],
    [{ FLOTILLA_HUB_ENCRYPTION_KEY: key, FLOTILLA_HUB_ADMIN_TOKEN_FILE: "/nonexistent/token" }, [], /cannot read/],
    [base, ["--no-such-flag"], /flags:/],
  ] as const)("fails fast with one line naming the setting (%#)", (env, argv, message) => {
    let error: unknown;
    try {
      loadConfig({ ...env }, [...argv]);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain("\n");
  });
});

describe("parseConfig", () => {
  it("takes a number of milliseconds for intervals from code", () => {
    const c = parseConfig({ adminToken: "an-admin-token-long-enough", encryptionKey: key, pollIntervalMs: 250 });
    expect(c.pollIntervalMs).toBe(250);
  });
});
