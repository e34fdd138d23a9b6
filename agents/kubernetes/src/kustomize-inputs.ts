/**
 * Which files of the repository a kustomization reads, found by following every field that
 * loads content, so that rendering writes only those and kustomize never reaches past them.
 *
 * Kustomize itself loads remote bases (`https://…`, `github.com/org/repo//dir?ref=…`, `git@…`),
 * fetches generator `files` and `envs` over HTTP, inflates Helm charts from chart repositories,
 * and lets `resources` point anywhere on the disk (`../../..`, another repository in the agent's
 * cache). Each makes one signed commit render differently later, or reads what it must not. So
 * every entry must be a relative path to a file or directory of the same commit, inside the
 * repository; anything else is refused before kustomize runs, naming the file, field and entry.
 */
import { parseAllDocuments } from "yaml";
import { PathEscapeError, RenderInputError } from "./errors.js";
import type { EntryType, Snapshot } from "./git-source.js";
import { joinRepoPath } from "./repo-path.js";

/** File names kustomize looks for in a kustomization directory, in its order. */
export const KUSTOMIZATION_FILES = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/** Fields whose entries are kustomization directories or resource files. */
const TREE_FIELDS = ["resources", "bases", "components"];
/** Fields whose entries are plugin configs: inline YAML, a file of them, or a kustomization directory. */
const PLUGIN_FIELDS = ["generators", "transformers", "validators"];
/** Fields whose entries are files. */
const FILE_FIELDS = ["crds", "configurations"];
/** Fields whose entries are objects with a `path` to a file (and maybe an inline patch). */
const PATH_OBJECT_FIELDS = ["patches", "patchesJson6902", "replacements"];
/** Generator fields whose entries name files in `files` (optionally `key=path`), `envs` and `env`. */
const GENERATOR_FIELDS = ["configMapGenerator", "secretGenerator"];
/** Fields that inflate Helm charts, fetched from chart repositories at render time. */
const HELM_FIELDS = ["helmCharts", "helmChartInflationGenerator", "helmGlobals"];

/** Anything with a URL scheme (`https:`, `file:`, `ssh:`…), scp-like Git (`git@host:…`) or a network path (`//host/…`). */
const REMOTE = /^([a-z][a-z0-9+.-]*:|[^/\s]+@[^/\s]+:|\/\/)/i;

type Doc = Record<string, unknown>;

function isRecord(v: unknown): v is Doc {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function strings(v: unknown): string[] {
  if (typeof v === "string") return [v];
  return Array.isArray(v) ? v.filter((e): e is string => typeof e === "string") : [];
}

/** Follows kustomizations from one directory, collecting the files they read. */
class Follower {
  readonly files = new Set<string>();
  readonly #seen = new Set<string>();

  constructor(private readonly snap: Snapshot) {}

  /** Follows the kustomization in directory `dir`; false when `dir` has none. */
  async kustomization(dir: string): Promise<boolean> {
    if (this.#seen.has(dir)) return true;
    let file: string | undefined;
    for (const name of KUSTOMIZATION_FILES) {
      const path = dir ? `${dir}/${name}` : name;
      if ((await this.snap.stat(path)) === "file") {
        file = path;
        break;
      }
    }
    if (!file) return false;
    this.#seen.add(dir);
    this.files.add(file);
    const docs = await this.#parse(file);
    const doc = docs[0];
    if (!isRecord(doc)) return true;
    for (const field of HELM_FIELDS) {
      if (doc[field] !== undefined) {
        throw new RenderInputError(
          file,
          field,
          "",
          "inflates Helm charts from a chart repository at render time; render the chart with source type helm instead, with its dependencies vendored",
        );
      }
    }
    for (const field of TREE_FIELDS) {
      for (const entry of strings(doc[field])) await this.#tree(file, field, dir, entry);
    }
    for (const field of PLUGIN_FIELDS) {
      for (const entry of strings(doc[field])) {
        if (entry.includes("\n")) await this.#pluginConfigs(file, field, dir, parseDocs(entry));
        else await this.#plugin(file, field, dir, entry);
      }
    }
    for (const field of FILE_FIELDS) {
      for (const entry of strings(doc[field])) await this.#file(file, field, dir, entry);
    }
    if (isRecord(doc.openapi) && typeof doc.openapi.path === "string") {
      await this.#file(file, "openapi.path", dir, doc.openapi.path);
    }
    for (const entry of strings(doc.patchesStrategicMerge)) {
      // An entry is a file, or an inline patch (which spans lines).
      if (!entry.includes("\n")) await this.#file(file, "patchesStrategicMerge", dir, entry);
    }
    for (const field of PATH_OBJECT_FIELDS) {
      const entries = doc[field];
      if (!Array.isArray(entries)) continue;
      for (const e of entries) {
        if (isRecord(e) && typeof e.path === "string") await this.#file(file, `${field}.path`, dir, e.path);
      }
    }
    for (const field of GENERATOR_FIELDS) {
      const entries = doc[field];
      if (!Array.isArray(entries)) continue;
      for (const g of entries) if (isRecord(g)) await this.#generatorInputs(file, field, dir, g);
    }
    return true;
  }

  /** A `resources`-like entry: a kustomization directory or a resource file. */
  async #tree(file: string, field: string, dir: string, entry: string): Promise<void> {
    const { path, type } = await this.#local(file, field, dir, entry);
    if (type === "file") this.files.add(path);
    else if (!(await this.kustomization(path))) {
      throw new RenderInputError(
        file,
        field,
        entry,
        "is a directory without a kustomization; add one or name its files",
      );
    }
  }

  /** A plugin config entry given as a path: a file of configs, or a kustomization producing them. */
  async #plugin(file: string, field: string, dir: string, entry: string): Promise<void> {
    const { path, type } = await this.#local(file, field, dir, entry);
    if (type === "dir") {
      if (!(await this.kustomization(path))) {
        throw new RenderInputError(
          file,
          field,
          entry,
          "is a directory without a kustomization; add one or name its files",
        );
      }
      return;
    }
    this.files.add(path);
    // The configs sit in the directory of the kustomization that names them.
    await this.#pluginConfigs(path, field, dir, await this.#parse(path));
  }

  /**
   * Inputs of plugin configs (built-in generators and transformers such as ConfigMapGenerator or
   * PatchTransformer): their `files`, `envs`, `env`, `path` and `paths`. Kustomize resolves them
   * from the directory of the kustomization that names the config.
   */
  async #pluginConfigs(file: string, field: string, dir: string, docs: unknown[]): Promise<void> {
    for (const doc of docs) {
      if (!isRecord(doc)) continue;
      const kind = typeof doc.kind === "string" ? doc.kind : "";
      if (kind === "HelmChartInflationGenerator") {
        throw new RenderInputError(
          file,
          field,
          kind,
          "inflates a Helm chart from a chart repository at render time; render the chart with source type helm instead",
        );
      }
      await this.#generatorInputs(file, `${field} ${kind || "config"}`, dir, doc);
      for (const entry of [...strings(doc.path), ...strings(doc.paths)])
        await this.#file(file, `${field} ${kind}.path`, dir, entry);
      if (Array.isArray(doc.replacements)) {
        for (const r of doc.replacements) {
          if (isRecord(r) && typeof r.path === "string")
            await this.#file(file, `${field} ${kind}.replacements.path`, dir, r.path);
        }
      }
    }
  }

  /** `files` (`path` or `key=path`), `envs` and `env` of a ConfigMap or Secret generator. */
  async #generatorInputs(file: string, field: string, dir: string, g: Doc): Promise<void> {
    for (const entry of strings(g.files)) {
      const eq = entry.indexOf("=");
      await this.#file(file, `${field}.files`, dir, eq >= 0 ? entry.slice(eq + 1) : entry);
    }
    for (const entry of [...strings(g.envs), ...strings(g.env)]) await this.#file(file, `${field}.envs`, dir, entry);
  }

  async #file(file: string, field: string, dir: string, entry: string): Promise<void> {
    const { path, type } = await this.#local(file, field, dir, entry);
    if (type !== "file") throw new RenderInputError(file, field, entry, "is a directory; name a file");
    this.files.add(path);
  }

  /** The repository path an entry names, which must exist; URLs and escapes are refused. */
  async #local(file: string, field: string, dir: string, entry: string): Promise<{ path: string; type: EntryType }> {
    if (REMOTE.test(entry.trim())) {
      throw new RenderInputError(
        file,
        field,
        entry,
        "is remote; rendering reads only the repository at the commit, so vendor that content into the repository",
      );
    }
    let path: string;
    try {
      path = joinRepoPath(dir, entry.trim());
    } catch (err) {
      if (err instanceof PathEscapeError) {
        throw new RenderInputError(file, field, entry, "leaves the repository; use a path inside the repository");
      }
      throw err;
    }
    const type = await this.snap.stat(path);
    if (!type) {
      throw new RenderInputError(
        file,
        field,
        entry,
        "is not a file or directory of the repository at this commit (remote content is not fetched; symlinks are not followed)",
      );
    }
    return { path, type };
  }

  async #parse(path: string): Promise<unknown[]> {
    return parseDocs(Buffer.from(await this.snap.read(path)).toString("utf8"));
  }
}

/** The documents of a YAML text that parse; one that does not is left for kustomize to report, in its words. */
function parseDocs(text: string): unknown[] {
  return parseAllDocuments(text, { prettyErrors: false }).flatMap((d) =>
    "errors" in d && d.errors.length === 0 ? [d.toJS({ maxAliasCount: 100 })] : [],
  );
}

/**
 * Every repository file the kustomization in `dir` reads, following bases, components,
 * generators, transformers and patches; throws RenderInputError for an entry outside the
 * repository, remote, or missing. `dir` must hold a kustomization.
 */
export async function kustomizeInputs(snap: Snapshot, dir: string): Promise<string[]> {
  const f = new Follower(snap);
  if (!(await f.kustomization(dir))) {
    throw new RenderInputError(dir || ".", "path", dir, "holds no kustomization.yaml");
  }
  return [...f.files].sort();
}
