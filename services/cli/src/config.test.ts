import { chmodSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  configFileWarning,
  configPath,
  DEFAULT_HUB,
  parseConfigFile,
  resolveSettings,
  writeConfigFile,
} from "./config.js";
import { SettingsError } from "./errors.js";

const FILE = "/home/me/.config/flotilla/config.yaml";

describe("resolveSettings", () => {
  it("takes flags over environment over file, and says where each value came from", () => {
    const cases: {
      name: string;
      flags: Record<string, string>;
      env: Record<string, string>;
      file: Record<string, string>;
      hub: string;
      token: string | undefined;
      tokenSource: string;
    }[] = [
      { name: "nothing given", flags: {}, env: {}, file: {}, hub: DEFAULT_HUB, token: undefined, tokenSource: "none" },
      {
        name: "file only",
        flags: {},
        env: {},
        file: { hub: "http://file:1", token: "t-file" },
        hub: "http://file:1",
        token: "t-file",
        tokenSource: `config file ${FILE}`,
      },
      {
        name: "env beats file",
        flags: {},
        env: { FLOTILLA_HUB: "http://env:2", FLOTILLA_TOKEN: "t-env" },
        file: { hub: "http://file:1", token: "t-file" },
        hub: "http://env:2",
        token: "t-env",
        tokenSource: "FLOTILLA_TOKEN",
      },
      {
        name: "flags beat env and file",
        flags: { hub: "http://flag:3", token: "t-flag" },
        env: { FLOTILLA_HUB: "http://env:2", FLOTILLA_TOKEN: "t-env" },
        file: { hub: "http://file:1", token: "t-file" },
        hub: "http://flag:3",
        token: "t-flag",
        tokenSource: "--token",
      },
      {
        name: "an empty env var does not hide the file",
        flags: {},
        env: { FLOTILLA_TOKEN: "" },
        file: { token: "t-file" },
        hub: DEFAULT_HUB,
        token: "t-file",
        tokenSource: `config file ${FILE}`,
      },
      {
        name: "host:port means http, trailing slashes go",
        flags: { hub: "hub.internal:8080/" },
        env: {},
        file: {},
        hub: "http://hub.internal:8080",
        token: undefined,
        tokenSource: "none",
      },
    ];
    for (const c of cases) {
      const r = resolveSettings(c.flags, c.env, c.file, FILE);
      expect(r.settings.hub, c.name).toBe(c.hub);
      expect(r.settings.token, c.name).toBe(c.token);
      expect(r.sources.token, c.name).toBe(c.tokenSource);
    }
  });

  it("names the source of a bad value", () => {
    expect(() => resolveSettings({}, { FLOTILLA_HUB: "ftp://x" }, {}, FILE)).toThrow(
      new SettingsError("FLOTILLA_HUB", '"ftp://x" must be an http:// or https:// URL'),
    );
    expect(() => resolveSettings({}, {}, { output: "xml" }, FILE)).toThrow(
      /^config file .*: must be one of table, wide, json, yaml$/,
    );
    expect(() => resolveSettings({ requestTimeout: "-1" }, {}, {}, FILE)).toThrow(/^--request-timeout: /);
  });

  it("reads the output format and timeout", () => {
    const r = resolveSettings({}, { FLOTILLA_OUTPUT: "yaml", FLOTILLA_REQUEST_TIMEOUT: "5" }, {}, FILE);
    expect(r.settings.output).toBe("yaml");
    expect(r.settings.requestTimeoutMs).toBe(5000);
  });
});

describe("config file", () => {
  it("is FLOTILLA_CONFIG, else under XDG_CONFIG_HOME, else ~/.config", () => {
    expect(configPath({ FLOTILLA_CONFIG: "/etc/f.yaml" }, "/home/me")).toBe("/etc/f.yaml");
    expect(configPath({ XDG_CONFIG_HOME: "/x" }, "/home/me")).toBe("/x/flotilla/config.yaml");
    expect(configPath({}, "/home/me")).toBe(FILE);
  });

  it("parses hub, token, output and timeout; refuses unknown keys and bad YAML", () => {
    expect(parseConfigFile("hub: http://h:1\ntoken: abc\noutput: json\nrequestTimeoutSeconds: 3\n", FILE)).toEqual({
      hub: "http://h:1",
      token: "abc",
      output: "json",
      requestTimeout: 3,
    });
    expect(parseConfigFile("", FILE)).toEqual({});
    expect(() => parseConfigFile("hubb: x\n", FILE)).toThrow(/unknown key "hubb"/);
    expect(() => parseConfigFile("hub: [x\n", FILE)).toThrow(/is not valid YAML/);
    expect(() => parseConfigFile("token: 5\n", FILE)).toThrow(/token: /);
  });
});

describe("the config file's mode", () => {
  it("is 0600 after every write, even of a file that was group-readable", () => {
    const dir = mkdtempSync(join(tmpdir(), "flotilla-config-"));
    try {
      const path = join(dir, "flotilla", "config.yaml");
      writeConfigFile(path, "hub: http://127.0.0.1:8080\ntoken: t\n");
      expect(statSync(path).mode & 0o777).toBe(0o600);
      chmodSync(path, 0o644);
      expect(configFileWarning(path, { token: "t" })).toBe(
        `warning: ${path} holds a token and is readable by others (mode 0644); run: chmod 600 ${path}`,
      );
      writeConfigFile(path, "hub: http://127.0.0.1:8080\ntoken: u\n");
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(configFileWarning(path, { token: "u" })).toBeUndefined();
      chmodSync(path, 0o644);
      expect(configFileWarning(path, {})).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
