/**
 * What the user hands the CLI besides flags: files (or `-` for stdin), secrets from stdin, and
 * `key=value` pairs. Every failure is an InputFileError or UsageError naming what to fix.
 */
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { InputFileError, UsageError } from "./errors.js";

/** Reads all of a stream as UTF-8. */
export async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString("utf8");
}

/** Reads a file the user named, or stdin for `-`. */
export async function readInput(path: string, stdin: NodeJS.ReadableStream): Promise<string> {
  if (path === "-") return readAll(stdin);
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code === "ENOENT"
        ? "no such file"
        : code === "EISDIR"
          ? "is a directory, not a file"
          : `cannot be read (${code})`;
    throw new InputFileError(path, reason, { cause: err });
  }
}

/**
 * A secret piped on stdin (`--password-stdin`): everything up to EOF minus one trailing newline,
 * so `echo "$PASS" | flotilla ...` and a file without a final newline both work.
 */
export async function readSecretFromStdin(stdin: NodeJS.ReadableStream, what: string): Promise<string> {
  const text = (await readAll(stdin)).replace(/\r?\n$/, "");
  if (!text) throw new UsageError(`${what} on stdin is empty`, `pipe it in, e.g. 'printf %s "$PASS" | flotilla ...'`);
  return text;
}

/** A secret read from a file (trimmed of one trailing newline). */
export async function readSecretFile(path: string, stdin: NodeJS.ReadableStream, what: string): Promise<string> {
  const text = (await readInput(path, stdin)).replace(/\r?\n$/, "");
  if (!text) throw new InputFileError(path, `${what} is empty`);
  return text;
}

/**
 * Parses repeated `key=value` flags into a record. `flag` names the option in errors.
 * The key is everything before the first `=`, so values may contain `=`.
 */
export function parsePairs(values: readonly string[], flag: string, example: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const at = v.indexOf("=");
    if (at <= 0) throw new UsageError(`${flag} ${JSON.stringify(v)} is not key=value`, `e.g. ${flag} ${example}`);
    const key = v.slice(0, at);
    if (key in out) throw new UsageError(`${flag} sets ${JSON.stringify(key)} twice`);
    out[key] = v.slice(at + 1);
  }
  return out;
}

/** Commander collector for repeatable options. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * Parses YAML or JSON text (JSON is YAML) holding exactly one document. Throws InputFileError
 * naming the file and line.
 */
export function parseOneDocument(text: string, path: string): unknown {
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  if (!Array.isArray(docs)) throw new InputFileError(path, "is empty");
  const errors = docs.flatMap((d) => d.errors);
  const first = errors[0];
  if (first) throw new InputFileError(path, `is not valid YAML or JSON: ${firstLine(first.message)}`);
  const values = docs.map((d) => d.toJS() as unknown).filter((v) => v !== null && v !== undefined);
  if (values.length === 0) throw new InputFileError(path, "is empty");
  if (values.length > 1) throw new InputFileError(path, `holds ${values.length} documents; give one`);
  return values[0];
}

/**
 * Checks multi-document YAML locally before it is sent (an apply), so a syntax error names
 * the document and line in the user's file without a round trip. Returns the number of
 * non-empty documents.
 */
export function checkYamlDocuments(text: string, path: string): number {
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  if (!Array.isArray(docs)) throw new InputFileError(path, "holds no YAML documents");
  let count = 0;
  for (const [i, doc] of docs.entries()) {
    const err = doc.errors[0];
    if (err) throw new InputFileError(path, `document ${i + 1} is not valid YAML: ${firstLine(err.message)}`);
    const value = doc.toJS() as unknown;
    if (value !== null && value !== undefined) count++;
  }
  if (count === 0) throw new InputFileError(path, "holds no YAML documents");
  return count;
}

function firstLine(message: string): string {
  return message.split("\n")[0] ?? message;
}
