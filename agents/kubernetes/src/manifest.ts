/**
 * Turns manifest files (YAML, multi-document, or JSON) into Kubernetes objects, naming the
 * file and document of anything that is not one.
 */
import { parseAllDocuments } from "yaml";
import { ManifestError } from "./errors.js";
import type { KubeObject } from "./objects.js";

/** A file's path inside the repository and its text. */
export interface ManifestFile {
  path: string;
  content: string;
}

const MANIFEST_EXTENSIONS = [".yaml", ".yml", ".json"];

/** Whether a plain-manifest directory walk should read this file. */
export function isManifestFile(path: string): boolean {
  const lower = path.toLowerCase();
  return MANIFEST_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Checks one document is a Kubernetes object; `List` documents are flattened into their items. */
function toObjects(file: string, index: number, doc: unknown): KubeObject[] {
  if (doc === null || doc === undefined) return [];
  if (!isRecord(doc)) throw new ManifestError(file, index, "is not a mapping; expected a Kubernetes object");
  if (typeof doc.kind === "string" && doc.kind.endsWith("List") && Array.isArray(doc.items)) {
    return doc.items.flatMap((item) => toObjects(file, index, item));
  }
  const missing: string[] = [];
  if (typeof doc.apiVersion !== "string" || doc.apiVersion === "") missing.push("apiVersion");
  if (typeof doc.kind !== "string" || doc.kind === "") missing.push("kind");
  const metadata = doc.metadata;
  if (!isRecord(metadata) || typeof metadata.name !== "string" || metadata.name === "") missing.push("metadata.name");
  if (missing.length > 0) {
    const what = typeof doc.kind === "string" ? `${doc.kind} ` : "";
    throw new ManifestError(file, index, `${what}object lacks ${missing.join(", ")}`);
  }
  if (metadata && isRecord(metadata) && metadata.namespace !== undefined && typeof metadata.namespace !== "string") {
    throw new ManifestError(file, index, "metadata.namespace is not a string");
  }
  return [doc as unknown as KubeObject];
}

/** Parses one file (YAML or JSON) into objects. */
export function parseManifest(file: ManifestFile): KubeObject[] {
  if (file.path.toLowerCase().endsWith(".json")) {
    let doc: unknown;
    try {
      doc = JSON.parse(file.content);
    } catch (err) {
      throw new ManifestError(file.path, 0, `invalid JSON: ${(err as Error).message}`, { cause: err });
    }
    return toObjects(file.path, 0, doc);
  }
  const docs = parseAllDocuments(file.content, { prettyErrors: false });
  if (!Array.isArray(docs)) return [];
  return docs.flatMap((doc, index) => {
    const error = doc.errors[0];
    if (error) throw new ManifestError(file.path, index, `invalid YAML: ${error.message.split("\n")[0]}`);
    return toObjects(file.path, index, doc.toJS({ maxAliasCount: 100 }));
  });
}

/** Parses every file in path order, so rendered order does not depend on how files were listed. */
export function parseManifests(files: readonly ManifestFile[]): KubeObject[] {
  return [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)).flatMap(parseManifest);
}

/** Throws ManifestError when two documents describe the same object (same group, kind, namespace, name). */
export function checkUnique(objects: readonly KubeObject[], keyOf: (obj: KubeObject) => string): void {
  const seen = new Set<string>();
  for (const obj of objects) {
    const key = keyOf(obj);
    if (seen.has(key)) {
      const where = obj.metadata.namespace ? `${obj.metadata.namespace}/` : "";
      throw new ManifestError(
        "(rendered set)",
        0,
        `${obj.kind} ${where}${obj.metadata.name} appears twice; keep one definition`,
      );
    }
    seen.add(key);
  }
}
