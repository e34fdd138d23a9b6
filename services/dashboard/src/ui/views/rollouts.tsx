import { shortSha } from "../model.js";
import { href } from "../route.js";
import type { FleetStore } from "../store.js";

/** Every rollout the token may read, newest first, live. */
export function RolloutList(props: { store: FleetStore }) {
  const items = props.store.rollouts.value;
  return (
    <>
      <h1>Rollouts</h1>
      {items.length === 0 ? (
        <p>No rollouts yet.</p>
      ) : (
        <table class="list">
          <caption class="sr-only">Rollouts, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Rollout</th>
              <th scope="col">App</th>
              <th scope="col">Environment</th>
              <th scope="col">Revision</th>
              <th scope="col">State</th>
              <th scope="col">Waves</th>
              <th scope="col">Detected</th>
            </tr>
          </thead>
          <tbody>
            {items.map((r) => (
              <tr key={r.id} data-rollout={r.id} data-state={r.state}>
                <th scope="row">
                  <a href={href.rollout(r.id)}>{r.id}</a>
                </th>
                <td>
                  <a href={href.app(r.app)}>{r.app}</a>
                </td>
                <td>{r.environment}</td>
                <td title={r.commit?.message}>
                  {shortSha(r.from?.revision)} → {shortSha(r.to.revision)}
                </td>
                <td class={`phase p-${r.state}`}>{r.state}</td>
                <td>{r.waves.map((w) => `${w.name} ${w.status}`).join(" · ")}</td>
                <td>{new Date(r.detectedAtMs).toLocaleString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
