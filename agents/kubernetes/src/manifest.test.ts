import { describe, expect, it } from "vitest";
import { ManifestError, PathEscapeError } from "./errors.js";
import { checkUnique, isManifestFile, parseManifests } from "./manifest.js";
import { refKey, refOf } from "./objects.js";
import { joinRepoPath, resolveRepoPath } from "./repo-path.js";

const cm = (name: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n`;

describe("parseManifests", () => {
  it.each([
    ["one document", [{ path: "a.yaml", content: cm("a") }], ["a"]],
    [
      "multi-document with empty docs",
      [{ path: "a.yaml", content: `---\n${cm("a")}---\n---\n${cm("b")}` }],
      ["a", "b"],
    ],
    [
      "JSON",
      [{ path: "x.json", content: JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "j" } }) }],
      ["j"],
    ],
    [
      "a List is flattened",
      [{ path: "l.yaml", content: `apiVersion: v1\nkind: List\nitems:\n- ${cm("i1").replaceAll("\n", "\n  ")}` }],
      ["i1"],
    ],
    [
      "files in path order",
      [
        { path: "z/b.yaml", content: cm("second") },
        { path: "a.yaml", content: cm("first") },
      ],
      ["first", "second"],
    ],
  ])("%s", (_name, files, names) => {
    expect(parseManifests(files).map((o) => o.metadata.name)).toEqual(names);
  });

  it.each([
    ["invalid YAML", "a: [unclosed\n", /bad.yaml document 0: invalid YAML/],
    ["no apiVersion", "kind: ConfigMap\nmetadata:\n  name: x\n", /document 0: ConfigMap object lacks apiVersion/],
    [
      "no name in second document",
      `${cm("ok")}---\napiVersion: v1\nkind: Secret\nmetadata: {}\n`,
      /document 1: .*metadata.name/,
    ],
    ["a scalar", "just text\n", /document 0: is not a mapping/],
  ])("rejects %s naming file and document", (_name, content, message) => {
    const run = () => parseManifests([{ path: "bad.yaml", content }]);
    expect(run).toThrow(ManifestError);
    expect(run).toThrow(message);
  });

  it("rejects the same object twice", () => {
    const objs = parseManifests([{ path: "a.yaml", content: `${cm("x")}---\n${cm("x")}` }]);
    expect(() => checkUnique(objs, (o) => refKey(refOf(o)))).toThrow(/ConfigMap x appears twice/);
  });

  it("reads only manifest extensions", () => {
    expect(["a.yaml", "b.YML", "c.json", "README.md", "x.yaml.bak"].filter(isManifestFile)).toEqual([
      "a.yaml",
      "b.YML",
      "c.json",
    ]);
  });
});

describe("repository paths", () => {
  it.each([
    ["", ""],
    [".", ""],
    ["apps/web/", "apps/web"],
    ["apps/./web/../api", "apps/api"],
  ])("%j → %j", (input, output) => {
    expect(resolveRepoPath(input)).toBe(output);
  });

  it.each(["..", "../x", "a/../../x", "/etc", "a\\b", "a\0b"])("rejects %j", (input) => {
    expect(() => resolveRepoPath(input)).toThrow(PathEscapeError);
  });

  it("joins children inside the repository only", () => {
    expect(joinRepoPath("charts/web", "values-prod.yaml")).toBe("charts/web/values-prod.yaml");
    expect(() => joinRepoPath("charts/web", "../../../secret")).toThrow(PathEscapeError);
    expect(() => joinRepoPath("charts/web", "/abs")).toThrow(PathEscapeError);
  });
});
