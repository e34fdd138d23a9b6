/**
 * Every error the harness throws. Each names what failed and what to do, and keeps the fields
 * a caller needs to act on it.
 */
import type { FixtureTool } from "./fixtures.js";

/** Thrown when a fixture binary has not been built; says which command builds it. */
export class FixtureMissingError extends Error {
  override name = "FixtureMissingError";
  constructor(
    readonly tool: FixtureTool,
    readonly path: string,
  ) {
    super(`${tool} is not built (looked at ${path}); run ./scripts/fixtures.sh first`);
  }
}

/** The processes a test cluster runs. */
export type Component = "etcd" | "kube-apiserver" | "kube-controller-manager" | "kube-scheduler" | "kwok";

/**
 * A cluster did not come up. Everything it had started has been stopped and its
 * directory removed before this is thrown; `logTail` keeps the end of the log of
 * the component at fault, since the log file itself is gone by then.
 */
export class ClusterStartError extends Error {
  override name = "ClusterStartError";
  constructor(
    readonly cluster: string,
    readonly component: Component | undefined,
    readonly logTail: string,
    options: { cause: unknown },
  ) {
    const where = component === undefined ? "" : ` (${component})`;
    const detail = options.cause instanceof Error ? options.cause.message : String(options.cause);
    const tail = logTail === "" ? "" : `\n--- last lines of the ${component} log ---\n${logTail}`;
    super(`cluster ${cluster} failed to start${where}: ${detail}${tail}`, options);
  }
}

/** A component exited while the cluster was starting or running. */
export class ComponentExitedError extends Error {
  override name = "ComponentExitedError";
  constructor(
    readonly component: Component,
    readonly code: number | null,
    readonly signal: NodeJS.Signals | null,
  ) {
    const how = signal === null ? `with code ${code}` : `on ${signal}`;
    super(`${component} exited ${how}; its log says why`);
  }
}

/** Something the cluster start waits for did not happen in time. */
export class ReadinessTimeoutError extends Error {
  override name = "ReadinessTimeoutError";
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
    options?: { cause: unknown },
  ) {
    const last = options?.cause instanceof Error ? ` (last error: ${options.cause.message})` : "";
    super(
      `timed out after ${timeoutMs} ms waiting for ${what}${last}; ` +
        "the machine may be overloaded: raise startTimeoutMs or start fewer clusters at once",
      options,
    );
  }
}

/** Several clusters were asked for and at least one failed; the others were stopped. */
export class ClustersStartError extends AggregateError {
  override name = "ClustersStartError";
  constructor(readonly failures: readonly ClusterStartError[]) {
    super(failures, failures.map((f) => f.message).join("\n\n"));
  }
}

/** A call to the hub's API answered with a status other than the one expected. */
export class HubRequestError extends Error {
  override name = "HubRequestError";
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`${method} ${path} answered ${status}: ${body.slice(0, 500)}`);
  }
}

/**
 * A Flotilla program the harness runs (the hub, an agent) did not come up: it exited, or did
 * not answer in time. The process has been stopped; `logTail` keeps the end of its log.
 */
export class ProgramStartError extends Error {
  override name = "ProgramStartError";
  constructor(
    readonly program: string,
    readonly logTail: string,
    options: { cause: unknown },
  ) {
    const detail = options.cause instanceof Error ? options.cause.message : String(options.cause);
    super(`${program} failed to start: ${detail}\n--- last lines of its log ---\n${logTail}`, options);
  }
}

/**
 * A fleet could not be assembled, or an option asks for something it cannot do; what had
 * started has been stopped. The message says which part and where its log is.
 */
export class FleetError extends Error {
  override name = "FleetError";
}
