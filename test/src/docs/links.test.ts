/**
 * The README and the pages it leads to must work in a fresh clone: every link resolves to a file
 * inside the repository (no `../` out of it, no absolute path), and the README links nowhere
 * outside the repository at all. Anchors into a Markdown page must name one of its headings.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** Inline Markdown links and images outside code: `[text](target)`. */
function linksOf(markdown: string): string[] {
  const withoutCode = markdown.replace(/```[\s\S]*?```/g, "").replace(/`[^`\n]*`/g, "");
  return [...withoutCode.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1] ?? "");
}

/** GitHub's anchor of a heading: lowercase, punctuation dropped, spaces to dashes. */
function anchorsOf(markdown: string): Set<string> {
  const withoutCode = markdown.replace(/```[\s\S]*?```/g, "");
  return new Set(
    [...withoutCode.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) =>
      (m[1] ?? "")
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, "")
        .replace(/\s/g, "-"),
    ),
  );
}

interface Problem {
  page: string;
  link: string;
  why: string;
}

/** Checks the links of `text`, the page at `page`; queues the Markdown pages it leads to. */
function check(page: string, text: string, queue: string[], problems: Problem[]): void {
  const at = relative(ROOT, page);
  for (const link of linksOf(text)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(link)) {
      if (at === "README.md") problems.push({ page: at, link, why: "the README links outside the repository" });
      continue;
    }
    const [path = "", anchor] = link.split("#");
    const target = path === "" ? page : resolve(dirname(page), decodeURIComponent(path));
    if (path.startsWith("/") || relative(ROOT, target).startsWith("..")) {
      problems.push({ page: at, link, why: "leads out of the repository" });
      continue;
    }
    if (!existsSync(target)) {
      problems.push({ page: at, link, why: `${relative(ROOT, target)} does not exist` });
      continue;
    }
    const isMarkdown = target.endsWith(".md") && statSync(target).isFile();
    if (anchor && isMarkdown && !anchorsOf(readFileSync(target, "utf8")).has(anchor))
      problems.push({ page: at, link, why: `no heading #${anchor} in ${relative(ROOT, target)}` });
    if (isMarkdown && !queue.includes(target)) queue.push(target);
  }
}

describe("documentation links", () => {
  it("resolve inside the repository, from the README through every page it leads to", () => {
    const queue = [join(ROOT, "README.md")];
    const problems: Problem[] = [];
    for (let i = 0; i < queue.length; i++) {
      const page = queue[i] as string;
      check(page, readFileSync(page, "utf8"), queue, problems);
    }
    expect(problems).toEqual([]);
    // The README does lead somewhere: the architecture page at least.
    expect(queue.map((p) => relative(ROOT, p))).toContain("docs/architecture.md");
  });

  it("finds a broken link, a link out of the repository, a missing anchor and an outside README link", () => {
    const problems: Problem[] = [];
    const queue: string[] = [];
    const text =
      "[a](nope.md) [b](../../etc/passwd) [c](architecture.md#no-such-heading) [d](architecture.md#components) `[e](x.md)`";
    check(join(ROOT, "docs", "fake.md"), text, queue, problems);
    expect(problems.map((p) => p.link)).toEqual(["nope.md", "../../etc/passwd", "architecture.md#no-such-heading"]);
    expect(queue.map((p) => relative(ROOT, p))).toEqual(["docs/architecture.md"]);
    const readme: Problem[] = [];
    check(join(ROOT, "README.md"), "[site](https://example.com)", [], readme);
    expect(readme.map((p) => p.why)).toEqual(["the README links outside the repository"]);
  });
});
