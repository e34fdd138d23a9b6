/**
 * Which status keys a cluster's NATS user is granted: `<cluster>.<app>` for each app assigned to
 * it, so the keys a stolen credential can fill are exactly the cluster's apps. The hub mints and
 * renews every cluster user with {@link StatusGrants.grantFor}; an agent that holds a desired
 * state for an app its JWT does not grant asks for a renewal naming that app (nats/creds.ts).
 *
 * An app is assigned while the hub has a desired record for it, and, after its removal was
 * published, until the agent's report says it removed it (else the agent could not say so). An
 * app the agent asks for without a record yet is granted when the desired bucket holds a value
 * for its key: the publisher writes the bucket before Redis, and the agent sees the bucket first.
 */
import { isDnsLabel, SyncPhase, stateKey, syncPhaseName } from "@flotilla/proto";
import type { KV } from "nats";
import type { DesiredRecord, DesiredStore, ReportRecord, ReportStore } from "../store.js";

/** What a cluster's user may write. */
export interface StatusGrant {
  /** Apps whose status keys the user may write, sorted. */
  apps: string[];
  /** Apps the agent asked for that are not assigned to the cluster, sorted. */
  notAssigned: string[];
}

/** The grant of one cluster now; `asked` are the apps its agent says it needs. */
export interface StatusGrants {
  grantFor(cluster: string, asked?: readonly string[]): Promise<StatusGrant>;
}

/** Most apps of one request the hub looks up in the bucket (the agent names at most 64). */
export const MAX_ASKED_APPS = 256;

const REMOVED = syncPhaseName(SyncPhase.SYNC_PHASE_REMOVED);

/** Whether the agent has yet to report the removal `record` published (so it still needs the key). */
export function removalPending(record: DesiredRecord, report: ReportRecord | undefined): boolean {
  return !(report && report.phase === REMOVED && report.observedGeneration >= record.generation);
}

/**
 * The pure rule. `records` are the cluster's desired records, `reports` the reports of its
 * removed apps, `inBucket` the asked apps without a record whose desired key holds a value.
 */
export function grantOf(input: {
  records: readonly DesiredRecord[];
  reports: ReadonlyMap<string, ReportRecord | undefined>;
  asked: readonly string[];
  inBucket: ReadonlySet<string>;
}): StatusGrant {
  const apps = new Set<string>();
  for (const r of input.records) {
    if (!r.removed || removalPending(r, input.reports.get(r.app))) apps.add(r.app);
  }
  for (const app of input.inBucket) apps.add(app);
  const notAssigned = [...new Set(input.asked)].filter((app) => !apps.has(app));
  return { apps: [...apps].sort(), notAssigned: notAssigned.sort() };
}

/** The apps of `asked` without a desired record, to look up in the bucket: valid names only, bounded. */
export function toLookUp(records: readonly DesiredRecord[], asked: readonly string[]): string[] {
  const known = new Set(records.map((r) => r.app));
  return [...new Set(asked)].filter((app) => isDnsLabel(app) && !known.has(app)).slice(0, MAX_ASKED_APPS);
}

/** {@link StatusGrants} over the hub's stores and the desired bucket: two or three round trips. */
export class StoreStatusGrants implements StatusGrants {
  constructor(
    private readonly o: {
      desired: Pick<DesiredStore, "listDesired">;
      reports: Pick<ReportStore, "getReports">;
      desiredKv: Pick<KV, "get">;
    },
  ) {}

  async grantFor(cluster: string, asked: readonly string[] = []): Promise<StatusGrant> {
    const records = await this.o.desired.listDesired({ cluster });
    const removed = records.filter((r) => r.removed);
    const lookUp = toLookUp(records, asked);
    const [reports, entries] = await Promise.all([
      removed.length > 0
        ? this.o.reports.getReports(removed.map((r) => ({ cluster, app: r.app })))
        : Promise.resolve([]),
      Promise.all(lookUp.map((app) => this.o.desiredKv.get(stateKey(cluster, app)))),
    ]);
    return grantOf({
      records,
      reports: new Map(removed.map((r, i) => [r.app, reports[i]])),
      asked,
      inBucket: new Set(lookUp.filter((_, i) => entries[i]?.operation === "PUT")),
    });
  }
}
