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
