import type { AppRefresh, AppStatus, RolloutView } from "@flotilla/api";
import { useSignal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { hub } from "../api.js";
import { duration, shortSha } from "../model.js";
import { mayRefresh, REFRESH_TEXT } from "../permissions.js";
import { href } from "../route.js";
import type { FleetStore } from "../store.js";
import { Confirm } from "./confirm.js";
import { Failure } from "./notice.js";

/** How many of an app's newest rollouts are read for their lead times. */
const HISTORY = 10;

/**
 * The refresh action: shown only to a session that may write the app (its team's members,
 * admins), confirmed first, then each cluster's answer.
 */
function Refresh(props: { store: FleetStore; app: string }) {
  const { store, app } = props;
  const asking = useSignal(false);
  const busy = useSignal(false);
  const answer = useSignal<AppRefresh | null>(null);
  const notice = useSignal<string | null>(null);
  const team = store.teamOfApp.value.get(app);
  if (!mayRefresh(store.identity.value, team)) {
    return (
      <p class="muted" data-readonly="true">
        Read-only: refreshing this app needs a member of team {team || "(unknown)"} or an admin.
      </p>
    );
  }
  const run = async () => {
    asking.value = false;
    busy.value = true;
    notice.value = "refresh: asking the agents…";
    try {
      answer.value = await hub.refresh(app);
      const failed = answer.value.clusters.filter((c) => !c.ok).length;
      notice.value = `refresh: ${answer.value.clusters.length - failed} of ${answer.value.clusters.length} clusters reconciled`;
    } catch (err) {
      notice.value = `refresh refused: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      busy.value = false;
    }
  };
  return (
    <>
      <fieldset class="actions">
        <legend class="sr-only">Act on this app</legend>
        <button
          type="button"
          data-action="refresh"
          disabled={busy.value}
          onClick={() => {
            asking.value = true;
          }}
        >
          Refresh
        </button>
      </fieldset>
      {notice.value && (
        <p class="notice" role="status" data-refresh-notice="">
          {notice.value}
        </p>
      )}
      {answer.value && (
        <ul class="answers">
          {answer.value.clusters.map((c) => (
            <li key={c.cluster} data-refresh-cluster={c.cluster} data-ok={String(c.ok)}>
              {c.cluster}: {c.ok ? "reconciled" : "not reconciled"}
              {c.message ? ` — ${c.message}` : ""}
            </li>
          ))}
        </ul>
      )}
      {asking.value && (
        <Confirm
          title={`refresh app ${app}?`}
          confirm="Yes, refresh"
          onConfirm={() => void run()}
          onCancel={() => {
            asking.value = false;
          }}
        >
          <p>{REFRESH_TEXT}</p>
        </Confirm>
      )}
    </>
  );
}

/** One app: its revision on every cluster, and its rollouts with their lead times. */
export function AppView(props: { store: FleetStore; name: string }) {
  const { store, name } = props;
  const status = useSignal<AppStatus | null>(null);
  const history = useSignal<RolloutView[]>([]);
  const error = useSignal<string | null>(null);
  const summaries = store.rollouts.value.filter((r) => r.app === name);
  const newest = summaries
    .slice(0, HISTORY)
    .map((r) => `${r.id}:${r.state}`)
    .join(",");
  useEffect(() => {
    Promise.all([hub.appStatus(name), Promise.all(summaries.slice(0, HISTORY).map((r) => hub.rollout(r.id)))])
      .then(([s, h]) => {
        status.value = s;
        history.value = h;
        error.value = null;
      })
      .catch((err: unknown) => {
        error.value = err instanceof Error ? err.message : String(err);
      });
  }, [name, newest]);
  const s = status.value;
  if (error.value && !s) return <Failure message={error.value} />;
  if (!s) return <p aria-busy="true">Loading app {name}…</p>;
  return (
    <>
      <h1>App {s.app}</h1>
      <p>
        Repo {s.repo}, team {store.teamOfApp.value.get(s.app) ?? "unknown"}
      </p>
      <Refresh store={store} app={s.app} />
      <h2>Revision per cluster</h2>
      <table class="list">
        <caption class="sr-only">Revision of {s.app} on each cluster</caption>
        <thead>
          <tr>
            <th scope="col">Cluster</th>
            <th scope="col">Environment</th>
            <th scope="col">Desired</th>
            <th scope="col">Running</th>
            <th scope="col">Sync</th>
            <th scope="col">Health</th>
          </tr>
        </thead>
        <tbody>
          {s.clusters.map((c) => (
            <tr key={c.cluster} data-cluster={c.cluster}>
              <th scope="row">
                <a href={href.cluster(c.cluster)}>{c.cluster}</a>
              </th>
              <td>{c.environment}</td>
              <td>{shortSha(c.desired?.revision)}</td>
              <td>{shortSha(c.report?.revision)}</td>
              <td>{c.report?.phase ?? "—"}</td>
              <td>{c.report?.health ?? "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Rollouts</h2>
      <table class="list">
        <caption class="sr-only">Rollouts of {s.app}, newest first, with lead times</caption>
        <thead>
          <tr>
            <th scope="col">Rollout</th>
            <th scope="col">Environment</th>
            <th scope="col">Revision</th>
            <th scope="col">State</th>
            <th scope="col">Commit → converged</th>
            <th scope="col">Detected → converged</th>
          </tr>
        </thead>
        <tbody>
          {history.value.map((r) => (
            <tr key={r.id} data-rollout={r.id}>
              <th scope="row">
                <a href={href.rollout(r.id)}>{r.id}</a>
              </th>
              <td>{r.environment}</td>
              <td title={r.commit?.message}>
                {shortSha(r.from?.revision)} → {shortSha(r.to.revision)}
              </td>
              <td>{r.state}</td>
              <td>
                {r.leadTime.commitToConvergedSeconds === undefined
                  ? "—"
                  : duration(r.leadTime.commitToConvergedSeconds)}
              </td>
              <td>
                {r.leadTime.detectedToConvergedSeconds === undefined
                  ? "—"
                  : duration(r.leadTime.detectedToConvergedSeconds)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
