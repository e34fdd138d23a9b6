import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { configSchema, DEFAULT_DRIFT_INTERVAL_MS, DEFAULT_NAMESPACE, loadConfig } from "./config.js";
import { ConfigError } from "./errors.js";
// From the package entry, as the chart test reads it.
import { AGENT_SETTINGS } from "./index.js";

const dir = mkdtempSync(join(tmpdir(), "agent-config-"));
const bundle = join(dir, "bootstrap.json");
writeFileSync(
  bundle,
  JSON.stringify({
    cluster: "prod-eu-1",
    natsUrl: "nats://127.0.0.1:4222",
    natsCreds: "",
    hubPublicKey: "HUB",
    agentSigningKey: "AGENT",
  }),
);

describe("loadConfig", () => {
  it("reads a bootstrap bundle and applies defaults", () => {
    const c = loadConfig(["--bootstrap", bundle], {});
    expect(c).toMatchObject({ cluster: "prod-eu-1", hubPublicKey: "HUB", namespace: DEFAULT_NAMESPACE });
    expect(c.driftIntervalMs).toBe(DEFAULT_DRIFT_INTERVAL_MS);
  });

  it("takes NATS's CA from the bundle, requires TLS, and lets an explicit plaintext setting drop the CA", () => {
    const ca = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    const withCa = join(dir, "bootstrap-ca.json");
    writeFileSync(withCa, JSON.stringify({ ...JSON.parse(readFileSync(bundle, "utf8")), natsCa: ca }));
    const plain = loadConfig(["--bootstrap", bundle], {});
    expect([plain.natsInsecure, plain.natsCa]).toEqual([false, undefined]);
    expect(loadConfig(["--bootstrap", withCa], {})).toMatchObject({ natsInsecure: false, natsCa: ca });
    const insecure = loadConfig(["--bootstrap", withCa], { FLOTILLA_NATS_INSECURE: "true" });
    expect([insecure.natsInsecure, insecure.natsCa]).toEqual([true, undefined]);
    writeFileSync(join(dir, "ca.pem"), ca);
    expect(() =>
      loadConfig(["--bootstrap", bundle, "--nats-ca", join(dir, "ca.pem")], { FLOTILLA_NATS_INSECURE: "true" }),
    ).toThrow("FLOTILLA_NATS_INSECURE: is true but FLOTILLA_NATS_CA_FILE set TLS up");
  });

  it("lets flags override env and env override the bundle", () => {
    const c = loadConfig(["--drift-interval", "2"], {
      FLOTILLA_BOOTSTRAP: bundle,
      FLOTILLA_CLUSTER: "other",
      FLOTILLA_DRIFT_INTERVAL: "9",
      FLOTILLA_HELM_BIN: "/opt/helm",
    });
    expect(c).toMatchObject({ cluster: "other", driftIntervalMs: 2_000, helmBin: "/opt/helm" });
  });

  it("reads intervals and deadlines as durations, the way the hub does; a bare number is seconds", () => {
    const c = loadConfig(["--bootstrap", bundle, "--health-poll", "1.5"], {
      FLOTILLA_HEARTBEAT_INTERVAL: "500ms",
      FLOTILLA_DRIFT_INTERVAL: "2m",
      FLOTILLA_HEALTH_IDLE_POLL: "30",
      FLOTILLA_PROGRESS_DEADLINE: "1h",
    });
    expect(c).toMatchObject({
      heartbeatIntervalMs: 500,
      driftIntervalMs: 120_000,
      healthPollMs: 1_500,
      healthIdlePollMs: 30_000,
      progressDeadlineMs: 3_600_000,
    });
  });

  it("reads the Git URL rules: HTTPS to public hosts unless told otherwise", () => {
    expect(loadConfig(["--bootstrap", bundle], {})).toMatchObject({ gitAllowHttp: false, gitAllowedHosts: [] });
    const c = loadConfig(["--bootstrap", bundle], {
      FLOTILLA_GIT_ALLOW_HTTP: "true",
      FLOTILLA_GIT_ALLOWED_HOSTS: "git.internal, 127.0.0.1,10.0.0.0/8",
    });
    expect(c).toMatchObject({ gitAllowHttp: true, gitAllowedHosts: ["git.internal", "127.0.0.1", "10.0.0.0/8"] });
    expect(() => loadConfig(["--bootstrap", bundle], { FLOTILLA_GIT_ALLOWED_HOSTS: "10.0.0.0/40" })).toThrow(
      /FLOTILLA_GIT_ALLOWED_HOSTS: allowed Git host "10\.0\.0\.0\/40" is not/,
    );
    expect(() => loadConfig(["--bootstrap", bundle], { FLOTILLA_GIT_ALLOW_HTTP: "yes" })).toThrow(ConfigError);
  });

  it("lists every setting it reads, under the names it always had", () => {
    const fields = new Set(AGENT_SETTINGS.map((s) => s.field));
    // retryBackoffMs is for tests and embedding only.
    expect(Object.keys(configSchema.shape).filter((f) => !fields.has(f as never))).toEqual(["retryBackoffMs"]);
    const upper = (flag: string) => `FLOTILLA_${flag.toUpperCase().replaceAll("-", "_")}`;
    for (const s of AGENT_SETTINGS) {
      if (s.flag) expect(s.env).toBe(upper(s.flag));
      if (s.fileFlag && s.field !== "bootstrap") expect(s.fileEnv).toBe(`${upper(s.fileFlag)}_FILE`);
    }
    expect(AGENT_SETTINGS.find((s) => s.field === "bootstrap")?.fileEnv).toBe("FLOTILLA_BOOTSTRAP");
  });

  it("reads key files", () => {
    const key = join(dir, "hub.pem");
    writeFileSync(key, "PEM");
    const c = loadConfig([], {
      FLOTILLA_CLUSTER: "a",
      FLOTILLA_NATS_URL: "nats://x",
      FLOTILLA_HUB_PUBLIC_KEY_FILE: key,
      FLOTILLA_AGENT_KEY_FILE: key,
    });
    expect(c.hubPublicKey).toBe("PEM");
  });

  it("reads the registration token from its file and the hub's URL; neither by default", () => {
    expect(loadConfig(["--bootstrap", bundle], {})).toMatchObject({ hubUrl: "", registrationToken: "" });
    const token = join(dir, "registration-token");
    writeFileSync(token, "flreg_abc\n");
    const c = loadConfig(["--bootstrap", bundle], {
      FLOTILLA_REGISTRATION_TOKEN_FILE: token,
      FLOTILLA_HUB_URL: "https://hub.example.com",
    });
    expect(c).toMatchObject({ registrationToken: "flreg_abc", hubUrl: "https://hub.example.com" });
    expect(() => loadConfig(["--bootstrap", bundle], { FLOTILLA_REGISTRATION_TOKEN_FILE: token })).toThrow(
      /FLOTILLA_REGISTRATION_TOKEN_FILE is set without FLOTILLA_HUB_URL/,
    );
    expect(() => loadConfig(["--bootstrap", bundle], { FLOTILLA_HUB_URL: "hub.example.com" })).toThrow(
      /FLOTILLA_HUB_URL.*http/,
    );
  });

  it("refuses an http:// hub URL unless FLOTILLA_HUB_INSECURE is set, naming both settings", () => {
    expect(() => loadConfig(["--bootstrap", bundle], { FLOTILLA_HUB_URL: "http://hub.example.com" })).toThrow(
      /FLOTILLA_HUB_URL is http:\/\/.*FLOTILLA_HUB_INSECURE=true/,
    );
    const c = loadConfig(["--bootstrap", bundle], {
      FLOTILLA_HUB_URL: "http://127.0.0.1:8080",
      FLOTILLA_HUB_INSECURE: "true",
    });
    expect(c).toMatchObject({ hubUrl: "http://127.0.0.1:8080", hubInsecure: true });
    expect(loadConfig(["--bootstrap", bundle], {}).hubInsecure).toBe(false);
  });

  it.each([
    [[], {}, /^FLOTILLA_CLUSTER: is required$/],
    [["--bootstrap", bundle, "--drift-interval=-1"], {}, /FLOTILLA_DRIFT_INTERVAL: "-1" is not a duration/],
    [
      ["--bootstrap", bundle],
      { FLOTILLA_HEARTBEAT_INTERVAL: "10 seconds" },
      /FLOTILLA_HEARTBEAT_INTERVAL.*not a duration/,
    ],
    [["--bootstrap", bundle], { FLOTILLA_PROGRESS_DEADLINE: "0s" }, /FLOTILLA_PROGRESS_DEADLINE/],
    [["--bootstrap", bundle], { FLOTILLA_CLUSTER: "Not_A_Label" }, /DNS label/],
    [["--nope"], {}, /^flags: .*--nope/],
    [["--bootstrap", join(dir, "missing.json")], {}, /^--bootstrap: cannot read .*missing\.json/],
  ])("fails fast on %j %j", (argv, env, message) => {
    expect(() => loadConfig(argv, env)).toThrow(ConfigError);
    expect(() => loadConfig(argv, env)).toThrow(message);
  });

  it("does not quote a malformed bootstrap file, which holds the agent key, in its error", () => {
    const broken = join(dir, "broken.json");
    writeFileSync(broken, '{"cluster":"c","agentSigningKey":SECRETKEY}');
    const err = (() => {
      try {
        loadConfig(["--bootstrap", broken], {});
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err?.message).toMatch(/broken\.json is not JSON/);
    expect(`${err?.message} ${String(err?.cause)}`).not.toContain("SECRET");
  });
});
