import type { ClusterDetail } from "@flotilla/api";
import { useSignal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { hub } from "../api.js";
import { ago, shortSha } from "../model.js";
import { href } from "../route.js";
import type { FleetStore } from "../store.js";
import { Failure } from "./notice.js";

/** One cluster: its liveness, its agent, its apps and the objects that drifted. */
export function ClusterView(props: { store: FleetStore; name: string }) {
  const { store, name } = props;
  const detail = useSignal<ClusterDetail | null>(null);
  const error = useSignal<string | null>(null);
  // Read again whenever an event changed this cluster's row or cells (the store counts batches).
  const revision = store.revision.value;
  useEffect(() => {
    hub
      .cluster(name)
      .then((d) => {
        detail.value = d;
        error.value = null;
      })
      .catch((err: unknown) => {
        error.value = err instanceof Error ? err.message : String(err);
      });
  }, [name, Math.floor(revision / 20)]);
  const d = detail.value;
  if (error.value && !d) return <Failure message={error.value} />;
  if (!d) return <p aria-busy="true">Loading cluster {name}…</p>;
  const row = store.row(name)?.value;
  const now = store.now.value;
  const drifted = d.apps.flatMap((a) =>
    (a.report?.resources ?? []).filter((o) => o.sync !== "synced").map((o) => ({ app: a.app, ...o })),
  );
  return (
    <>
      <h1>Cluster {d.name}</h1>
      <dl class="facts">
        <dt>State</dt>
        <dd data-cluster-state={row?.state ?? d.status.state}>{row?.state ?? d.status.state}</dd>
        <dt>Labels</dt>
        <dd>
          {Object.entries(d.labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(", ") || "none"}
        </dd>
        <dt>Agent</dt>
        <dd>{row?.agentVersion ?? d.status.agentVersion ?? "unknown"}</dd>
        <dt>Kubernetes</dt>
        <dd>{d.status.kubernetesVersion ?? "unknown"}</dd>
        <dt>Last heartbeat</dt>
        <dd>{ago(now, row?.lastHeartbeatMs ?? d.status.lastHeartbeatMs)}</dd>
      </dl>
      <h2>Apps</h2>
      <table class="list">
        <caption class="sr-only">Apps on cluster {d.name}</caption>
        <thead>
          <tr>
            <th scope="col">App</th>
            <th scope="col">Desired</th>
            <th scope="col">Running</th>
            <th scope="col">Sync</th>
            <th scope="col">Health</th>
            <th scope="col">Reported</th>
          </tr>
        </thead>
        <tbody>
          {d.apps.map((a) => (
            <tr key={a.app} data-app={a.app}>
              <th scope="row">
                <a href={href.app(a.app)}>{a.app}</a>
              </th>
              <td>
                {shortSha(a.desired?.revision)} (generation {a.desired?.generation ?? "—"})
              </td>
              <td>
                {shortSha(a.report?.revision)} (generation {a.report?.observedGeneration ?? "—"})
              </td>
              <td>{a.report?.phase ?? "—"}</td>
              <td>{a.report?.health ?? "—"}</td>
              <td>{ago(now, a.report?.receivedAtMs)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Drift</h2>
      {drifted.length === 0 ? (
        <p>No object differs from what was applied.</p>
      ) : (
        <ul>
          {drifted.map((o) => (
            <li key={`${o.app}/${o.kind}/${o.namespace}/${o.name}`} data-drift={`${o.kind}/${o.name}`}>
              {o.app}: {o.kind} {o.namespace ? `${o.namespace}/` : ""}
              {o.name} is {o.sync}
              {o.message ? ` — ${o.message}` : ""}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
