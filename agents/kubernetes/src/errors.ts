/**
 * Errors raised by the agent. Each carries the report code it maps to and whether the agent
 * will retry by itself; the mapping to a Report's ErrorInfo happens only in `report.ts`.
 */
import { ErrorCode, type ObjectRefInit } from "@flotilla/proto";

/** One object that failed, with the API server's (or parser's) message. */
export interface ObjectFailure {
  ref: ObjectRefInit;
  message: string;
}

/** Base class: an error the reconcile loop can report with a code. */
export class AgentError extends Error {
  override name = "AgentError";
  /** Report code for this failure. */
  readonly code: ErrorCode = ErrorCode.ERROR_CODE_INTERNAL;
  /** True when the same input may succeed later (network, API server busy). */
  readonly retryable: boolean = false;
  /** Objects that failed, when the failure concerns objects. */
  readonly objects: ObjectFailure[] = [];
}

/** A bad setting at start; the process stops with this one line. */
export class ConfigError extends AgentError {
  override name = "ConfigError";
}

/** The Git server could not be reached or refused us; tried again with backoff. */
export class FetchError extends AgentError {
  override name = "FetchError";
  override readonly code = ErrorCode.ERROR_CODE_FETCH_FAILED;
  override readonly retryable = true;
  constructor(
    readonly repoUrl: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot fetch ${repoUrl}: ${reason}; will retry`, options);
  }
}

/**
 * The repository URL breaks the Git URL rules (scheme, a non-public address, a redirect, an
 * answer too large): terminal until the URL or the agent's allow-list changes.
 */
export class RepoUrlRefusedError extends AgentError {
  override name = "RepoUrlRefusedError";
  override readonly code = ErrorCode.ERROR_CODE_FETCH_FAILED;
}

/** The commit is not on the branch after a fetch: terminal for this generation. */
export class RevisionNotFoundError extends AgentError {
  override name = "RevisionNotFoundError";
  override readonly code = ErrorCode.ERROR_CODE_REVISION_NOT_FOUND;
  constructor(
    readonly repoUrl: string,
    readonly branch: string,
    readonly revision: string,
  ) {
    super(
      `commit ${revision} is not in ${repoUrl} after fetching branch ${branch}; check the revision was pushed to that branch`,
    );
  }
}

/** A path in the desired state or a chart option that leaves the repository. */
export class PathEscapeError extends AgentError {
  override name = "PathEscapeError";
  override readonly code = ErrorCode.ERROR_CODE_PATH_ESCAPE;
  constructor(readonly path: string) {
    super(`path ${JSON.stringify(path)} leaves the repository; use a path relative to the repository root`);
  }
}

/** A file that is not valid YAML/JSON, or a document that is not a Kubernetes object. */
export class ManifestError extends AgentError {
  override name = "ManifestError";
  override readonly code = ErrorCode.ERROR_CODE_INVALID_MANIFEST;
  constructor(
    readonly file: string,
    /** Zero-based index of the document inside a multi-document file. */
    readonly documentIndex: number,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${file} document ${documentIndex}: ${reason}`, options);
  }
}

/** `kustomize build` or `helm template` failed, or its binary is missing. */
export class RenderError extends AgentError {
  override name = "RenderError";
  override readonly code = ErrorCode.ERROR_CODE_RENDER_FAILED;
  constructor(
    readonly tool: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${tool} failed: ${reason}`, options);
  }
}

/**
 * A health rule of the desired state whose CEL does not compile; nothing was applied. The hub
 * checks rules when an app is saved, so this means a hub and agent of different versions.
 */
export class HealthRuleError extends AgentError {
  override name = "HealthRuleError";
  override readonly code = ErrorCode.ERROR_CODE_VALIDATION_FAILED;
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`${reason}; nothing applied: fix the rule in the app's healthChecks`, options);
  }
}

/** One render read or produced more than its limits allow (see `render-limits.ts`); terminal. */
export class RenderLimitError extends AgentError {
  override name = "RenderLimitError";
  override readonly code = ErrorCode.ERROR_CODE_RENDER_FAILED;
  constructor(
    /** Repository path where the limit was crossed. */
    readonly path: string,
    limit: string,
    why: string,
  ) {
    super(
      `render stopped at ${JSON.stringify(path || ".")}: ${limit}, the limit of one render (${why}); point the app at a smaller directory`,
    );
  }
}

/**
 * A kustomization names content rendering may not read: a URL (remote bases, generator files,
 * Helm inflation), or a path that is not a file or directory of the repository. Rendering reads
 * the repository alone, so the same commit always renders the same objects.
 */
export class RenderInputError extends AgentError {
  override name = "RenderInputError";
  override readonly code = ErrorCode.ERROR_CODE_RENDER_FAILED;
  constructor(
    /** The kustomization (or generator config) naming the input. */
    readonly file: string,
    /** Its field, e.g. `resources` or `configMapGenerator.files`. */
    readonly field: string,
    readonly entry: string,
    reason: string,
  ) {
    super(`${file}: ${field} entry ${JSON.stringify(entry)} ${reason}`);
  }
}

/** The server-side dry run refused one or more objects; nothing was applied. */
export class ValidationError extends AgentError {
  override name = "ValidationError";
  override readonly code = ErrorCode.ERROR_CODE_VALIDATION_FAILED;
  override readonly objects: ObjectFailure[];
  constructor(objects: ObjectFailure[]) {
    super(
      `${objects.length} object(s) failed validation, nothing applied: ${objects.map((o) => `${describeRef(o.ref)}: ${o.message}`).join("; ")}`,
    );
    this.objects = objects;
  }
}

/**
 * The plan refused objects (the team's policy, the agent's own namespace, another app's or an
 * unlabelled object, a kind not served); nothing was applied. Terminal for this generation. The
 * code says the gravest kind of refusal: policy, then ownership, then validation.
 */
export class RefusedError extends AgentError {
  override name = "RefusedError";
  override readonly code: ErrorCode;
  override readonly objects: ObjectFailure[];
  constructor(
    objects: ObjectFailure[],
    /** Which kinds of rule were broken. */
    readonly kinds: { policy: boolean; ownership: boolean },
  ) {
    super(
      `${objects.length} object(s) refused, nothing applied: ${objects.map((o) => `${describeRef(o.ref)}: ${o.message}`).join("; ")}`,
    );
    this.objects = objects;
    this.code = kinds.policy
      ? ErrorCode.ERROR_CODE_POLICY_VIOLATION
      : kinds.ownership
        ? ErrorCode.ERROR_CODE_OWNERSHIP_CONFLICT
        : ErrorCode.ERROR_CODE_VALIDATION_FAILED;
  }
}

/** Apply failed after a clean dry run (admission, conflict, API server down). */
export class ApplyError extends AgentError {
  override name = "ApplyError";
  override readonly code = ErrorCode.ERROR_CODE_APPLY_FAILED;
  override readonly retryable = true;
  override readonly objects: ObjectFailure[];
  constructor(objects: ObjectFailure[]) {
    super(
      `${objects.length} object(s) failed to apply: ${objects.map((o) => `${describeRef(o.ref)}: ${o.message}`).join("; ")}`,
    );
    this.objects = objects;
  }
}

/** Deleting objects the new revision dropped failed; retried on the next reconcile. */
export class PruneError extends AgentError {
  override name = "PruneError";
  override readonly code = ErrorCode.ERROR_CODE_PRUNE_FAILED;
  override readonly retryable = true;
  override readonly objects: ObjectFailure[];
  constructor(objects: ObjectFailure[]) {
    super(
      `${objects.length} object(s) could not be pruned: ${objects.map((o) => `${describeRef(o.ref)}: ${o.message}`).join("; ")}`,
    );
    this.objects = objects;
  }
}

/** An HTTP error from the Kubernetes API server, with its Status reason and message. */
export class KubeApiError extends AgentError {
  override name = "KubeApiError";
  constructor(
    readonly status: number,
    /** The Status `reason` (NotFound, Invalid, Conflict...) or empty. */
    readonly reason: string,
    readonly apiMessage: string,
    readonly method: string,
    readonly path: string,
  ) {
    super(`${method} ${path}: ${status} ${reason}: ${apiMessage}`);
    this.retryable = status === 0 || status === 429 || status >= 500;
  }

  /** Server errors, throttling and lost connections (status 0) are worth retrying; 4xx answers are not. */
  override readonly retryable: boolean;
}

/**
 * A kubeconfig user's exec credential plugin failed or printed no usable credential. A request
 * that needed it fails like one the API server never answered (status 0): retried with backoff,
 * since cloud CLIs fail for a moment when their own token service does. The message never
 * holds the plugin's output (see exec-credential.ts).
 */
export class ExecPluginError extends KubeApiError {
  override name = "ExecPluginError";
  constructor(
    readonly command: string,
    reason: string,
  ) {
    super(0, "ExecPluginFailed", `exec plugin ${command} failed: ${reason}`, "", "");
    this.message = this.apiMessage;
  }
}

/** A kind the API server does not serve (no REST mapping). */
export class UnknownKindError extends AgentError {
  override name = "UnknownKindError";
  constructor(
    readonly apiVersion: string,
    readonly kind: string,
  ) {
    super(`the API server does not serve kind ${kind} in ${apiVersion}; install its CRD or fix apiVersion/kind`);
  }
}

/** `Kind namespace/name` (or `Kind name`), the way operators write it. */
export function describeRef(ref: ObjectRefInit): string {
  return ref.namespace ? `${ref.kind ?? ""} ${ref.namespace}/${ref.name ?? ""}` : `${ref.kind ?? ""} ${ref.name ?? ""}`;
}
