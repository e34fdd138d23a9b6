import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { durationSchema } from "./duration.js";
import { SettingsError } from "./errors.js";
import { loadSettings, parseSettings, readSettings, type Setting } from "./loader.js";

const schema = z.object({
  url: z.string().url().default("http://127.0.0.1:1"),
  token: z.string().min(4),
  key: z.string().optional(),
  intervalMs: durationSchema.default(1000),
});
type Field = keyof z.input<typeof schema>;

const TABLE: readonly Setting<Field>[] = [
  { field: "url", env: "T_URL", flag: "url" },
  { field: "token", env: "T_TOKEN", fileEnv: "T_TOKEN_FILE", fileFlag: "token-file" },
  { field: "key", fileEnv: "T_KEY_FILE", fileFlag: "key" },
  { field: "intervalMs", env: "T_INTERVAL", flag: "interval" },
];

const dir = mkdtempSync(join(tmpdir(), "settings-"));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

function failure(run: () => unknown): SettingsError {
  try {
    run();
  } catch (err) {
    if (err instanceof SettingsError) return err;
    throw err;
  }
  throw new Error("did not fail");
}

describe("readSettings", () => {
  it("takes flag, then file flag, then variable, then file variable", () => {
    const tokenFile = file("token-a", "from-file-flag");
    const envFile = file("token-b", "from-file-env");
    const both = { T_TOKEN: "from-env", T_TOKEN_FILE: envFile };
    expect(readSettings(TABLE, both, ["--token-file", tokenFile]).get("token")).toEqual({
      value: "from-file-flag",
      from: "--token-file",
      path: tokenFile,
    });
    expect(readSettings(TABLE, both, []).get("token")).toEqual({ value: "from-env", from: "T_TOKEN" });
    expect(readSettings(TABLE, { T_TOKEN_FILE: envFile }, []).get("token")?.value).toBe("from-file-env");
    expect(readSettings(TABLE, { T_URL: "http://env" }, ["--url", "http://flag"]).get("url")?.from).toBe("--url");
  });

  it("counts an empty value as not given", () => {
    const readings = readSettings(TABLE, { T_URL: "", T_TOKEN: "env-token" }, ["--token-file", ""]);
    expect(readings.has("url")).toBe(false);
    expect(readings.get("token")?.value).toBe("env-token");
  });

  it("names the flag or variable of an unreadable file, and an unknown flag", () => {
    expect(failure(() => readSettings(TABLE, { T_KEY_FILE: join(dir, "none") }, [])).message).toMatch(
      /^T_KEY_FILE: cannot read .*none/,
    );
    expect(failure(() => readSettings(TABLE, {}, ["--key", join(dir, "none")])).setting).toBe("--key");
    expect(failure(() => readSettings(TABLE, {}, ["--nope"])).message).toMatch(/^flags: .*--nope/);
  });
});

describe("parseSettings and loadSettings", () => {
  it("validates the values read, defaults filled in", () => {
    expect(loadSettings(schema, TABLE, { T_TOKEN: "abcd" }, ["--interval", "2m"])).toEqual({
      url: "http://127.0.0.1:1",
      token: "abcd",
      intervalMs: 120_000,
    });
  });

  it("names a bad value by its variable, in one line", () => {
    const err = failure(() => loadSettings(schema, TABLE, { T_TOKEN: "abcd", T_INTERVAL: "soon" }, []));
    expect(err.setting).toBe("T_INTERVAL");
    expect(err.message).toBe('T_INTERVAL: "soon" is not a duration like 15s, 500ms, 2m or 30 (seconds)');
  });

  it("reports a missing required setting first, with its file variable", () => {
    const err = failure(() => parseSettings(schema, TABLE, { url: "not a url" }));
    expect(err.message).toBe("T_TOKEN: is required (or set T_TOKEN_FILE)");
  });

  it("names a field without variables by the field", () => {
    const extra = schema.extend({ retries: z.number().int() });
    expect(failure(() => parseSettings(extra, TABLE, { token: "abcd", retries: 1.5 })).setting).toBe("retries");
  });
});
