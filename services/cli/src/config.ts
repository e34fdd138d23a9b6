import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { SettingsError } from "./errors.js";

/** Hub address when none is given: where `flotilla hub` listens by default. */
export const DEFAULT_HUB = "http://127.0.0.1:8080";
/** Output format when none is given. */
export const DEFAULT_OUTPUT = "table";
/** How long one API request may take before the CLI gives up: 30 s. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Environment variable naming the config file. */
export const CONFIG_ENV = "FLOTILLA_CONFIG";
/** Mode of the config file: it holds a token, so only its owner reads it. */
export const CONFIG_FILE_MODE = 0o600;

/** Output formats of `-o`. */
export const OUTPUT_FORMATS = ["table", "wide", "json", "yaml"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
/** The formats for people: `table`, and `wide` (the table with more columns). */
export type HumanFormat = Extract<OutputFormat, "table" | "wide">;

/** Whether a format is for people (a table) rather than scripts (JSON or YAML). */
export function isHuman(format: OutputFormat): format is HumanFormat {
  return format === "table" || format === "wide";
}

/** A hub address: a full http(s) URL, or `host:port` (http assumed); no trailing slash. */
const hubUrl = z.string().transform((text, ctx) => {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    ctx.addIssue({ code: "custom", message: `${JSON.stringify(text)} is not a URL like http://127.0.0.1:8080` });
    return z.NEVER;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    ctx.addIssue({ code: "custom", message: `${JSON.stringify(text)} must be an http:// or https:// URL` });
    return z.NEVER;
  }
  return url.toString().replace(/\/+$/, "");
});

/** The CLI's settings, each from a flag, an environment variable or the config file (in that order). */
export const settingsSchema = z.object({
  /** `--hub` / `FLOTILLA_HUB` / `hub:`: the hub's HTTP address. @default {@link DEFAULT_HUB} */
  hub: hubUrl.default(DEFAULT_HUB),
  /** `--token` / `FLOTILLA_TOKEN` / `token:`: the hub's bearer token. Never printed. @default none */
  token: z.string().trim().min(1, "must not be empty").optional(),
  /** `-o` / `FLOTILLA_OUTPUT` / `output:`: table, wide, json or yaml. @default {@link DEFAULT_OUTPUT} */
  output: z.enum(OUTPUT_FORMATS, { message: `must be one of ${OUTPUT_FORMATS.join(", ")}` }).default(DEFAULT_OUTPUT),
  /** `--request-timeout` / `FLOTILLA_REQUEST_TIMEOUT` (seconds): per-request timeout. @default {@link DEFAULT_REQUEST_TIMEOUT_MS} */
  requestTimeoutMs: z.coerce
    .number()
    .positive("must be a positive number of seconds")
    .default(DEFAULT_REQUEST_TIMEOUT_MS),
});

export type Settings = z.output<typeof settingsSchema>;

/** Environment variable choosing a context of the config file (`--context` beats it). */
export const CONTEXT_ENV = "FLOTILLA_CONTEXT";
/** A context's name: what `flotilla context use` takes. */
export const CONTEXT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** One hub of the config file: its address and the token for it. */
const contextSchema = z.strictObject({ hub: z.string(), token: z.string().optional() });
export type ConfigContext = z.output<typeof contextSchema>;

/** The config file's keys; unknown keys are refused so a typo does not silently do nothing. */
const fileSchema = z.strictObject({
  hub: z.string().optional(),
  token: z.string().optional(),
  output: z.string().optional(),
  requestTimeoutSeconds: z.number().optional(),
  /** The context used when neither --context nor FLOTILLA_CONTEXT names one. */
  currentContext: z.string().optional(),
  /** Several hubs, by name; the chosen one's hub and token beat the top-level ones. */
  contexts: z.record(z.string().regex(CONTEXT_NAME, "is not a context name"), contextSchema).optional(),
});
const FILE_KEYS = "hub, token, output, requestTimeoutSeconds, currentContext, contexts";

/** Settings as the user gave them, before validation. */
export interface RawSettings {
  hub?: string;
  token?: string;
  output?: string;
  /** Seconds, as typed. */
  requestTimeout?: string | number;
  /** The config file's context hub and token came from, to name it in messages. */
  context?: string;
}

/** Where each setting came from, to name it in error messages (the 401 names the token's source). */
export type Sources = Record<keyof Settings, string>;

/** The outcome of resolving settings. */
export interface ResolvedSettings {
  settings: Settings;
  sources: Sources;
  /** The config file consulted (it may not exist). */
  configPath: string;
}

/** The config file path: `$FLOTILLA_CONFIG`, else `$XDG_CONFIG_HOME/flotilla/config.yaml`, else `~/.config/flotilla/config.yaml`. */
export function configPath(env: NodeJS.ProcessEnv, home: string = env.HOME || homedir()): string {
  if (env[CONFIG_ENV]) return env[CONFIG_ENV];
  return join(env.XDG_CONFIG_HOME || join(home, ".config"), "flotilla", "config.yaml");
}

/** The config file as written: top-level settings and the contexts. */
export type ConfigFile = z.output<typeof fileSchema>;

/**
 * Parses the config file text; `context` (from --context or FLOTILLA_CONTEXT) beats the file's
 * currentContext. `path` names the file in errors. Throws SettingsError.
 */
export function parseConfigFile(text: string, path: string, context?: string): RawSettings {
  const file = parseConfigFileText(text, path);
  const { hub, token, output, requestTimeoutSeconds } = file;
  const chosen = context ?? file.currentContext;
  const base: RawSettings = {
    ...(hub !== undefined ? { hub } : {}),
    ...(token !== undefined ? { token } : {}),
    ...(output !== undefined ? { output } : {}),
    ...(requestTimeoutSeconds !== undefined ? { requestTimeout: requestTimeoutSeconds } : {}),
  };
  if (chosen === undefined) return base;
  const found = file.contexts?.[chosen];
  if (!found) {
    const known = Object.keys(file.contexts ?? {});
    const from = context !== undefined ? "" : " (its currentContext)";
    throw new SettingsError(
      `config file ${path}`,
      `has no context ${JSON.stringify(chosen)}${from}${known.length ? ` (known: ${known.join(", ")})` : ""}; add it with 'flotilla context add ${chosen} --hub <url>' or 'flotilla login --hub <url> --context ${chosen}'`,
    );
  }
  // The context's hub and token replace the top-level ones: a token is never sent to another hub.
  const { hub: _h, token: _t, ...rest } = base;
  return { ...rest, hub: found.hub, ...(found.token !== undefined ? { token: found.token } : {}), context: chosen };
}

/** The config file's text parsed and checked, before a context is chosen. Throws SettingsError. */
export function parseConfigFileText(text: string, path: string): ConfigFile {
  const source = `config file ${path}`;
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new SettingsError(source, `is not valid YAML: ${(err as Error).message.split("\n")[0]}`, { cause: err });
  }
  if (value === null || value === undefined) return {};
  const result = fileSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue?.path.join(".");
    const reason =
      issue?.code === "unrecognized_keys"
        ? `${field ? `${field}: ` : ""}unknown key ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}${issue.path.length === 0 ? ` (known: ${FILE_KEYS})` : ""}`
        : `${field ? `${field}: ` : ""}${issue?.message ?? "invalid"}`;
    throw new SettingsError(source, reason);
  }
  return result.data;
}

const ENV_NAMES = {
  hub: "FLOTILLA_HUB",
  token: "FLOTILLA_TOKEN",
  output: "FLOTILLA_OUTPUT",
  requestTimeout: "FLOTILLA_REQUEST_TIMEOUT",
} as const;

const FLAG_NAMES = {
  hub: "--hub",
  token: "--token",
  output: "-o/--output",
  requestTimeout: "--request-timeout",
} as const;

/**
 * Merges flags, environment and config file (flags win, then environment, then file) and
 * validates the result. Pure: the caller reads the file. Throws SettingsError naming the
 * source of the bad value.
 */
export function resolveSettings(
  flags: RawSettings,
  env: NodeJS.ProcessEnv,
  file: RawSettings,
  path: string,
): ResolvedSettings {
  const raw: Record<string, unknown> = {};
  const sources: Sources = { hub: "default", token: "none", output: "default", requestTimeoutMs: "default" };
  for (const key of ["hub", "token", "output", "requestTimeout"] as const) {
    const field = key === "requestTimeout" ? "requestTimeoutMs" : key;
    const fromFlag = flags[key];
    const fromEnv = env[ENV_NAMES[key]];
    const fromFile = file[key];
    if (fromFlag !== undefined) {
      raw[key] = fromFlag;
      sources[field] = FLAG_NAMES[key];
    } else if (fromEnv) {
      raw[key] = fromEnv;
      sources[field] = ENV_NAMES[key];
    } else if (fromFile !== undefined) {
      raw[key] = fromFile;
      sources[field] =
        `config file ${path}${file.context !== undefined && (key === "hub" || key === "token") ? ` (context ${file.context})` : ""}`;
    }
  }
  const input = {
    hub: raw.hub,
    token: raw.token,
    output: raw.output,
    requestTimeoutMs: raw.requestTimeout === undefined ? undefined : Number(raw.requestTimeout) * 1000,
  };
  const result = settingsSchema.safeParse(input);
  if (result.success) return { settings: result.data, sources, configPath: path };
  const issue = result.error.issues[0];
  const field = String(issue?.path[0] ?? "hub") as keyof Settings;
  throw new SettingsError(sources[field] ?? field, issue?.message ?? "invalid");
}

/**
 * Reads the config file if it exists; a missing file is fine unless FLOTILLA_CONFIG names it,
 * or a context is asked for.
 */
export function readConfigFile(env: NodeJS.ProcessEnv, path: string, context?: string): RawSettings {
  const text = readConfigText(env, path);
  if (text === undefined) {
    if (context !== undefined) {
      throw new SettingsError(
        `config file ${path}`,
        `does not exist, so it has no context ${JSON.stringify(context)}; run 'flotilla login --hub <url> --context ${context}'`,
      );
    }
    return {};
  }
  return parseConfigFile(text, path, context);
}

/**
 * The config file's text; undefined when it does not exist and FLOTILLA_CONFIG does not name
 * it (or `creating`: a command that writes it, like login, may start it).
 */
export function readConfigText(env: NodeJS.ProcessEnv, path: string, creating = false): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && (creating || !env[CONFIG_ENV])) return undefined;
    const why = code === "ENOENT" ? "does not exist" : `cannot be read (${code ?? (err as Error).message})`;
    const fix = env[CONFIG_ENV] ? `; fix or unset ${CONFIG_ENV}` : "";
    throw new SettingsError(`config file ${path}`, `${why}${fix}`, { cause: err });
  }
  return text;
}

/**
 * Writes the config file with mode 0600, whether it is new or not: `writeFile`'s mode applies
 * only to a file it creates, so the mode is set again after every write. Its directory is made
 * 0700 when it has to be made.
 */
export function writeConfigFile(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, text, { mode: CONFIG_FILE_MODE });
  chmodSync(path, CONFIG_FILE_MODE);
}

/**
 * A warning when the config file holds a token and others may read it (group or other bits
 * set), with the command that fixes it; undefined otherwise.
 */
export function configFileWarning(path: string, file: RawSettings): string | undefined {
  if (file.token === undefined) return undefined;
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    return undefined;
  }
  if ((mode & 0o077) === 0) return undefined;
  return `warning: ${path} holds a token and is readable by others (mode ${mode.toString(8).padStart(4, "0")}); run: chmod 600 ${path}`;
}
