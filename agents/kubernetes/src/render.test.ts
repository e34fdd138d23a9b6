import { mkdtempSync, writeFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { SourceType } from "@flotilla/proto";
import { describe, expect, it } from "vitest";
import { PathEscapeError, RenderError } from "./errors.js";
import type { GitSource } from "./git-source.js";
import { type RenderRequest, render } from "./render.js";

/** Git whose every commit is `files`. */
function fakeGit(files: Record<string, string>): GitSource {
  const git = {
    async writeTree(_url: string, _revision: string, target: string) {
      for (const [path, content] of Object.entries(files)) {
        await mkdir(dirname(join(target, path)), { recursive: true });
        await writeFile(join(target, path), content);
      }
    },
  };
  return git as unknown as GitSource;
}

const req: RenderRequest = {
  app: "web",
  environment: "prod",
  repoUrl: "https://git.example/web.git",
  revision: "1".repeat(40),
  path: "overlays/prod",
  type: SourceType.SOURCE_TYPE_KUSTOMIZE,
  targetNamespace: "web",
};
// Never run: the checks happen before kustomize, and a set that passes them fails on the missing binary.
const tools = { helmBin: "/nonexistent/helm", kustomizeBin: "/nonexistent/kustomize" };

const kustomization = (resources: string[]) => `resources:\n${resources.map((r) => `- ${r}\n`).join("")}`;

describe("render of a kustomization", () => {
  it.each([
    ["a base above the repository", { "overlays/prod/kustomization.yaml": kustomization(["../../.."]) }],
    ["an absolute base", { "overlays/prod/kustomization.yaml": kustomization(["/etc/flotilla"]) }],
    [
      "a local Git repository (another repository in the cache)",
      { "overlays/prod/kustomization.yaml": kustomization(["file:///var/cache/flotilla-agent/0123abcd"]) },
    ],
    [
      "a base that itself leaves the repository",
      {
        "overlays/prod/kustomization.yaml": kustomization(["../../base"]),
        "base/kustomization.yaml": "components:\n- ../../outside\n",
      },
    ],
  ])("refuses %s", async (_what, files) => {
    const err = await render(fakeGit(files), tools, req).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PathEscapeError);
  });

  it("lets bases inside the repository and remote bases through to kustomize", async () => {
    const files = {
      "overlays/prod/kustomization.yaml": kustomization(["../../base", "https://github.com/org/repo//deploy?ref=v1"]),
      "base/kustomization.yaml": kustomization(["deployment.yaml"]),
      "base/deployment.yaml": "kind: Deployment\n",
    };
    const err = await render(fakeGit(files), tools, req).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RenderError);
    expect((err as RenderError).message).toMatch(/not found/);
  });
});

describe("render of a chart", () => {
  it("refuses an environment whose values file would lie outside the repository", async () => {
    // The checkout is <tmpdir>/flotilla-render-*/repo; from its chart, five levels up is <tmpdir>.
    const outside = mkdtempSync(join(tmpdir(), "agent-render-outside-"));
    writeFileSync(join(outside, "secret.yaml"), "password: x\n");
    const files = { "charts/api/Chart.yaml": "apiVersion: v2\nname: api\nversion: 0.1.0\n" };
    const chartReq: RenderRequest = {
      ...req,
      path: "charts/api",
      type: SourceType.SOURCE_TYPE_HELM,
      environment: `x/../../../../../${basename(outside)}/secret`,
    };
    const err = await render(fakeGit(files), tools, chartReq).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PathEscapeError);
  });
});
