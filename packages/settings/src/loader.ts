/**
 * Reads a program's settings from environment variables, command-line flags and the files they
 * name, as a table lists them, and validates the values with the program's zod schema. Values
 * are parsed once, at start; any problem is one {@link SettingsError} naming the variable.
 *
 * For each setting the first of these that is given wins: its flag, its file flag, its
 * environment variable, its file environment variable. An empty value counts as not given, so a
 * chart or script may pass an unset variable through as `""`.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { z } from "zod";
import { SettingsError } from "./errors.js";

/** Where one setting's value may come from. */
export interface Setting<Field extends string = string> {
  /** Field of the schema the value goes to. */
  field: Field;
  /** Environment variable holding the value itself. */
  env?: string;
  /** Environment variable naming a file that holds the value. */
  fileEnv?: string;
  /** Flag (without `--`) holding the value itself. */
  flag?: string;
  /** Flag (without `--`) naming a file that holds the value. */
  fileFlag?: string;
}

/** One value as read, and where it came from. */
export interface Reading {
  value: string;
  /** The environment variable or flag (`--name`) that gave it. */
  from: string;
  /** The file it was read from, for a file setting. */
  path?: string;
}

/** Environment variables, as `process.env` holds them. */
export type Environment = Readonly<Record<string, string | undefined>>;

function readSettingFile(from: string, path: string): Reading {
  try {
    return { value: readFileSync(path, "utf8"), from, path };
  } catch (err) {
    throw new SettingsError(from, `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function readOne(s: Setting, flags: Readonly<Record<string, unknown>>, env: Environment): Reading | undefined {
  const sources: [from: string | undefined, value: unknown, file: boolean][] = [
    [s.flag && `--${s.flag}`, s.flag && flags[s.flag], false],
    [s.fileFlag && `--${s.fileFlag}`, s.fileFlag && flags[s.fileFlag], true],
    [s.env, s.env && env[s.env], false],
    [s.fileEnv, s.fileEnv && env[s.fileEnv], true],
  ];
  for (const [from, value, file] of sources) {
    if (!from || typeof value !== "string" || value === "") continue;
    return file ? readSettingFile(from, value) : { value, from };
  }
  return undefined;
}

/**
 * The raw value of every setting of `table` that is given, file settings read, by field.
 * Throws SettingsError for an unknown flag or an unreadable file.
 */
export function readSettings<Field extends string>(
  table: readonly Setting<Field>[],
  env: Environment,
  argv: readonly string[],
): Map<Field, Reading> {
  const options: Record<string, { type: "string" }> = {};
  for (const s of table) {
    for (const flag of [s.flag, s.fileFlag]) if (flag) options[flag] = { type: "string" };
  }
  let flags: Record<string, unknown>;
  try {
    flags = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new SettingsError("flags", (err as Error).message, { cause: err });
  }
  const readings = new Map<Field, Reading>();
  for (const s of table) {
    const reading = readOne(s, flags, env);
    if (reading) readings.set(s.field, reading);
  }
  return readings;
}

/**
 * Validates `input` (values read by {@link readSettings}, or typed values from code) with
 * `schema`. On failure throws one SettingsError for the first problem, a missing required
 * setting first, named by the setting's environment variable (or its field when it has none).
 */
export function parseSettings<Schema extends z.ZodType>(
  schema: Schema,
  table: readonly Setting[],
  input: Readonly<Record<string, unknown>>,
): z.output<Schema> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const { issues } = result.error;
  const missing = issues.find((i) => i.code === "invalid_type" && input[String(i.path[0])] === undefined);
  const issue = missing ?? issues[0];
  const field = String(issue?.path[0] ?? "");
  const s = table.find((x) => x.field === field);
  const setting = s?.env ?? s?.fileEnv ?? (field || "settings");
  const reason = missing
    ? `is required${s?.env && s.fileEnv ? ` (or set ${s.fileEnv})` : ""}`
    : (issue?.message ?? "is invalid");
  throw new SettingsError(setting, reason);
}

/** {@link readSettings}, then {@link parseSettings}: a program's whole configuration from its table. */
export function loadSettings<Schema extends z.ZodType>(
  schema: Schema,
  table: readonly Setting[],
  env: Environment,
  argv: readonly string[],
): z.output<Schema> {
  const input: Record<string, unknown> = {};
  for (const [field, reading] of readSettings(table, env, argv)) input[field] = reading.value;
  return parseSettings(schema, table, input);
}
