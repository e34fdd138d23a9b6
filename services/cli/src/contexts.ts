/**
 * Editing the contexts of the config file: pure functions from its text to new text, keeping
 * its comments and the keys they do not touch (yaml's Document API).
 */
import { parseDocument } from "yaml";
import { CONTEXT_NAME, type ConfigContext, parseConfigFileText } from "./config.js";
import { UsageError } from "./errors.js";

/** One row of `flotilla context list`: never the token, only whether one is stored. */
export interface ContextRow {
  name: string;
  hub: string;
  hasToken: boolean;
  current: boolean;
}

/** The contexts of a config file's text (empty text: none). */
export function listContexts(text: string, path: string): ContextRow[] {
  const file = parseConfigFileText(text, path);
  return Object.entries(file.contexts ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, c]) => ({ name, hub: c.hub, hasToken: c.token !== undefined, current: file.currentContext === name }));
}

/** Refuses a name `flotilla context use` could not take back. */
export function checkContextName(name: string): void {
  if (!CONTEXT_NAME.test(name)) {
    throw new UsageError(
      `context name ${JSON.stringify(name)} is not valid`,
      "use letters, digits, '.', '_' and '-', starting with a letter or digit",
    );
  }
}

/**
 * The config text with context `name` set to `context` (a token left undefined keeps the one
 * stored for the same hub), and made current when `use` is true. Checked before it is returned.
 */
export function setContext(text: string, path: string, name: string, context: ConfigContext, use: boolean): string {
  checkContextName(name);
  const before = parseConfigFileText(text, path);
  const doc = parseDocument(text);
  const old = before.contexts?.[name];
  const token = context.token ?? (old && old.hub === context.hub ? old.token : undefined);
  doc.setIn(["contexts", name], doc.createNode({ hub: context.hub, ...(token !== undefined ? { token } : {}) }));
  if (use) doc.set("currentContext", name);
  const out = doc.toString();
  parseConfigFileText(out, path);
  return out;
}

/** The config text with `name` made the current context; throws UsageError when it has no such context. */
export function useContext(text: string, path: string, name: string): string {
  const known = listContexts(text, path).map((c) => c.name);
  if (!known.includes(name)) {
    throw new UsageError(
      `no context ${JSON.stringify(name)} in ${path}${known.length ? ` (known: ${known.join(", ")})` : ""}`,
      `add it with 'flotilla context add ${name} --hub <url>' or 'flotilla login --hub <url> --context ${name}'`,
    );
  }
  const doc = parseDocument(text);
  doc.set("currentContext", name);
  return doc.toString();
}

/** The config text without context `name` (and without currentContext when it was that one). */
export function deleteContext(text: string, path: string, name: string): string {
  const rows = listContexts(text, path);
  if (!rows.some((c) => c.name === name)) throw new UsageError(`no context ${JSON.stringify(name)} in ${path}`);
  const doc = parseDocument(text);
  doc.deleteIn(["contexts", name]);
  if (rows.find((c) => c.name === name)?.current) doc.delete("currentContext");
  return doc.toString();
}

/** A context name from a hub URL, for `login` without `--context`: `hub.example.com`, `127.0.0.1-8080`. */
export function contextNameFor(hubUrl: string): string {
  const url = new URL(hubUrl);
  const name = `${url.hostname}${url.port ? `-${url.port}` : ""}`
    .replace(/[^A-Za-z0-9._-]/g, "-")
    .replace(/^[^A-Za-z0-9]+/, "");
  return name.slice(0, 63) || "hub";
}
