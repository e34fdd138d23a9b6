/**
 * Which files an app's rendering depends on at one commit, as one digest: the tree ids of its
 * path (every override path too) and of everything inside the repo its Kustomize files or Helm
 * chart reference (a base elsewhere, a patch, a generator's files, a `file://` dependency).
 * Two commits with the same digest render the same objects under the same settings, so the app
 * need not roll. Whatever cannot be followed (a remote base, a Helm chart inside a
 * kustomization, a path leaving the repo, too many references) makes the digest unknown, and
 * an unknown digest always rolls.
 */

import { posix } from "node:path";
import { parse } from "yaml";
import type { AppSettings } from "../desired/index.js";
import { fingerprint } from "../registry/canonical.js";
import { resolveAppPath } from "../registry/targets.js";

/** One commit's files, as the Git cache reads them. */
export interface CommitTree {
  /** The object at `path` ("" is the root), or undefined when there is none. */
  entry(path: string): Promise<{ oid: string; type: "tree" | "blob" } | undefined>;
  /** The text of the file at `path`, or undefined when there is no such file. */
  text(path: string): Promise<string | undefined>;
}

/** Most paths followed for one app before giving up (and rolling). */
export const MAX_INPUT_PATHS = 256;

const KUSTOMIZATION_FILES = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/** Thrown inside the walk when a reference cannot be followed; the digest is then unknown. */
class Unsure extends Error {}

/**
 * The digest of the inputs of an app with `settings` in `environment` at the commit `tree`,
 * or undefined when some input cannot be followed.
 */
export async function inputsDigest(
  tree: CommitTree,
  settings: AppSettings,
  environment: string,
): Promise<string | undefined> {
  const seen = new Map<string, string>();
  const visit = async (path: string): Promise<void> => {
    const p = normal(path);
    if (seen.has(p)) return;
    if (seen.size >= MAX_INPUT_PATHS) throw new Unsure();
    const entry = await tree.entry(p);
    seen.set(p, entry?.oid ?? "-");
    if (entry?.type !== "tree") return;
    const source = settings.source === "auto" ? await detectSource(tree, p) : settings.source;
    if (source === "kustomize") await followKustomization(tree, p, visit);
    if (source === "helm") await followChart(tree, p, visit);
  };
  try {
    const paths = new Set([settings.path, ...(settings.overrides ?? []).flatMap((o) => (o.path ? [o.path] : []))]);
    for (const path of paths) await visit(resolveAppPath(path, environment));
    // Value files (the app's and every override's) lie inside the chart, so its tree covers them.
  } catch (err) {
    if (err instanceof Unsure) return undefined;
    throw err;
  }
  return fingerprint([...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** `a/./b/` → `a/b`; "." → ""; throws Unsure when the path leaves the repo. */
function normal(path: string): string {
  const p = posix.normalize(path).replace(/\/+$/, "");
  if (p === "." || p === "") return "";
  if (p === ".." || p.startsWith("../") || p.startsWith("/")) throw new Unsure();
  return p;
}

/** What the agent renders a directory as when the app names no source type (agents/kubernetes/src/render.ts). */
async function detectSource(tree: CommitTree, dir: string): Promise<"kustomize" | "helm" | "manifests"> {
  for (const name of KUSTOMIZATION_FILES)
    if ((await tree.entry(posix.join(dir, name)))?.type === "blob") return "kustomize";
  return (await tree.entry(posix.join(dir, "Chart.yaml")))?.type === "blob" ? "helm" : "manifests";
}

function isRemote(ref: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(ref) || ref.startsWith("git@") || /^github\.com\//.test(ref);
}

/** Follows the files and directories a kustomization in `dir` names. */
async function followKustomization(tree: CommitTree, dir: string, visit: (path: string) => Promise<void>) {
  let text: string | undefined;
  for (const name of KUSTOMIZATION_FILES) {
    text = await tree.text(posix.join(dir, name));
    if (text !== undefined) break;
  }
  if (text === undefined) return;
  let doc: unknown;
  try {
    doc = parse(text);
  } catch {
    throw new Unsure();
  }
  if (doc === null || typeof doc !== "object") return;
  const k = doc as Record<string, unknown>;
  if (k.helmCharts !== undefined || k.helmChartInflationGenerator !== undefined) throw new Unsure();
  const refs: string[] = [];
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
  const objects = (v: unknown) =>
    Array.isArray(v) ? v.filter((x): x is Record<string, unknown> => x !== null && typeof x === "object") : [];
  for (const key of [
    "resources",
    "bases",
    "components",
    "crds",
    "configurations",
    "transformers",
    "generators",
    "validators",
  ])
    refs.push(...strings(k[key]));
  // Inline patches (text with a newline) are part of the kustomization file itself.
  refs.push(...strings(k.patchesStrategicMerge).filter((p) => !p.includes("\n")));
  for (const key of ["patches", "patchesJson6902", "replacements"])
    for (const o of objects(k[key])) if (typeof o.path === "string") refs.push(o.path);
  for (const key of ["configMapGenerator", "secretGenerator"])
    for (const g of objects(k[key])) {
      for (const f of strings(g.files)) refs.push(f.includes("=") ? f.slice(f.indexOf("=") + 1) : f);
      refs.push(...strings(g.envs));
      if (typeof g.env === "string") refs.push(g.env);
    }
  const openapi = k.openapi as { path?: unknown } | undefined;
  if (typeof openapi?.path === "string") refs.push(openapi.path);
  for (const ref of refs) {
    if (isRemote(ref)) throw new Unsure();
    await visit(posix.join(dir, ref));
  }
}

/** Follows a chart's `file://` dependencies; the chart's own files are in its tree. */
async function followChart(tree: CommitTree, dir: string, visit: (path: string) => Promise<void>) {
  const text = await tree.text(posix.join(dir, "Chart.yaml"));
  if (text === undefined) return;
  let doc: { dependencies?: { repository?: unknown }[] } | null;
  try {
    doc = parse(text);
  } catch {
    throw new Unsure();
  }
  for (const dep of doc?.dependencies ?? []) {
    const repo = dep?.repository;
    if (typeof repo === "string" && repo.startsWith("file://"))
      await visit(posix.join(dir, repo.slice("file://".length)));
  }
}
