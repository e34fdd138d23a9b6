/**
 * Turns an app's source at one commit into Kubernetes objects: plain manifests are parsed
 * straight from Git blobs; Kustomize and Helm run on a temporary directory holding only what
 * they read (the chart's directory and its values files; the kustomizations and the files they
 * name). Rendering is hermetic: it reads the commit alone, never the network (see
 * `kustomize-inputs.ts`), and within the limits of `render-limits.ts`.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { type DesiredState, SourceType } from "@flotilla/proto";
import { RenderError } from "./errors.js";
import type { GitSource, Snapshot } from "./git-source.js";
import { KUSTOMIZATION_FILES, kustomizeInputs } from "./kustomize-inputs.js";
import { isManifestFile, parseManifest, parseManifests } from "./manifest.js";
import type { KubeObject } from "./objects.js";
import { DEFAULT_RENDER_LIMITS, ReadBudget, type RenderLimits } from "./render-limits.js";
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
/**
 * Where a render tool's HTTP would go: nowhere (the discard port on loopback). Rendering never
 * needs the network (every input is checked to be in the repository); this is the second wall.
 */
const NO_PROXY_TARGET = "http://127.0.0.1:9";

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
            : code === "ERR_CHILD_PROCESS_STDIO_MAXBUFFER"
              ? `its output is larger than ${MAX_RENDER_BYTES / 1024 / 1024} MiB, the limit of one render`
              : (stderr.trim().split("\n").slice(-3).join(" ") || err.message).trim();
        reject(new RenderError(tool, reason, { cause: err }));
      },
    );
  });
}

/**
 * Source type when the desired state leaves it unspecified (an app's `source: auto`), from the
 * marker files in `dir`: a kustomization (kustomization.yaml, kustomization.yml, Kustomization)
 * is Kustomize, Chart.yaml is Helm, anything else plain manifests.
 */
export async function detectSourceType(snap: Pick<Snapshot, "stat">, dir: string): Promise<SourceType> {
  for (const f of KUSTOMIZATION_FILES) {
    if ((await snap.stat(joinRepoPath(dir, f))) === "file") return SourceType.SOURCE_TYPE_KUSTOMIZE;
  }
  if ((await snap.stat(joinRepoPath(dir, "Chart.yaml"))) === "file") return SourceType.SOURCE_TYPE_HELM;
  return SourceType.SOURCE_TYPE_MANIFESTS;
}

/** Reads the manifest files under `dir`. */
async function readManifests(snap: Snapshot, dir: string): Promise<KubeObject[]> {
  const paths = (await snap.list(dir)).filter(isManifestFile);
  const files = [];
  for (const path of paths) files.push({ path, content: Buffer.from(await snap.read(path)).toString("utf8") });
  return parseManifests(files);
}

/** Writes repository files `paths` of `snap` under `root`. */
async function writeFiles(snap: Snapshot, paths: readonly string[], root: string): Promise<void> {
  for (const path of paths) {
    const target = join(root, path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, await snap.read(path));
  }
}

/** Renders `req`; the objects are not yet placed in namespaces or labelled. */
export async function render(
  git: GitSource,
  tools: RenderTools,
  req: RenderRequest,
  limits: RenderLimits = DEFAULT_RENDER_LIMITS,
): Promise<KubeObject[]> {
  return (await renderSource(git, tools, req, limits)).objects;
}

/** Renders `req`, and says as what: the request's type, or the detected one when it gave none. */
export async function renderSource(
  git: GitSource,
  tools: RenderTools,
  req: RenderRequest,
  limits: RenderLimits = DEFAULT_RENDER_LIMITS,
): Promise<{ objects: KubeObject[]; type: SourceType }> {
  const path = resolveRepoPath(req.path);
  const budget = new ReadBudget(limits);
  const snap = git.snapshot(req.repoUrl, req.revision, budget);
  const where = req.path || ".";
  if (req.type === SourceType.SOURCE_TYPE_MANIFESTS) {
    const objects = await readManifests(snap, path);
    budget.objects(objects.length, where);
    return { objects, type: req.type };
  }
  if ((await snap.stat(path)) !== "dir") {
    throw new RenderError("render", `path ${JSON.stringify(req.path)} is not a directory in ${req.revision}`);
  }
  const type = req.type === SourceType.SOURCE_TYPE_UNSPECIFIED ? await detectSourceType(snap, path) : req.type;
  if (type === SourceType.SOURCE_TYPE_MANIFESTS) {
    const objects = await readManifests(snap, path);
    budget.objects(objects.length, where);
    return { objects, type };
  }
  // Decide what the tool may read before writing anything.
  const inputs =
    type === SourceType.SOURCE_TYPE_KUSTOMIZE ? await kustomizeInputs(snap, path) : await helmInputs(snap, req, path);
  const work = await mkdtemp(join(tmpdir(), "flotilla-render-"));
  try {
    const root = join(work, "repo");
    await mkdir(root);
    await writeFiles(snap, inputs, root);
    // Tools write caches and config under these; keep them in the throwaway directory, and give
    // them no way out: no proxy but a dead one, no Git protocol.
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: work,
      HELM_CACHE_HOME: join(work, "helm-cache"),
      HELM_CONFIG_HOME: join(work, "helm-config"),
      HELM_DATA_HOME: join(work, "helm-data"),
      HTTP_PROXY: NO_PROXY_TARGET,
      HTTPS_PROXY: NO_PROXY_TARGET,
      ALL_PROXY: NO_PROXY_TARGET,
      NO_PROXY: "",
      GIT_ALLOW_PROTOCOL: "none",
      GIT_TERMINAL_PROMPT: "0",
      GIT_CONFIG_NOSYSTEM: "1",
    };
    const output =
      type === SourceType.SOURCE_TYPE_KUSTOMIZE
        ? await run("kustomize", tools.kustomizeBin, ["build", join(root, path)], env)
        : await run("helm", tools.helmBin, helmArgs(req, path, root), env);
    const objects = parseManifest({ path: `${where} (rendered)`, content: output });
    budget.objects(objects.length, where);
    return { objects, type };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** What `helm template` reads: the chart's directory (dependencies vendored in it) and the values files. */
async function helmInputs(snap: Snapshot, req: RenderRequest, path: string): Promise<string[]> {
  const files = new Set(await snap.list(path));
  for (const file of req.helm?.valueFiles ?? []) {
    const values = joinRepoPath(path, file);
    if ((await snap.stat(values)) === "file") files.add(values);
  }
  return [...files].sort();
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
