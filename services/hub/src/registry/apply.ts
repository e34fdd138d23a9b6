import {
  API_VERSION,
  type ApplyAction,
  KINDS,
  type Kind,
  nameSchema,
  type ReceiverDocumentSpec,
  type ReceiverSpec,
  type RepoSpec,
  receiverSpecSchema,
  SPEC_SCHEMAS,
  type SpecOf,
} from "@flotilla/api";
import { parseAllDocuments } from "yaml";
import { z } from "zod";
import { ValidationError } from "../errors.js";
import { canonicalJson } from "./canonical.js";

/** One validated document of an apply. */
export type ApplyDocument = {
  [K in Kind]: {
    /** 1-based position in the file, counting every `---` separated document. */
    index: number;
    kind: K;
    name: string;
    spec: SpecOf[K];
  };
}[Kind];

export interface PlannedChange {
  doc: ApplyDocument;
  action: ApplyAction;
}

/** Most documents one apply takes, to bound the work of a single request. */
export const MAX_APPLY_DOCUMENTS = 1000;

/** Order in which kinds are written, so references resolve as objects appear. */
export const APPLY_ORDER: readonly Kind[] = ["Team", "Environment", "Cluster", "Repo", "App", "Receiver"];

const envelopeSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION, { message: `must be ${API_VERSION}` }),
  kind: z.enum(KINDS, { message: `must be one of ${KINDS.join(", ")}` }),
  metadata: z.strictObject({ name: nameSchema }),
  spec: z.unknown().optional(),
});

/** How an error names a document of an applied file: `document 2 (Repo "web")`. */
export function where(index: number, kind?: unknown, name?: unknown): string {
  const k = typeof kind === "string" && kind ? ` ${kind}` : "";
  const n = typeof name === "string" && name ? ` ${JSON.stringify(name)}` : "";
  return `document ${index}${k || n ? ` (${`${k}${n}`.trim()})` : ""}`;
}

function fieldOf(path: readonly PropertyKey[], prefix = ""): string {
  const parts = path.map(String);
  return [prefix, ...parts].filter(Boolean).join(".");
}

/**
 * Parses and validates every document of a multi-document YAML file before anything is
 * applied. Throws one ValidationError naming the document (1-based index, kind, name) and the
 * field at fault. Empty documents (a stray `---`) are skipped but still counted.
 */
export function parseApplyDocuments(text: string): ApplyDocument[] {
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  const parsed: ApplyDocument[] = [];
  const seen = new Set<string>();
  if (!Array.isArray(docs)) throw new ValidationError("", "the body is not YAML documents");
  if (docs.length > MAX_APPLY_DOCUMENTS) {
    throw new ValidationError("", `has ${docs.length} documents; apply at most ${MAX_APPLY_DOCUMENTS} at once`);
  }
  docs.forEach((doc, i) => {
    const index = i + 1;
    if (doc.errors.length > 0) {
      const err = doc.errors[0];
      throw new ValidationError("", `is not valid YAML: ${err?.message.split("\n")[0]}`, where(index));
    }
    let value: unknown;
    try {
      // Parses cleanly but cannot become values: an alias to no anchor, or an alias bomb.
      value = doc.toJS();
    } catch (err) {
      throw new ValidationError("", `is not valid YAML: ${(err as Error).message.split("\n")[0]}`, where(index));
    }
    if (value === null || value === undefined) return;
    const raw = (typeof value === "object" ? value : {}) as Record<string, unknown>;
    const rawKind = raw.kind;
    const rawName = (raw.metadata as Record<string, unknown> | undefined)?.name;
    const envelope = envelopeSchema.safeParse(value);
    if (!envelope.success) {
      const issue = envelope.error.issues[0];
      throw new ValidationError(
        fieldOf(issue?.path ?? []) || "(document)",
        issue?.message ?? "invalid",
        where(index, rawKind, rawName),
      );
    }
    const { kind, metadata } = envelope.data;
    const spec = SPEC_SCHEMAS[kind].safeParse(envelope.data.spec ?? {});
    if (!spec.success) {
      const issue = spec.error.issues[0];
      throw new ValidationError(
        fieldOf(issue?.path ?? [], "spec"),
        issue?.message ?? "invalid",
        where(index, kind, metadata.name),
      );
    }
    const id = `${kind}/${metadata.name}`;
    if (seen.has(id)) {
      throw new ValidationError(
        "metadata.name",
        `${kind} ${JSON.stringify(metadata.name)} appears twice in this file`,
        where(index, kind, metadata.name),
      );
    }
    seen.add(id);
    parsed.push({ index, kind, name: metadata.name, spec: spec.data } as ApplyDocument);
  });
  return parsed;
}

/** What the planner needs to know about the registry before an apply. */
export interface ApplyCurrent {
  /** The current spec of an object (secrets decrypted), undefined when it does not exist. */
  spec(kind: Kind, name: string): unknown;
  /** Whether an object exists in the registry now. */
  exists(kind: Kind, name: string): boolean;
}

/**
 * Decides, without writing anything, what applying `docs` does to each object, and checks that
 * every reference (a repo's team, an app's repo) resolves within the registry or the file.
 * Throws ValidationError naming the document and field of a dangling reference.
 */
export function planApply(docs: readonly ApplyDocument[], current: ApplyCurrent): PlannedChange[] {
  const inFile = new Set(docs.map((d) => `${d.kind}/${d.name}`));
  const known = (kind: Kind, name: string) => inFile.has(`${kind}/${name}`) || current.exists(kind, name);
  const changes: PlannedChange[] = [];
  for (const doc of docs) {
    if (doc.kind === "Repo" && !known("Team", doc.spec.team)) {
      throw new ValidationError(
        "spec.team",
        `team ${JSON.stringify(doc.spec.team)} does not exist; add a Team document or create it first`,
        where(doc.index, doc.kind, doc.name),
      );
    }
    if (doc.kind === "App" && !known("Repo", doc.spec.repo)) {
      throw new ValidationError(
        "spec.repo",
        `repo ${JSON.stringify(doc.spec.repo)} does not exist; add a Repo document or create it first`,
        where(doc.index, doc.kind, doc.name),
      );
    }
    const before = current.spec(doc.kind, doc.name);
    const action: ApplyAction =
      before === undefined ? "created" : canonicalJson(before) === canonicalJson(doc.spec) ? "unchanged" : "configured";
    changes.push({ doc, action });
  }
  return changes.sort(
    (a, b) => APPLY_ORDER.indexOf(a.doc.kind) - APPLY_ORDER.indexOf(b.doc.kind) || a.doc.index - b.doc.index,
  );
}

/**
 * A Repo document that leaves out `credentials` or `webhookSecret` keeps the stored ones: they
 * are write-only, so no `get` can show them, and `get -o yaml | apply -f -` must change nothing.
 * To drop one, replace the repo (`PUT /v1/repos/{name}`) without it.
 */
export function keepWriteOnly(spec: RepoSpec, stored: RepoSpec | undefined): void {
  if (!stored) return;
  if (spec.credentials === undefined && stored.credentials !== undefined) spec.credentials = stored.credentials;
  if (spec.webhookSecret === undefined && stored.webhookSecret !== undefined) spec.webhookSecret = stored.webhookSecret;
}

/**
 * The receiver a Receiver document writes: the document's spec with the stored URL and secret
 * where it leaves them out (write-only, like a repo's credentials: no `get` shows them, and
 * `receiver get -o yaml | apply -f -` must change nothing), checked as `PUT /v1/receivers/{name}`
 * checks a body. Throws ValidationError naming the document and what to add. To drop a secret,
 * replace the receiver (`flotilla receiver set`) without it.
 */
export function completeReceiver(
  doc: { index: number; kind: "Receiver"; name: string; spec: ReceiverDocumentSpec },
  stored: ReceiverSpec | undefined,
): ReceiverSpec {
  const at = where(doc.index, doc.kind, doc.name);
  const spec = { ...doc.spec };
  if (spec.url === undefined) {
    if (!stored) {
      throw new ValidationError(
        "spec.url",
        "a new receiver needs its URL; add spec.url (it is stored sealed and never shown again)",
        at,
      );
    }
    spec.url = stored.url;
  }
  if (spec.secret === undefined && stored?.secret !== undefined) spec.secret = stored.secret;
  const checked = receiverSpecSchema.safeParse(spec);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    const missingSecret = issue?.path[0] === "secret" && spec.secret === undefined;
    throw new ValidationError(
      fieldOf(issue?.path ?? [], "spec"),
      missingSecret
        ? "a webhook receiver needs a secret to sign with; add spec.secret (16+ characters, stored sealed)"
        : (issue?.message ?? "invalid"),
      at,
    );
  }
  return checked.data;
}
