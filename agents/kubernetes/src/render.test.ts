import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { SourceType } from "@flotilla/proto";
import { afterAll, describe, expect, it } from "vitest";
import { PathEscapeError, RenderError, RenderInputError, RenderLimitError } from "./errors.js";
import { kustomizeInputs } from "./kustomize-inputs.js";
import { detectSourceType, type RenderRequest, render, renderSource } from "./render.js";
import { DEFAULT_RENDER_LIMITS, ReadBudget } from "./render-limits.js";
import { FakeGit, type Files } from "./testing/fake-git.js";

const REV = "1".repeat(40);
const gitOf = (files: Files) => new FakeGit({ [REV]: files });

const req: RenderRequest = {
  app: "web",
  environment: "prod",
  repoUrl: "https://git.example/web.git",
  revision: REV,
  path: "overlays/prod",
  type: SourceType.SOURCE_TYPE_KUSTOMIZE,
  targetNamespace: "web",
};
// Never run: the checks happen before kustomize, and a set that passes them fails on the missing binary.
const tools = { helmBin: "/nonexistent/helm", kustomizeBin: "/nonexistent/kustomize" };

const kustomization = (resources: string[]) => `resources:\n${resources.map((r) => `- ${r}\n`).join("")}`;
const K = "overlays/prod/kustomization.yaml";
const BASE = { "base/kustomization.yaml": kustomization(["cm.yaml"]), "base/cm.yaml": "kind: ConfigMap\n" };

describe("render of a kustomization", () => {
  it.each([
    ["a base above the repository", { [K]: kustomization(["../../.."]) }, /leaves the repository/],
    ["an absolute base", { [K]: kustomization(["/etc/flotilla"]) }, /leaves the repository/],
    [
      "a local Git repository (another repository in the cache)",
      { [K]: kustomization(["file:///var/cache/flotilla-agent/0123abcd"]) },
      /is remote/,
    ],
    ["a remote base over HTTPS", { [K]: kustomization(["https://github.com/org/repo//deploy?ref=v1"]) }, /is remote/],
    [
      "a remote base without a scheme",
      { [K]: kustomization(["github.com/org/repo/deploy?ref=v1"]) },
      /not a file or directory/,
    ],
    ["a remote base over SSH, scp style", { [K]: kustomization(["git@github.com:org/repo.git//deploy"]) }, /is remote/],
    [
      "a base that itself leaves the repository",
      { [K]: kustomization(["../../base"]), "base/kustomization.yaml": "components:\n- ../../outside\n" },
      /leaves the repository/,
    ],
    [
      "a generator file fetched over HTTP",
      { [K]: "configMapGenerator:\n- name: leak\n  files:\n  - http://127.0.0.1:8080/secret\n" },
      /configMapGenerator\.files entry "http:\/\/127\.0\.0\.1:8080\/secret" is remote/,
    ],
    [
      "a generator file named key=URL",
      { [K]: "secretGenerator:\n- name: leak\n  files:\n  - token=https://metadata.internal/token\n" },
      /secretGenerator\.files entry "https:\/\/metadata\.internal\/token" is remote/,
    ],
    [
      "generator envs from a URL",
      { [K]: "configMapGenerator:\n- name: leak\n  envs:\n  - https://example.com/env\n" },
      /configMapGenerator\.envs .* is remote/,
    ],
    [
      "a patch file from a URL",
      { [K]: "patches:\n- path: https://example.com/patch.yaml\n" },
      /patches\.path .* is remote/,
    ],
    [
      "a generator config file whose files are URLs",
      {
        [K]: "generators:\n- gen.yaml\n",
        "overlays/prod/gen.yaml":
          "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata:\n  name: leak\nfiles:\n- https://example.com/x\n",
      },
      /generators ConfigMapGenerator\.files .* is remote/,
    ],
    [
      "an inline generator config whose files are URLs",
      {
        [K]: "generators:\n- |\n  apiVersion: builtin\n  kind: ConfigMapGenerator\n  metadata:\n    name: leak\n  files:\n  - https://example.com/x\n",
      },
      /is remote/,
    ],
    [
      "Helm chart inflation",
      { [K]: "helmCharts:\n- name: redis\n  repo: https://charts.example.com\n  version: 1.0.0\n" },
      /helmCharts .*inflates Helm charts/,
    ],
    ["a resource that is not in the repository", { [K]: kustomization(["missing.yaml"]) }, /not a file or directory/],
    [
      "a directory without a kustomization",
      { [K]: kustomization(["../../plain"]), "plain/a.yaml": "x: 1\n" },
      /without a kustomization/,
    ],
  ])("refuses %s, naming the entry", async (_what, files, message) => {
    const err = await render(gitOf(files), tools, req).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RenderInputError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message.split("\n")).toHaveLength(1);
  });

  it("passes bases inside the repository to kustomize (which is missing here)", async () => {
    const files = { [K]: kustomization(["../../base"]), ...BASE };
    const err = await render(gitOf(files), tools, req).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RenderError);
    expect((err as RenderError).message).toMatch(/not found/);
  });

  it("reads only the kustomizations and the files they name", async () => {
    const files: Files = {
      [K]: "resources:\n- ../../base\ncomponents:\n- ../../components/x\npatches:\n- path: patch.yaml\nconfigMapGenerator:\n- name: c\n  files:\n  - cfg=settings.ini\n  envs:\n  - app.env\n",
      "overlays/prod/patch.yaml": "p: 1\n",
      "overlays/prod/settings.ini": "a=1\n",
      "overlays/prod/app.env": "A=1\n",
      "overlays/prod/unused.yaml": "u: 1\n",
      "components/x/kustomization.yaml": "kind: Component\nresources:\n- extra.yaml\n",
      "components/x/extra.yaml": "e: 1\n",
      "overlays/dev/kustomization.yaml": kustomization(["../../base"]),
      "secrets/prod.yaml": "s: 1\n",
      ...BASE,
    };
    const snap = gitOf(files).snapshot("", REV, new ReadBudget());
    expect(await kustomizeInputs(snap, "overlays/prod")).toEqual([
      "base/cm.yaml",
      "base/kustomization.yaml",
      "components/x/extra.yaml",
      "components/x/kustomization.yaml",
      "overlays/prod/app.env",
      "overlays/prod/kustomization.yaml",
      "overlays/prod/patch.yaml",
      "overlays/prod/settings.ini",
    ]);
  });
});

describe("render limits", () => {
  const manifests: RenderRequest = { ...req, path: "app", type: SourceType.SOURCE_TYPE_MANIFESTS };
  const cm = (i: number) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c${i}\n`;

  it.each([
    ["files listed", { maxEntries: 3 }, /more than 3 tree entries listed/],
    ["files read", { maxFiles: 2 }, /more than 2 files read/],
    ["bytes read", { maxBytes: 100 }, /more than 100 bytes read/],
    ["objects rendered", { maxObjects: 3 }, /4 objects rendered, more than 3/],
  ])("stops a render past its limit of %s, in one line", async (_what, limit, message) => {
    const files = Object.fromEntries([0, 1, 2, 3].map((i) => [`app/c${i}.yaml`, cm(i)]));
    const err = await render(gitOf(files), tools, manifests, { ...DEFAULT_RENDER_LIMITS, ...limit }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RenderLimitError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toMatch(/^render stopped at "app[^"]*": .*point the app at a smaller directory$/);
  });

  it("renders within the limits", async () => {
    const files = Object.fromEntries([0, 1, 2, 3].map((i) => [`app/c${i}.yaml`, cm(i)]));
    const objects = await render(gitOf(files), tools, manifests);
    expect(objects.map((o) => o.metadata.name)).toEqual(["c0", "c1", "c2", "c3"]);
  });
});

describe("render of a chart", () => {
  it("refuses an environment whose values file would lie outside the repository", async () => {
    const files = { "charts/api/Chart.yaml": "apiVersion: v2\nname: api\nversion: 0.1.0\n" };
    const chartReq: RenderRequest = {
      ...req,
      path: "charts/api",
      type: SourceType.SOURCE_TYPE_HELM,
      environment: "x/../../../../../etc/secret",
    };
    const err = await render(gitOf(files), tools, chartReq).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PathEscapeError);
  });
});

describe("source type detection (an app with source auto)", () => {
  // A real directory tree, read through the one call detection makes.
  const root = mkdtempSync(join(tmpdir(), "flotilla-detect-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const onDisk = {
    async stat(path: string) {
      try {
        return statSync(join(root, path)).isDirectory() ? ("dir" as const) : ("file" as const);
      } catch {
        return undefined;
      }
    },
  };
  const tree: Record<string, string> = {
    "kust-yaml/kustomization.yaml": "resources: []\n",
    "kust-yml/kustomization.yml": "resources: []\n",
    "kust-bare/Kustomization": "resources: []\n",
    "chart/Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n",
    "chart/templates/cm.yaml": "kind: ConfigMap\n",
    "both/kustomization.yaml": "resources: []\n",
    "both/Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n",
    "plain/deploy.yaml": "kind: Deployment\n",
    "plain/sub/kustomization.yaml": "resources: []\n",
    "dir-named-chart/Chart.yaml/x": "not a file\n",
  };
  for (const [path, content] of Object.entries(tree)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }

  it.each([
    ["kust-yaml", SourceType.SOURCE_TYPE_KUSTOMIZE],
    ["kust-yml", SourceType.SOURCE_TYPE_KUSTOMIZE],
    ["kust-bare", SourceType.SOURCE_TYPE_KUSTOMIZE],
    ["chart", SourceType.SOURCE_TYPE_HELM],
    ["both", SourceType.SOURCE_TYPE_KUSTOMIZE],
    ["plain", SourceType.SOURCE_TYPE_MANIFESTS],
    ["dir-named-chart", SourceType.SOURCE_TYPE_MANIFESTS],
  ])("%s renders as %s", async (dir, type) => {
    expect(SourceType[await detectSourceType(onDisk, dir)]).toBe(SourceType[type]);
  });

  it("renders an unspecified source as what it detects, and says so", async () => {
    const git = gitOf({ "plain/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n" });
    const out = await renderSource(git, tools, { ...req, path: "plain", type: SourceType.SOURCE_TYPE_UNSPECIFIED });
    expect(out.type).toBe(SourceType.SOURCE_TYPE_MANIFESTS);
    expect(out.objects.map((o) => o.metadata?.name)).toEqual(["c"]);
    // A kustomization is detected and handed to kustomize (here a missing binary, named in the error).
    const kust = gitOf({ "k/kustomization.yaml": "resources: []\n" });
    await expect(
      renderSource(kust, tools, { ...req, path: "k", type: SourceType.SOURCE_TYPE_UNSPECIFIED }),
    ).rejects.toThrow(/nonexistent\/kustomize/);
  });
});
