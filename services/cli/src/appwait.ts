/**
 * `app wait`: polls `GET /v1/apps/:app/status` until every cluster the app is published to
 * reports the generation and revision last published, synced (and with `--health`, healthy),
 * or the timeout passes. The verdict is a pure function of one status read, tested by table.
 */
import type { AppStatus } from "@flotilla/api";
import { apiPath, type HubClient } from "./client.js";
import { CliError } from "./errors.js";

/** How often the app's status is read: 1 s. */
export const DEFAULT_APP_WAIT_INTERVAL_MS = 1_000;

/** Whether an app is where `app wait` waits for it, and if not, which clusters hold it up and why. */
export interface AppWaitVerdict {
  done: boolean;
  /** `cluster: why`, one per cluster still waited for. */
  waiting: string[];
}

/** The verdict on one status read. An app published nowhere yet is not done: nothing runs it. */
export function appWaitVerdict(status: AppStatus, o: { health: boolean }): AppWaitVerdict {
  const rows = status.clusters.filter((r) => r.desired !== null);
  if (rows.length === 0) return { done: false, waiting: ["no cluster has a desired state of this app yet"] };
  const waiting: string[] = [];
  for (const r of rows) {
    const report = r.report;
    if (!report) waiting.push(`${r.cluster}: no report yet`);
    else if (!r.current)
      waiting.push(`${r.cluster}: reports generation ${report.observedGeneration}, not the last published`);
    else if (report.phase !== "synced") waiting.push(`${r.cluster}: ${report.phase}`);
    else if (o.health && report.health !== "healthy") waiting.push(`${r.cluster}: ${report.health}`);
  }
  return { done: waiting.length === 0, waiting };
}

/** `app wait` gave up: the app did not get there in time. */
export class AppWaitTimeoutError extends CliError {
  override name = "AppWaitTimeoutError";
  constructor(
    readonly app: string,
    readonly timeoutMs: number,
    readonly waiting: readonly string[],
  ) {
    super(`app ${app} not ready after ${timeoutMs / 1000}s: ${waiting.join("; ")}`);
  }
}

export interface AppWaitOptions {
  health: boolean;
  timeoutMs: number;
  intervalMs: number;
  now: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** Resolves with the status that satisfied the wait; throws AppWaitTimeoutError (exit 1) on timeout. */
export async function waitForApp(client: HubClient, app: string, o: AppWaitOptions): Promise<AppStatus> {
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((res) => setTimeout(res, ms)));
  const deadline = o.now() + o.timeoutMs;
  for (;;) {
    const status = await client.get<AppStatus>(apiPath`/v1/apps/${app}/status`);
    const verdict = appWaitVerdict(status, o);
    if (verdict.done) return status;
    if (o.now() >= deadline) throw new AppWaitTimeoutError(app, o.timeoutMs, verdict.waiting);
    await sleep(Math.min(o.intervalMs, Math.max(0, deadline - o.now())));
  }
}
