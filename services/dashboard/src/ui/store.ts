/**
 * The dashboard's live state: a snapshot read from the API, kept current by the hub's event
 * stream. Each cell and each cluster row is its own signal, so an event re-renders what it
 * changed and nothing else (and only if it is on screen: the matrix renders the rows in view);
 * events are applied in batches, one per animation frame, and the counts follow at most a few
 * times a second. When the stream drops, the page opens it again with the id of the last event
 * it got as `Last-Event-ID`, and the hub replays what came after: nothing is missed and nothing
 * is read again. Only when the hub says the replay is incomplete (the log was trimmed) or has no
 * id to resume from is the snapshot read again.
 */
import type { App, CommitInfo, HubEvent, Identity, RolloutSummary } from "@flotilla/api";
import { batch, type Signal, signal } from "@preact/signals";
import { HubRequestError, hub } from "./api.js";
import {
  type Cell,
  type ClusterRow,
  cellKey,
  cellOf,
  emptyCell,
  rowOf,
  withClusterState,
  withDesired,
  withHeartbeat,
  withReport,
  withSnapshot,
} from "./model.js";
import { readEventStream, replayIncomplete, retryDelayMs } from "./stream.js";

/** Where the event stream stands. */
export type Connection = "connecting" | "live" | "reconnecting";

/** Registry and rollout events come in bursts; the lists are read again once per burst. */
const RELOAD_DEBOUNCE_MS = 400;
/** The counts at the top walk every cell: they follow the events at most this often. */
const COUNTS_EVERY_MS = 250;

/** The event types the dashboard listens to. */
const EVENT_TYPES: readonly string[] = ["report", "heartbeat", "desired", "cluster-state", "registry", "rollout"];

export class FleetStore {
  readonly identity = signal<Identity | null>(null);
  readonly connection = signal<Connection>("connecting");
  readonly loaded = signal(false);
  readonly error = signal<string | null>(null);
  /** Cluster names in order; changes only when clusters come or go. */
  readonly clusterNames = signal<string[]>([]);
  readonly apps = signal<App[]>([]);
  readonly teamOfApp = signal<Map<string, string>>(new Map());
  readonly rollouts = signal<RolloutSummary[]>([]);
  readonly commits = signal<Map<string, CommitInfo>>(new Map());
  /** Counts applied batches, at most every {@link COUNTS_EVERY_MS}: the counts at the top follow it. */
  readonly revision = signal(0);
  /** Events applied since the page loaded (shown as `data-events` on the stream's status). */
  readonly applied = signal(0);
  /** Id of the last event applied (`data-last-event`): with `applied`, what a test compares with the hub's log. */
  readonly appliedId = signal<string | undefined>(undefined);
  /** Times the stream was opened again after a drop, each resumed with `Last-Event-ID` when an id was known. */
  readonly reconnects = signal(0);
  /** Id of the last event received: where a stream opened again resumes. */
  lastEventId: string | undefined;
  /** Time now, ticking each second, for ages and countdowns. */
  readonly now = signal(Date.now());

  private readonly rows = new Map<string, Signal<ClusterRow>>();
  private readonly cells = new Map<string, Signal<Cell>>();
  private readonly rolloutListeners = new Set<(rolloutId: string) => void>();
  private queue: HubEvent[] = [];
  private queuedId: string | undefined;
  private flushing = false;
  private stream: AbortController | undefined;
  private revisionTimer: ReturnType<typeof setTimeout> | undefined;
  private timers: ReturnType<typeof setTimeout>[] = [];
  private reloadTimer: ReturnType<typeof setTimeout> | undefined;
  private rolloutsTimer: ReturnType<typeof setTimeout> | undefined;
  private clock: ReturnType<typeof setInterval> | undefined;

  row(name: string): Signal<ClusterRow> | undefined {
    return this.rows.get(name);
  }

  cell(cluster: string, app: string): Signal<Cell> {
    const key = cellKey(cluster, app);
    let s = this.cells.get(key);
    if (!s) {
      s = signal(emptyCell(cluster, app));
      this.cells.set(key, s);
    }
    return s;
  }

  allRows(): ClusterRow[] {
    return this.clusterNames.value.flatMap((n) => {
      const r = this.rows.get(n);
      return r ? [r.peek()] : [];
    });
  }

  allCells(): Cell[] {
    return [...this.cells.values()].map((s) => s.peek());
  }

  /** Calls `listener` with a rollout's id whenever an event about it arrives; returns the unsubscribe. */
  onRollout(listener: (rolloutId: string) => void): () => void {
    this.rolloutListeners.add(listener);
    return () => this.rolloutListeners.delete(listener);
  }

  /** Reads clusters, apps, their teams, their cells and the rollouts, and puts them in place. */
  async load(): Promise<void> {
    try {
      const [clusters, apps, repos, rollouts] = await Promise.all([
        hub.clusters(),
        hub.apps(),
        hub.repos(),
        hub.rollouts(),
      ]);
      const statuses = await Promise.all(apps.items.map((a) => hub.appStatus(a.name)));
      const teamOfRepo = new Map(repos.items.map((r) => [r.name, r.team]));
      batch(() => {
        const names: string[] = [];
        for (const item of clusters) {
          names.push(item.name);
          const row = rowOf(item);
          const s = this.rows.get(item.name);
          if (s) {
            const held = s.peek().lastHeartbeatMs ?? 0;
            s.value = held > (row.lastHeartbeatMs ?? 0) ? { ...row, lastHeartbeatMs: held } : row;
          } else this.rows.set(item.name, signal(row));
        }
        const present = new Set(names);
        for (const name of [...this.rows.keys()]) if (!present.has(name)) this.rows.delete(name);
        for (const status of statuses) {
          for (const a of status.clusters) {
            const s = this.cell(a.cluster, a.app);
            s.value = withSnapshot(s.peek(), cellOf(a));
          }
        }
        this.clusterNames.value = names;
        this.apps.value = apps.items;
        this.teamOfApp.value = new Map(apps.items.map((a) => [a.name, teamOfRepo.get(a.repo) ?? ""]));
        this.setRollouts(rollouts.items);
        this.revision.value++;
        this.loaded.value = true;
        this.error.value = null;
      });
    } catch (err) {
      this.fail(err);
    }
  }

  /** Applies one event now (the stream's events go through {@link enqueue}). */
  apply(e: HubEvent): void {
    switch (e.type) {
      case "report": {
        const s = this.cell(e.cluster, e.app);
        s.value = withReport(s.peek(), e);
        break;
      }
      case "desired": {
        const s = this.cell(e.cluster, e.app);
        s.value = withDesired(s.peek(), e);
        break;
      }
      case "heartbeat": {
        const s = this.rows.get(e.cluster);
        if (s) s.value = withHeartbeat(s.peek(), e);
        else this.reloadSoon();
        break;
      }
      case "cluster-state": {
        const s = this.rows.get(e.cluster);
        if (s) s.value = withClusterState(s.peek(), e);
        else this.reloadSoon();
        break;
      }
      case "registry":
        this.reloadSoon();
        break;
      case "rollout":
        this.rolloutsSoon();
        for (const l of this.rolloutListeners) l(e.rolloutId);
        break;
    }
  }

  /** Queues an event to be applied with the others of this animation frame. */
  enqueue(e: HubEvent, id?: string): void {
    this.queue.push(e);
    if (id !== undefined) this.queuedId = id;
    if (this.flushing) return;
    this.flushing = true;
    const flush = () => {
      const events = this.queue;
      const lastId = this.queuedId;
      this.queue = [];
      this.flushing = false;
      batch(() => {
        for (const e of events) this.apply(e);
        this.applied.value += events.length;
        this.appliedId.value = lastId;
      });
      this.countsSoon();
    };
    // A hidden tab gets no animation frames; its events still apply.
    if (typeof document !== "undefined" && document.visibilityState === "visible") requestAnimationFrame(flush);
    else this.timers.push(setTimeout(flush, 100));
  }

  /**
   * Opens the event stream and keeps it open: after a drop it opens it again (0.5 s, doubling to
   * 8 s) with `Last-Event-ID`, showing "reconnecting" meanwhile.
   */
  connect(): void {
    this.clock ??= setInterval(() => {
      this.now.value = Date.now();
    }, 1_000);
    this.stream?.abort();
    const stream = new AbortController();
    this.stream = stream;
    void this.run(stream);
  }

  /** Opens the stream now if it is not open (the page calls it when the network comes back). */
  reconnectNow(): void {
    if (this.stream && this.connection.peek() !== "live") this.connect();
  }

  private async run(stream: AbortController): Promise<void> {
    let attempt = 0;
    let opened = false;
    while (!stream.signal.aborted) {
      const resumeFrom = this.lastEventId;
      this.connection.value = opened ? "reconnecting" : this.connection.peek();
      const end = await readEventStream(
        resumeFrom,
        {
          onOpen: () => {
            attempt = 0;
            this.connection.value = "live";
            if (opened) this.reconnects.value++;
            // A stream opened again without an id to resume from missed what happened meanwhile.
            if (opened && resumeFrom === undefined) void this.load();
            opened = true;
          },
          onEvent: (type, id, data) => {
            if (id) this.lastEventId = id;
            if (EVENT_TYPES.includes(type)) this.enqueue(JSON.parse(data) as HubEvent, id);
          },
          onComment: (text) => {
            if (replayIncomplete(text)) void this.load();
          },
        },
        stream.signal,
      );
      if (end.kind === "closed" || stream.signal.aborted) return;
      if (end.kind === "refused") {
        if (end.status === 401) {
          this.fail(new HubRequestError(401, "unauthorized", "the session ended"));
          return;
        }
        // 400: the id is not one of this hub's (another hub behind the same address): start over.
        if (end.status === 400 && resumeFrom !== undefined) this.lastEventId = undefined;
      }
      opened = true;
      this.connection.value = "reconnecting";
      await new Promise<void>((resolve) => {
        const stop = () => {
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(() => {
          stream.signal.removeEventListener("abort", stop);
          resolve();
        }, retryDelayMs(attempt++));
        stream.signal.addEventListener("abort", stop, { once: true });
      });
    }
  }

  /** Stops the stream and every timer. */
  close(): void {
    this.stream?.abort();
    this.stream = undefined;
    // A flush waiting on a cleared timer would never run: the next event schedules one again.
    this.flushing = false;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    clearTimeout(this.revisionTimer);
    this.revisionTimer = undefined;
    if (this.clock) clearInterval(this.clock);
    this.clock = undefined;
  }

  private countsSoon(): void {
    if (this.revisionTimer !== undefined) return;
    this.revisionTimer = setTimeout(() => {
      this.revisionTimer = undefined;
      this.revision.value++;
    }, COUNTS_EVERY_MS);
  }

  private setRollouts(items: RolloutSummary[]): void {
    this.rollouts.value = items;
    const commits = new Map<string, CommitInfo>();
    for (const r of items) if (r.commit && !commits.has(r.to.revision)) commits.set(r.to.revision, r.commit);
    this.commits.value = commits;
  }

  private reloadSoon(): void {
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => void this.load(), RELOAD_DEBOUNCE_MS);
  }

  private rolloutsSoon(): void {
    clearTimeout(this.rolloutsTimer);
    this.rolloutsTimer = setTimeout(async () => {
      try {
        this.setRollouts((await hub.rollouts()).items);
      } catch (err) {
        this.fail(err);
      }
    }, RELOAD_DEBOUNCE_MS);
  }

  private fail(err: unknown): void {
    if (err instanceof HubRequestError && err.status === 401) {
      this.close();
      this.identity.value = null;
      this.error.value = "The session ended (the token expired or was revoked): log in again.";
      return;
    }
    this.error.value = err instanceof Error ? err.message : String(err);
  }
}
