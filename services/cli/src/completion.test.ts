import { spawnSync } from "node:child_process";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { bashCompletion, completionTree, fishCompletion, zshCompletion } from "./completion.js";
import { CommandContext } from "./context.js";
import { buildProgram } from "./program.js";

const ctx = new CommandContext({ stdout: new PassThrough(), stderr: new PassThrough(), stdin: new PassThrough() }, {});
const tree = completionTree(buildProgram(ctx));

/** What a real bash completes for the words typed so far (the last one may be partial). */
function complete(...words: string[]): string[] {
  const script = `${bashCompletion(tree)}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}
_flotilla_complete; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync("bash", ["--norc", "--noprofile", "-c", script], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`bash failed: ${r.stderr}`);
  return r.stdout.split("\n").filter(Boolean).sort();
}

describe("completion", () => {
  it("the tree holds every verb, its aliases and its flags, global ones included", () => {
    const app = tree.commands.find((c) => c.path === "flotilla app");
    expect(app?.commands.map((c) => c.path)).toContain("flotilla app status");
    const status = app?.commands.find((c) => c.path === "flotilla app status");
    expect(status?.flags.flatMap((f) => f.names)).toEqual(expect.arrayContaining(["--watch", "-w", "--hub", "-o"]));
    expect(tree.flags.find((f) => f.names.includes("--output"))?.choices).toEqual(["table", "wide", "json", "yaml"]);
    expect(tree.commands.find((c) => c.path === "flotilla cluster")?.commands.find((c) => c.aliases.includes("ls")));
  });

  it("bash completes nouns, verbs (aliases too), flags and choice values", () => {
    expect(complete("flotilla", "ap")).toEqual(["app", "apply"]);
    expect(complete("flotilla", "app", "")).toEqual(expect.arrayContaining(["status", "diff", "wait", "ls", "sync"]));
    expect(complete("flotilla", "--hub", "http://x", "cluster", "l")).toEqual(["list", "ls"]);
    expect(complete("flotilla", "cluster", "ls", "--w")).toEqual(["--watch"]);
    expect(complete("flotilla", "status", "-o", "")).toEqual(["json", "table", "wide", "yaml"]);
    expect(complete("flotilla", "completion", "")).toEqual(expect.arrayContaining(["bash", "fish", "zsh", "--hub"]));
  });

  it("zsh reuses the bash function; fish declares each verb under its noun and each flag once", () => {
    expect(zshCompletion(tree)).toContain("bashcompinit");
    expect(zshCompletion(tree)).toContain("complete -o default -F _flotilla_complete flotilla");
    const fish = fishCompletion(tree);
    expect(fish).toContain(
      "complete -c flotilla -n '__fish_seen_subcommand_from app; and not __fish_seen_subcommand_from create list ls get status diff refresh sync wait delete rm' -a 'status'",
    );
    expect(fish).toMatch(/^complete -c flotilla -l output -s o -x -a 'table wide json yaml' /m);
    expect(fish.match(/^complete -c flotilla -l hub /gm)).toHaveLength(1);
  });
});
