import { describe, expect, it } from "vitest";
import type { AppSettings } from "../desired/index.js";
import { type CommitTree, inputsDigest } from "./inputs.js";

/** A commit as path → content; a directory's id is a hash of everything below it. */
function treeOf(files: Record<string, string>): CommitTree {
  return {
    async entry(path) {
      if (files[path] !== undefined) return { oid: `blob:${files[path]}`, type: "blob" };
      const below = Object.entries(files).filter(([p]) => path === "" || p.startsWith(`${path}/`));
      return below.length === 0 ? undefined : { oid: `tree:${JSON.stringify(below)}`, type: "tree" };
    },
    async text(path) {
      return files[path];
    },
  };
}

function app(source: AppSettings["source"], path: string, over: Partial<AppSettings> = {}): AppSettings {
  return {
    schema: 1,
    repo: "web",
    repoUrl: "https://git.example/web.git",
    branch: "main",
    path,
    source,
    namespace: "web",
    prune: false,
    selfHeal: false,
    team: "shop",
    ...over,
  };
}

const KUST = {
  "apps/a/kustomization.yaml": [
    "resources: [../../base, deploy.yaml]",
    "patches: [{ path: ../../patches/replicas.yaml }]",
    "configMapGenerator: [{ name: c, files: [conf=../../config/app.conf] }]",
    "",
  ].join("\n"),
  "apps/a/deploy.yaml": "d",
  "base/kustomization.yaml": "resources: [cm.yaml]\n",
  "base/cm.yaml": "cm",
  "patches/replicas.yaml": "p",
  "config/app.conf": "c",
  "unrelated/file": "u",
};

describe("inputsDigest", () => {
  const digest = (files: Record<string, string>, settings: AppSettings, env = "prod") =>
    inputsDigest(treeOf(files), settings, env);

  it("follows bases, patches and generator files inside the repo, and nothing else", async () => {
    const a = app("kustomize", "apps/a");
    const d = await digest(KUST, a);
    expect(d).toMatch(/^[0-9a-f]{64}$/);
    expect(await digest({ ...KUST, "unrelated/file": "changed" }, a)).toBe(d);
    for (const file of ["base/cm.yaml", "patches/replicas.yaml", "config/app.conf", "apps/a/deploy.yaml"])
      expect(await digest({ ...KUST, [file]: "changed" }, a), file).not.toBe(d);
  });

  it("with source auto, follows a kustomization it finds as kustomize does, and a plain directory as manifests", async () => {
    const auto = await digest(KUST, app("auto", "apps/a"));
    expect(auto).toBe(await digest(KUST, app("kustomize", "apps/a")));
    expect(await digest({ ...KUST, "base/cm.yaml": "changed" }, app("auto", "apps/a"))).not.toBe(auto);
    // A directory without marker files: only its own tree counts, as with manifests.
    const plain = { "apps/b/deploy.yaml": "d", "base/cm.yaml": "cm" };
    expect(await digest(plain, app("auto", "apps/b"))).toBe(await digest(plain, app("manifests", "apps/b")));
  });

  it("is unknown for what it cannot follow: a remote base, a path out of the repo, a Helm chart in Kustomize", async () => {
    const a = app("kustomize", "apps/a");
    const with_ = (text: string) => digest({ ...KUST, "apps/a/kustomization.yaml": text }, a);
    expect(await with_("resources: [https://github.com/org/repo//base?ref=v1]\n")).toBeUndefined();
    expect(await with_("resources: [../../../outside]\n")).toBeUndefined();
    expect(await with_("helmCharts: [{ name: x }]\n")).toBeUndefined();
    expect(await with_("resources: [: not yaml\n")).toBeUndefined();
  });

  it("resolves {env} and covers every override path; a manifests app is its directory alone", async () => {
    const files = { "env/prod/a.yaml": "1", "env/dev/a.yaml": "1", "overlays/eu/k.yaml": "1" };
    const s = app("manifests", "env/{env}", {
      overrides: [{ clusterSelector: { region: "eu" }, path: "overlays/eu" }],
    });
    const d = await digest(files, s);
    expect(await digest({ ...files, "env/dev/a.yaml": "2" }, s)).toBe(d);
    expect(await digest({ ...files, "env/prod/a.yaml": "2" }, s)).not.toBe(d);
    expect(await digest({ ...files, "overlays/eu/k.yaml": "2" }, s)).not.toBe(d);
  });

  it("follows a chart's file:// dependencies", async () => {
    const files = {
      "charts/web/Chart.yaml": "name: web\ndependencies:\n  - name: lib\n    repository: file://../lib\n",
      "charts/lib/Chart.yaml": "name: lib\n",
      "charts/lib/templates/_x.tpl": "1",
    };
    const s = app("helm", "charts/web");
    const d = await digest(files, s);
    expect(await digest({ ...files, "charts/lib/templates/_x.tpl": "2" }, s)).not.toBe(d);
  });
});
