/**
 * The dashboard's live state: a snapshot read from the API, kept current by the hub's event
 * stream. Each cell and each cluster row is its own signal, so an event re-renders what it
 * changed and nothing else; events are applied in batches, one per animation frame. When the
 * stream drops, it reconnects and reads the snapshot again, so nothing missed meanwhile stays
 * missed (the hub's stream has no replay).
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
} from "./model.js";

/** Where the event stream stands. */
export type Connection = "connecting" | "live" | "reconnecting";

/** Pause before reconnecting a stream the browser gave up on. */
const RECONNECT_MS = 2_000;
/** Registry and rollout events come in bursts; the lists are read again once per burst. */
const RELOAD_DEBOUNCE_MS = 400;

/** The event types the dashboard listens to. */
const EVENT_TYPES: readonly HubEvent["type"][] = [
  "report",
  "heartbeat",
  "desired",
  "cluster-state",
  "registry",
  "rollout",
];

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
  /** Counts once per applied batch, so the counts at the top follow without a pass per event. */
  readonly revision = signal(0);
  /** Events applied since the page loaded (the benchmark reads it). */
  readonly applied = signal(0);
  /** Time now, ticking each second, for ages and countdowns. */
  readonly now = signal(Date.now());

  private readonly rows = new Map<string, Signal<ClusterRow>>();
  private readonly cells = new Map<string, Signal<Cell>>();
  private readonly rolloutListeners = new Set<(rolloutId: string) => void>();
  private queue: HubEvent[] = [];
  private flushing = false;
  private source: EventSource | undefined;
  private everLive = false;
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
          if (s) s.value = row;
          else this.rows.set(item.name, signal(row));
        }
        const present = new Set(names);
        for (const name of [...this.rows.keys()]) if (!present.has(name)) this.rows.delete(name);
        for (const status of statuses) {
          for (const a of status.clusters) this.cell(a.cluster, a.app).value = cellOf(a);
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
  enqueue(e: HubEvent): void {
    this.queue.push(e);
    if (this.flushing) return;
    this.flushing = true;
    const flush = () => {
      const events = this.queue;
      this.queue = [];
      this.flushing = false;
      batch(() => {
        for (const e of events) this.apply(e);
        this.applied.value += events.length;
        this.revision.value++;
      });
    };
    // A hidden tab gets no animation frames; its events still apply.
    if (typeof document !== "undefined" && document.visibilityState === "visible") requestAnimationFrame(flush);
    else this.timers.push(setTimeout(flush, 100));
  }

  /** Opens the event stream; on a drop it reconnects and reads the snapshot again. */
  connect(): void {
    this.clock ??= setInterval(() => {
      this.now.value = Date.now();
    }, 1_000);
    this.source?.close();
    const source = new EventSource("/v1/events");
    this.source = source;
    this.connection.value = this.everLive ? "reconnecting" : "connecting";
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (m) => {
        this.enqueue(JSON.parse((m as MessageEvent<string>).data) as HubEvent);
      });
    }
    source.onopen = () => {
      const resumed = this.everLive;
      this.everLive = true;
      this.connection.value = "live";
      // What happened while the stream was down is only in the snapshot.
      if (resumed) void this.load();
    };
    source.onerror = () => {
      if (this.source !== source) return;
      this.connection.value = "reconnecting";
      if (source.readyState === EventSource.CLOSED) {
        // The browser gives up on an answer other than 200 (401 after revocation, 429): ask why.
        this.timers.push(
          setTimeout(async () => {
            try {
              await hub.whoami();
              if (this.source === source) this.connect();
            } catch (err) {
              this.fail(err);
            }
          }, RECONNECT_MS),
        );
      }
    };
  }

  /** Stops the stream and every timer. */
  close(): void {
    this.source?.close();
    this.source = undefined;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    if (this.clock) clearInterval(this.clock);
    this.clock = undefined;
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
