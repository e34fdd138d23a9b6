/**
 * A guide's shell blocks as the steps a test runs: every fenced block of `sh` (or `bash`) is a
 * command to run as written, unless an HTML comment right above it says otherwise:
 *
 *   <!-- test: skip (why) -->           not run; the reason is required and printed
 *   <!-- test: background <name> -->    a long-running server: started, left running, stopped at the end
 *   <!-- test: retry <N>s -->           a check: run again until it succeeds, for at most N seconds
 *   <!-- test: restart <name> -->       the block restarts a service (`systemctl restart ...`):
 *                                       the test restarts the background block of that name instead
 *
 * Blocks in other languages (yaml, ini) are files or output the reader looks at, and not run.
 * Parsing is strict: a directive that is not right above a shell block, or that the parser
 * does not know, is an error, so a guide cannot drift away from its test unnoticed.
 */

/** One shell block of the guide and what the test does with it. */
export type Step =
  | { kind: "run"; line: number; heading: string; code: string; retryMs?: number }
  | { kind: "background"; line: number; heading: string; code: string; service: string }
  | { kind: "restart"; line: number; heading: string; code: string; service: string }
  | { kind: "skip"; line: number; heading: string; code: string; reason: string };

const DIRECTIVE = /^<!--\s*test:\s*(.*?)\s*-->$/;
const FENCE = /^```(\S*)\s*$/;
const SHELLS = new Set(["sh", "bash", "shell"]);

/** A guide the parser refused, naming the line. */
export class GuideError extends Error {
  override name = "GuideError";
  constructor(
    readonly line: number,
    reason: string,
  ) {
    super(`line ${line}: ${reason}`);
  }
}

type Directive =
  | { kind: "skip"; reason: string }
  | { kind: "background"; service: string }
  | { kind: "retry"; ms: number }
  | { kind: "restart"; service: string };

function parseDirective(text: string, line: number): Directive {
  let m = /^skip\s+\((.+)\)$/.exec(text);
  if (m?.[1]) return { kind: "skip", reason: m[1] };
  m = /^background\s+([a-z0-9-]+)$/.exec(text);
  if (m?.[1]) return { kind: "background", service: m[1] };
  m = /^restart\s+([a-z0-9-]+)$/.exec(text);
  if (m?.[1]) return { kind: "restart", service: m[1] };
  m = /^retry\s+(\d+)s$/.exec(text);
  if (m?.[1]) return { kind: "retry", ms: Number(m[1]) * 1000 };
  throw new GuideError(
    line,
    `unknown test directive ${JSON.stringify(text)}: use skip (reason), background <name>, retry <N>s or restart <name>`,
  );
}

/** The steps of `markdown`, in order. Throws GuideError on a directive it cannot place. */
export function parseGuide(markdown: string): Step[] {
  const lines = markdown.split("\n");
  const steps: Step[] = [];
  const services = new Set<string>();
  let heading = "";
  let pending: { directive: Directive; line: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i] ?? "";
    const lineNo = i + 1;
    const directive = DIRECTIVE.exec(text);
    if (directive) {
      if (pending) throw new GuideError(pending.line, "a test directive must be right above a shell block");
      pending = { directive: parseDirective(directive[1] ?? "", lineNo), line: lineNo };
      continue;
    }
    const fence = FENCE.exec(text);
    if (!fence) {
      if (/^#{1,6}\s/.test(text)) heading = text.replace(/^#+\s*/, "");
      if (pending && text.trim() !== "") {
        throw new GuideError(pending.line, "a test directive must be right above a shell block");
      }
      continue;
    }
    const lang = fence[1] ?? "";
    const start = i;
    let end = i + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end] ?? "")) end++;
    if (end >= lines.length) throw new GuideError(lineNo, "a code block is not closed");
    const code = lines.slice(start + 1, end).join("\n");
    i = end;
    const d = pending?.directive;
    pending = undefined;
    if (!SHELLS.has(lang)) {
      if (d)
        throw new GuideError(lineNo - 1, `a test directive is above a ${lang || "plain"} block, not a shell block`);
      continue;
    }
    const base = { line: lineNo, heading, code };
    if (!d) steps.push({ kind: "run", ...base });
    else if (d.kind === "skip") steps.push({ kind: "skip", ...base, reason: d.reason });
    else if (d.kind === "retry") steps.push({ kind: "run", ...base, retryMs: d.ms });
    else if (d.kind === "background") {
      if (services.has(d.service)) throw new GuideError(lineNo, `a second background block named ${d.service}`);
      services.add(d.service);
      steps.push({ kind: "background", ...base, service: d.service });
    } else {
      if (!services.has(d.service)) {
        throw new GuideError(lineNo, `restart ${d.service}: no background block of that name comes before it`);
      }
      if (!/\brestart\b/.test(code))
        throw new GuideError(lineNo, "a restart directive's block must show the restart command");
      steps.push({ kind: "restart", ...base, service: d.service });
    }
  }
  if (pending) throw new GuideError(pending.line, "a test directive must be right above a shell block");
  return steps;
}

/** One substitution of the test: `find` in the guide becomes `replace`. */
export interface Substitution {
  find: string;
  replace: string;
  /** Why the test changes it. */
  why: string;
}

/**
 * The guide with every substitution made. Each `find` must occur in the guide: a substitution
 * that no longer matches means the guide changed under the test, which must then change too.
 */
export function substitute(markdown: string, substitutions: readonly Substitution[]): string {
  let text = markdown;
  for (const s of substitutions) {
    if (!text.includes(s.find)) {
      throw new Error(
        `the guide no longer contains ${JSON.stringify(s.find)} (${s.why}); update the test's substitutions`,
      );
    }
    text = text.split(s.find).join(s.replace);
  }
  return text;
}

/**
 * The `flotilla ...` command lines of a block: each line (joined with its `\` continuations)
 * from the word `flotilla` to the end of the command (a pipe, `&&`, `;`, `)` or the line's end),
 * split into words as the shell would (quotes removed; variables left as they are).
 */
export function flotillaCommands(code: string): string[][] {
  const joined = code.replace(/\\\n\s*/g, " ");
  const commands: string[][] = [];
  for (const line of joined.split("\n")) {
    if (/^\s*#/.test(line)) continue;
    for (const m of line.matchAll(/(?:^|[\s;&|(]|\$\()flotilla\s+([^|;&)]*)/g)) {
      commands.push(shellWords(m[1] ?? ""));
    }
  }
  return commands;
}

/**
 * The `helm install` commands of a block, as words, with every command substitution and variable
 * replaced by `placeholder` except the ones in `variables`: enough for `helm template` to check
 * the chart and the values the guide sets, in blocks the slow test runs and in those it skips.
 */
export function helmInstalls(code: string, variables: Readonly<Record<string, string>>, placeholder = "x"): string[][] {
  const joined = code
    .replace(/\\\n\s*/g, " ")
    .replace(/\$\((?:[^()]|\([^()]*\))*\)/g, placeholder)
    .replace(/\$\{?(\w+)\}?/g, (_m, name: string) => variables[name] ?? placeholder);
  const installs: string[][] = [];
  for (const line of joined.split("\n")) {
    const m = /(?:^|[\s;&|(])helm\s+([^|;&)]*)/.exec(line);
    if (!m) continue;
    const words = shellWords(m[1] ?? "");
    if (words.includes("install")) installs.push(words);
  }
  return installs;
}

/** Words of a simple command: single and double quotes grouped and removed; `#` starts a comment. */
export function shellWords(text: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else word += ch;
      continue;
    }
    if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else if (ch === "#" && !inWord) {
      break;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}
