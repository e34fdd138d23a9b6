/**
 * Turns an app's source at one commit into Kubernetes objects: plain manifests are parsed
 * straight from Git blobs; Kustomize and Helm run on a temporary copy of the commit's tree.
 */
import { execFile } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DesiredState, SourceType } from "@flotilla/proto";
import { parse } from "yaml";
import { PathEscapeError, RenderError } from "./errors.js";
import type { GitSource } from "./git-source.js";
import { isManifestFile, parseManifest, parseManifests } from "./manifest.js";
import type { KubeObject } from "./objects.js";
import { joinRepoPath, resolveRepoPath } from "./repo-path.js";

/** What to render: one app's source at one commit. */
export interface RenderRequest {
  app: string;
  environment: string;
  repoUrl: string;
  revision: string;
  path: string;
  type: SourceType;
  targetNamespace: string;
  helm?: { releaseName?: string; valueFiles?: string[]; set?: Record<string, string> };
}

/** Paths of the render tools. */
export interface RenderTools {
  helmBin: string;
  kustomizeBin: string;
}

/** Longest a render tool may run. */
const RENDER_TIMEOUT_MS = 120_000;
/** Largest rendered output accepted. */
const MAX_RENDER_BYTES = 64 * 1024 * 1024;

function run(tool: string, bin: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      args,
      { env, timeout: RENDER_TIMEOUT_MS, maxBuffer: MAX_RENDER_BYTES, encoding: "utf8" },
      (err, stdout, stderr) => {
        if (!err) {
          resolve(stdout);
          return;
        }
        const code = (err as NodeJS.ErrnoException).code;
        const reason =
          code === "ENOENT"
            ? `${bin} not found; install ${tool} on PATH or set FLOTILLA_${tool.toUpperCase()}_BIN`
            : (stderr.trim().split("\n").slice(-3).join(" ") || err.message).trim();
        reject(new RenderError(tool, reason, { cause: err }));
      },
    );
  });
}

const KUSTOMIZATION_FILES = ["kustomization.yaml", "kustomization.yml", "Kustomization"];
/**
 * Kustomization fields whose entries may name another kustomization directory. Kustomize's
 * load restrictor confines files to their kustomization's directory but lets these point
 * anywhere (`../../..` out of the repository, or `file://` Git URLs such as another repository
 * in the agent's cache), so the agent checks them itself.
 */
const KUSTOMIZE_ROOT_FIELDS = ["resources", "bases", "components", "generators", "transformers", "validators"];

/**
 * Follows the kustomization in repository directory `dir` and every local directory it names,
 * throwing PathEscapeError for an entry that leaves the repository or is a `file:` URL. Remote
 * URLs are left to kustomize; a kustomization that does not parse is left for kustomize to report.
 */
async function checkKustomizeRefs(root: string, dir: string, seen = new Set<string>()): Promise<void> {
  if (seen.has(dir)) return;
  seen.add(dir);
  const file = KUSTOMIZATION_FILES.map((f) => join(root, dir, f)).find((f) => existsSync(f));
  if (!file) return;
  let doc: unknown;
  try {
    doc = parse(await readFile(file, "utf8"));
  } catch {
    return;
  }
  if (typeof doc !== "object" || doc === null) return;
  for (const field of KUSTOMIZE_ROOT_FIELDS) {
    const entries = (doc as Record<string, unknown>)[field];
    if (!Array.isArray(entries)) continue;
    for (const entry of entries) {
      if (typeof entry !== "string") continue;
      if (/file:/i.test(entry)) throw new PathEscapeError(entry);
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(entry)) continue;
      const target = joinRepoPath(dir, entry);
      const abs = join(root, target);
      if (existsSync(abs) && statSync(abs).isDirectory()) await checkKustomizeRefs(root, target, seen);
    }
  }
}

/** Source type when the desired state leaves it unspecified: guessed from marker files. */
function detectType(dir: string): SourceType {
  if (KUSTOMIZATION_FILES.some((f) => existsSync(join(dir, f)))) {
    return SourceType.SOURCE_TYPE_KUSTOMIZE;
  }
  if (existsSync(join(dir, "Chart.yaml"))) return SourceType.SOURCE_TYPE_HELM;
  return SourceType.SOURCE_TYPE_MANIFESTS;
}

/** Renders `req`; the objects are not yet placed in namespaces or labelled. */
export async function render(git: GitSource, tools: RenderTools, req: RenderRequest): Promise<KubeObject[]> {
  const path = resolveRepoPath(req.path);
  if (req.type === SourceType.SOURCE_TYPE_MANIFESTS) {
    const files = await git.readFiles(req.repoUrl, req.revision, path, isManifestFile);
    return parseManifests(files);
  }
  const work = await mkdtemp(join(tmpdir(), "flotilla-render-"));
  try {
    const root = join(work, "repo");
    await git.writeTree(req.repoUrl, req.revision, root);
    const dir = join(root, path);
    if (!existsSync(dir))
      throw new RenderError("render", `path ${JSON.stringify(req.path)} does not exist in ${req.revision}`);
    const type = req.type === SourceType.SOURCE_TYPE_UNSPECIFIED ? detectType(dir) : req.type;
    // Tools write caches and config under these; keep them in the throwaway directory.
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: work,
      HELM_CACHE_HOME: join(work, "helm-cache"),
      HELM_CONFIG_HOME: join(work, "helm-config"),
      HELM_DATA_HOME: join(work, "helm-data"),
    };
    let output: string;
    if (type === SourceType.SOURCE_TYPE_KUSTOMIZE) {
      await checkKustomizeRefs(root, path);
      output = await run("kustomize", tools.kustomizeBin, ["build", dir], env);
    } else if (type === SourceType.SOURCE_TYPE_HELM) {
      output = await run("helm", tools.helmBin, helmArgs(req, path, root), env);
    } else {
      const files = await git.readFiles(req.repoUrl, req.revision, path, isManifestFile);
      return parseManifests(files);
    }
    return parseManifest({ path: `${req.path || "."} (rendered)`, content: output });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** `helm template` arguments: values.yaml, values-<env>.yaml when present, extra files, then --set. */
function helmArgs(req: RenderRequest, path: string, root: string): string[] {
  const chart = join(root, path);
  const args = ["template", req.helm?.releaseName || req.app, chart, "--include-crds"];
  if (req.targetNamespace) args.push("--namespace", req.targetNamespace);
  const valueFiles = ["values.yaml", ...(req.environment ? [`values-${req.environment}.yaml`] : [])];
  for (const file of valueFiles) {
    // The environment name comes from the desired state: it must not lead out of the repository either.
    const values = join(root, joinRepoPath(path, file));
    if (existsSync(values)) args.push("--values", values);
  }
  for (const file of req.helm?.valueFiles ?? []) {
    args.push("--values", join(root, joinRepoPath(path, file)));
  }
  for (const [key, value] of Object.entries(req.helm?.set ?? {})) args.push("--set", `${key}=${value}`);
  return args;
}

/** The render request for one app's desired state (protobuf optional fields made concrete). */
export function renderRequestOf(app: string, d: DesiredState): RenderRequest {
  const src = d.source;
  const helm = src?.helm;
  return {
    app,
    environment: d.environment ?? "",
    repoUrl: src?.repoUrl ?? "",
    revision: src?.revision ?? "",
    path: src?.path ?? "",
    type: src?.type ?? SourceType.SOURCE_TYPE_UNSPECIFIED,
    targetNamespace: d.targetNamespace ?? "",
    helm: helm
      ? {
          releaseName: helm.releaseName ?? "",
          valueFiles: helm.valueFiles ?? [],
          set: (helm.set ?? {}) as Record<string, string>,
        }
      : undefined,
  };
}
