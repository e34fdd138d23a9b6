import type { Kind } from "@flotilla/api";
import type { Command } from "commander";
import { HubClient } from "./client.js";
import {
  CONTEXT_ENV,
  configFileWarning,
  configPath,
  isHuman,
  type OutputFormat,
  type RawSettings,
  type ResolvedSettings,
  readConfigFile,
  resolveSettings,
} from "./config.js";
import { documentsYaml, type ObjectOf, toDocument } from "./documents.js";
import { formatData } from "./output.js";

/** The streams a command talks through; a test or an embedding may pass its own. */
export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

/**
 * What every verb gets: the streams, the environment, the clock, and lazily-resolved settings
 * (so `flotilla version` and `flotilla hub` work without a hub address or token).
 */
export class CommandContext {
  #warned = false;

  constructor(
    readonly io: Io,
    readonly env: NodeJS.ProcessEnv,
    readonly now: () => number = Date.now,
  ) {}

  /** Settings from the command's flags (global ones included), the environment and the config file. */
  settings(cmd: Command): ResolvedSettings {
    const o = cmd.optsWithGlobals<{
      hub?: string;
      token?: string;
      output?: string;
      requestTimeout?: string;
      context?: string;
    }>();
    const flags: RawSettings = {
      ...(o.hub !== undefined ? { hub: o.hub } : {}),
      ...(o.token !== undefined ? { token: o.token } : {}),
      ...(o.output !== undefined ? { output: o.output } : {}),
      ...(o.requestTimeout !== undefined ? { requestTimeout: o.requestTimeout } : {}),
    };
    const path = configPath(this.env);
    const file = readConfigFile(this.env, path, o.context ?? (this.env[CONTEXT_ENV] || undefined));
    const warning = this.#warned ? undefined : configFileWarning(path, file);
    if (warning) {
      this.#warned = true;
      this.note(warning);
    }
    return resolveSettings(flags, this.env, file, path);
  }

  /** An API client for the hub the settings name. */
  client(cmd: Command): HubClient {
    const { settings, sources, configPath: path } = this.settings(cmd);
    return new HubClient({
      baseUrl: settings.hub,
      hubSource: sources.hub,
      ...(settings.token ? { token: settings.token } : {}),
      tokenSource: sources.token,
      configPath: path,
      timeoutMs: settings.requestTimeoutMs,
    });
  }

  /** Whether the output is a table for people (`-o table` or `-o wide`), not JSON or YAML. */
  human(cmd: Command): boolean {
    return isHuman(this.format(cmd));
  }

  /** Whether `-o wide` asks for the table with more columns. */
  wide(cmd: Command): boolean {
    return this.format(cmd) === "wide";
  }

  /** The output format chosen by `-o`, FLOTILLA_OUTPUT or the config file. */
  format(cmd: Command): OutputFormat {
    return this.settings(cmd).settings.output;
  }

  /**
   * Prints `data` (an API object as returned) as JSON or YAML when asked, else the human form
   * `table()` builds from it.
   */
  print(cmd: Command, data: unknown, table: () => string): void {
    const format = this.format(cmd);
    if (isHuman(format)) this.out(table());
    else this.io.stdout.write(formatData(format, data));
  }

  /**
   * Prints one registry object a `get` answered: as the document `apply -f` reads with `-o yaml`
   * (so `get -o yaml | apply -f -` is a no-op), as the API object with `-o json`, else the
   * human form `table()` builds.
   */
  printObject<K extends Kind>(cmd: Command, kind: K, object: ObjectOf[K], table: () => string): void {
    if (this.format(cmd) === "yaml") this.io.stdout.write(documentsYaml([toDocument(kind, object)]));
    else this.print(cmd, object, table);
  }

  /** A line (or block) on stdout. */
  out(text: string): void {
    if (text) this.io.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
  }

  /** A remark for the human on stderr (hints, empty lists, progress), kept out of piped output. */
  note(text: string): void {
    this.io.stderr.write(text.endsWith("\n") ? text : `${text}\n`);
  }
}

/**
 * A module of verbs: adds its commands to the program. To add a noun, write one in
 * `commands/<noun>.ts` (or a folder with an index.ts) and list it in program.ts.
 */
export type CommandModule = (program: Command, ctx: CommandContext) => void;
