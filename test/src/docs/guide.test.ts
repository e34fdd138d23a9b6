/**
 * The fast half of the getting-started guide's test, in `npm test`: the guide parses (every
 * shell block is run, started, restarted or skipped with a reason), the slow test's
 * substitutions still match it, and every `flotilla` command in it, skipped blocks included, is
 * a command the CLI has, with flags it takes. The slow half (test/src/guide, `npm run
 * test:docs`) runs every block against real servers.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { binPath } from "@flotilla/devfleet";
import { describe, expect, it } from "vitest";
import { flotillaCommands, GuideError, helmInstalls, parseGuide, shellWords, substitute } from "../guide/markdown.js";
import { guideSubstitutions } from "../guide/substitutions.js";

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const GUIDE_PATH = join(ROOT, "docs/getting-started.md");
const guide = readFileSync(GUIDE_PATH, "utf8");
const CLI = join(ROOT, "services/cli/bin/flotilla.js");

/** What `flotilla <path> --help` lists: its subcommands and every flag it (or the program) takes. */
interface Help {
  commands: Set<string>;
  flags: Set<string>;
}

const helps = new Map<string, Promise<Help>>();

function helpOf(path: readonly string[]): Promise<Help> {
  const key = path.join(" ");
  let help = helps.get(key);
  if (!help) {
    help = run(process.execPath, [CLI, ...path, "--help"], { env: { PATH: process.env.PATH ?? "" } }).then(
      ({ stdout }) => {
        const commands = new Set<string>();
        const flags = new Set<string>();
        let section = "";
        for (const line of stdout.split("\n")) {
          const heading = /^(\w[\w ]*):\s*$/.exec(line);
          if (heading) {
            section = heading[1] ?? "";
            continue;
          }
          const entry = /^ {2}(\S.*?)(?: {2,}|$)/.exec(line)?.[1];
          if (!entry) continue;
          if (section === "Commands") commands.add(entry.split(/[\s|]/)[0] ?? "");
          if (section.endsWith("Options")) for (const f of entry.matchAll(/(--?[\w-]+)/g)) flags.add(f[1] ?? "");
        }
        return { commands, flags };
      },
    );
    helps.set(key, help);
  }
  return help;
}

/** Whether the command at `path` takes options of its own, beyond the program's: it then runs without a subcommand. */
async function runsAlone(path: readonly string[], help: Help): Promise<boolean> {
  if (path.length === 0) return false;
  const root = await helpOf([]);
  return [...help.flags].some((f) => !root.flags.has(f) && f !== "-h" && f !== "--help");
}

/** Why `words` (after `flotilla`) is not a command the CLI takes, or undefined when it is. */
async function problemWith(words: readonly string[]): Promise<string | undefined> {
  const path: string[] = [];
  let help = await helpOf(path);
  let i = 0;
  while (i < words.length && help.commands.size > 0) {
    const word = words[i] ?? "";
    if (word.startsWith("-")) break;
    if (!help.commands.has(word)) return `"flotilla ${[...path, word].join(" ")}": no such command`;
    path.push(word);
    help = await helpOf(path);
    i++;
  }
  // A group only lists its subcommands; a command that runs by itself too (`flotilla hub`, which
  // also has `hub rotate-key`) declares options of its own beyond the program's.
  if (help.commands.size > 0 && !(await runsAlone(path, help)))
    return `"flotilla ${path.join(" ")}" needs a subcommand`;
  for (const word of words.slice(i)) {
    if (word === "--") break;
    const flag = /^(--?[\w-]+)/.exec(word)?.[1];
    if (flag && !help.flags.has(flag)) return `"flotilla ${path.join(" ")}" takes no ${flag}`;
  }
  return undefined;
}

describe("docs/getting-started.md", () => {
  const steps = parseGuide(guide);

  it("parses: each shell block is run, started, restarted or skipped with a reason", () => {
    expect(steps.length).toBeGreaterThan(30);
    for (const step of steps) if (step.kind === "skip") expect(step.reason.length).toBeGreaterThan(20);
    // The test's model of a reader's machine: NATS, Redis, the hub and one agent as services.
    expect(steps.flatMap((s) => (s.kind === "background" ? [s.service] : []))).toEqual([
      "nats",
      "redis",
      "hub",
      "agent-prod-us-1",
    ]);
  });

  it("the slow test's substitutions all still match the guide", () => {
    const ports = { nats: 1, natsMonitor: 2, redis: 3, hub: 4, agentMetrics: 5 };
    const text = substitute(guide, guideSubstitutions({ work: "/w", ports, repoUrl: "http://g/r.git", gitUser: "u" }));
    expect(text).toContain("FLOTILLA_DIR=/w/etc ");
  });

  it("every flotilla command in the guide, skipped blocks included, is one the CLI has, with its flags", async () => {
    const commands = steps.flatMap((s) => flotillaCommands(s.code).map((words) => ({ line: s.line, words })));
    expect(commands.length).toBeGreaterThan(20);
    // One at a time: each help is a CLI process, and the machine is shared.
    const problems: string[] = [];
    for (const c of commands) {
      const problem = await problemWith(c.words);
      if (problem) problems.push(`line ${c.line}: ${problem}`);
    }
    expect(problems).toEqual([]);
  });

  it("every helm install in the guide, skipped blocks included, renders with the values it sets", async () => {
    const installs = steps.flatMap((s) =>
      helmInstalls(s.code, { FLOTILLA_SRC: ROOT }).map((words) => ({ line: s.line, words })),
    );
    expect(installs.map((i) => i.line).length).toBeGreaterThanOrEqual(2);
    const failures: string[] = [];
    for (const { line, words } of installs) {
      // `helm [--kube-context c] install NAME CHART flags...` → `helm template NAME CHART flags...`
      const args = words.filter((w, i) => w !== "--kube-context" && words[i - 1] !== "--kube-context");
      args[args.indexOf("install")] = "template";
      const result = await run(binPath("helm"), args).then(
        () => "",
        (err: { stderr?: string }) => err.stderr ?? String(err),
      );
      if (result) failures.push(`line ${line}: helm ${args.join(" ")}: ${result.trim()}`);
    }
    expect(failures).toEqual([]);
  });

  it("the command check notices a verb or flag the CLI does not have", async () => {
    expect(await problemWith(shellWords("cluster enrol prod-eu-1"))).toMatch(/no such command/);
    expect(await problemWith(shellWords("cluster register prod-eu-1 --labels env=prod"))).toMatch(/takes no --labels/);
    expect(await problemWith(shellWords("cluster register prod-eu-1 -l env=prod"))).toBeUndefined();
  });

  it("refuses a directive that is not right above a shell block, or that it does not know", () => {
    expect(() => parseGuide("<!-- test: skip (why) -->\n\ntext\n```sh\nx\n```\n")).toThrow(GuideError);
    expect(() => parseGuide("<!-- test: retry -->\n```sh\nx\n```\n")).toThrow(/unknown test directive/);
    expect(() => parseGuide("<!-- test: restart hub -->\n```sh\nsystemctl restart hub\n```\n")).toThrow(
      /no background block/,
    );
    expect(() => parseGuide("<!-- test: skip (why) -->\n```yaml\nx: 1\n```\n")).toThrow(/not a shell block/);
  });
});
