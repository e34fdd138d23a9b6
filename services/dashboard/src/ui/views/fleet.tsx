import { useComputed, useSignal } from "@preact/signals";
import {
  ago,
  type CellState,
  cellState,
  countOf,
  type Filters,
  labelPredicate,
  NO_FILTERS,
  shortSha,
} from "../model.js";
import { href } from "../route.js";
import type { FleetStore } from "../store.js";
import { useVirtualRows } from "./virtual.js";

const STATE_WORDS: Record<CellState, string> = {
  current: "synced",
  progressing: "progressing",
  failed: "failed",
  drifted: "drifted",
  degraded: "degraded",
  offline: "offline",
  none: "not deployed",
};

/** A report older than this is shown as stale. */
const STALE_MS = 5 * 60_000;
/** A matrix row's height in CSS pixels (styles.css: `.matrix tbody tr`), before it is measured. */
const ROW_PX = 38;

/** One (cluster, app): the running revision, where it is going, and how it is. */
function MatrixCell(props: { store: FleetStore; cluster: string; app: string }) {
  const { store, cluster, app } = props;
  const cell = store.cell(cluster, app).value;
  const clusterState = store.row(cluster)?.value.state ?? "Pending";
  const state = cellState(cell, clusterState);
  const running = cell.report?.revision;
  const wanted = cell.desired?.revision;
  const commit = store.commits.value.get(wanted ?? running ?? "");
  const now = Date.now();
  const stale = cell.report !== null && now - cell.report.receivedAtMs > STALE_MS;
  const title = [
    commit ? `${shortSha(wanted ?? running)}: ${commit.message.split("\n")[0]}` : undefined,
    cell.report
      ? `sync ${cell.report.phase}, health ${cell.report.health}, reported ${ago(now, cell.report.receivedAtMs)}`
      : "no report yet",
    cell.desired ? `generation ${cell.desired.generation} published ${ago(now, cell.desired.publishedAtMs)}` : "",
  ]
    .filter(Boolean)
    .join("\n");
  return (
    <td
      class={`cell s-${state}${stale ? " stale" : ""}`}
      data-cell={`${cluster}/${app}`}
      data-state={state}
      data-revision={running ?? ""}
      data-desired={wanted ?? ""}
      title={title}
    >
      <span class="sha">{shortSha(running)}</span>
      {wanted && wanted !== running && <span class="to"> → {shortSha(wanted)}</span>}
      <span class="word">{STATE_WORDS[state]}</span>
      {stale && <span class="word">stale</span>}
    </td>
  );
}

function ClusterHeader(props: { store: FleetStore; name: string }) {
  const row = props.store.row(props.name)?.value;
  const age = useComputed(() => ago(props.store.now.value, props.store.row(props.name)?.value.lastHeartbeatMs));
  if (!row) return null;
  return (
    <>
      <th scope="row">
        <a href={href.cluster(row.name)}>{row.name}</a>
      </th>
      <td class={`cstate c-${row.state}`} data-cluster-state={row.state}>
        {row.state}
      </td>
      <td class="age">{age}</td>
    </>
  );
}

function EnvironmentTable(props: {
  store: FleetStore;
  environment: string;
  clusters: string[];
  apps: string[];
  state: Filters["state"];
}) {
  const { store, environment, apps, state } = props;
  // Filtering by state reads every cell: once per counted batch, not once per event.
  if (state) store.revision.value;
  const clusters = state
    ? props.clusters.filter((c) =>
        apps.some((a) => cellState(store.cell(c, a).peek(), store.row(c)?.peek().state ?? "Pending") === state),
      )
    : props.clusters;
  const { box, rows } = useVirtualRows(clusters.length, ROW_PX);
  const shown = rows.getVirtualItems();
  const before = shown[0]?.start ?? 0;
  const after = rows.getTotalSize() - (shown[shown.length - 1]?.end ?? 0);
  const spacer = (px: number) =>
    px > 0 && (
      <tr class="spacer" style={{ height: `${px}px` }}>
        <td colSpan={3 + apps.length} />
      </tr>
    );
  const title = environment || "no environment";
  return (
    <section aria-labelledby={`env-${environment}`} data-environment={environment}>
      <h2 id={`env-${environment}`}>
        {title} <span class="muted">({clusters.length} clusters)</span>
      </h2>
      <div class="scroll" ref={box}>
        <table class="matrix" aria-rowcount={clusters.length + 1}>
          <caption class="sr-only">Apps by cluster in environment {title}: running revision, sync and health</caption>
          <thead>
            <tr aria-rowindex={1}>
              <th scope="col">Cluster</th>
              <th scope="col">State</th>
              <th scope="col">Heartbeat</th>
              {apps.map((a) => (
                <th scope="col" key={a}>
                  <a href={href.app(a)}>{a}</a>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {spacer(before)}
            {shown.map((v) => {
              const c = clusters[v.index] as string;
              return (
                <tr key={c} data-cluster={c} data-index={v.index} aria-rowindex={v.index + 2} ref={rows.measureElement}>
                  <ClusterHeader store={store} name={c} />
                  {apps.map((a) => (
                    <MatrixCell key={a} store={store} cluster={c} app={a} />
                  ))}
                </tr>
              );
            })}
            {spacer(after)}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Counts(props: { store: FleetStore }) {
  const { store } = props;
  store.revision.value; // counts follow each applied batch of events
  const counts = countOf(store.allRows(), store.allCells());
  const inFlight = store.rollouts.value.filter((r) => ["Pending", "Progressing", "Paused"].includes(r.state)).length;
  const item = (label: string, n: number, key: string) => (
    <div class="count" data-count={key}>
      <dt>{label}</dt>
      <dd>{n}</dd>
    </div>
  );
  return (
    <dl class="counts" aria-label="Fleet counts">
      {item("clusters ready", counts.clusters.Ready ?? 0, "ready")}
      {item("offline", counts.clusters.Offline ?? 0, "offline")}
      {item("pending", counts.clusters.Pending ?? 0, "pending")}
      {item("apps synced", counts.cells.current, "current")}
      {item("progressing", counts.cells.progressing, "progressing")}
      {item("failed", counts.cells.failed, "failed")}
      {item("drifted", counts.cells.drifted, "drifted")}
      {item("degraded", counts.cells.degraded, "degraded")}
      {item("rollouts in flight", inFlight, "rollouts")}
    </dl>
  );
}

/** Environments × clusters × apps, with filters and counts, live. */
export function FleetView(props: { store: FleetStore }) {
  const { store } = props;
  const filters = useSignal<Filters>(NO_FILTERS);
  const f = filters.value;
  const set = (patch: Partial<Filters>) => {
    filters.value = { ...filters.value, ...patch };
  };
  if (!store.loaded.value) return <p aria-busy="true">Loading the fleet…</p>;

  const teamOfApp = store.teamOfApp.value;
  const teams = [...new Set(teamOfApp.values())].filter(Boolean).sort();
  const apps = store.apps.value
    .map((a) => a.name)
    .filter((a) => !f.team || teamOfApp.get(a) === f.team)
    .sort();
  const labelOk = labelPredicate(f.label);
  const byEnv = new Map<string, string[]>();
  for (const name of store.clusterNames.value) {
    const row = store.row(name)?.peek();
    if (!row || !labelOk(row.labels)) continue;
    if (f.environment && row.environment !== f.environment) continue;
    const list = byEnv.get(row.environment);
    if (list) list.push(name);
    else byEnv.set(row.environment, [name]);
  }
  const environments = [...new Set(store.clusterNames.value.map((n) => store.row(n)?.peek().environment ?? ""))].sort();

  return (
    <>
      <h1>Fleet</h1>
      <Counts store={store} />
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        <label>
          Team
          <select value={f.team} onChange={(e) => set({ team: e.currentTarget.value })}>
            <option value="">any</option>
            {teams.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
        <label>
          Environment
          <select value={f.environment} onChange={(e) => set({ environment: e.currentTarget.value })}>
            <option value="">any</option>
            {environments.map((e) => (
              <option key={e} value={e}>
                {e || "(none)"}
              </option>
            ))}
          </select>
        </label>
        <label>
          Labels
          <input
            type="text"
            value={f.label}
            placeholder="tier=canary,region!=eu"
            onInput={(e) => set({ label: e.currentTarget.value })}
          />
        </label>
        <label>
          State
          <select value={f.state} onChange={(e) => set({ state: e.currentTarget.value as Filters["state"] })}>
            <option value="">any</option>
            {(Object.keys(STATE_WORDS) as CellState[]).map((s) => (
              <option key={s} value={s}>
                {STATE_WORDS[s]}
              </option>
            ))}
          </select>
        </label>
      </form>
      {apps.length === 0 && <p>No apps to show: none is registered, or the token's team owns none.</p>}
      {[...byEnv.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([env, clusters]) => (
          <EnvironmentTable key={env} store={store} environment={env} clusters={clusters} apps={apps} state={f.state} />
        ))}
    </>
  );
}
