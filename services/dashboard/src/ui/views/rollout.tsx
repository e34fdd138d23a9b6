import type { AppStatus, AuditEntry, RolloutView as Rollout, RolloutCommand } from "@flotilla/api";
import { useSignal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { hub } from "../api.js";
import { bakeLeftSeconds, budgetOf, clusterReason, headline, notInAnyWave } from "../explain.js";
import { duration, shortSha } from "../model.js";
import { COMMAND_TEXT, commandsFor, maySteer } from "../permissions.js";
import { href } from "../route.js";
import type { FleetStore } from "../store.js";
import { Confirm } from "./confirm.js";
import { Failure } from "./notice.js";

const time = (ms: number | undefined) => (ms === undefined ? "" : new Date(ms).toLocaleTimeString());

/** What the agents said about the failed clusters: the objects and messages of their last reports. */
function Failures(props: { rollout: Rollout; status: AppStatus | null }) {
  const failed = props.rollout.waves.flatMap((w) => w.clusters.filter((c) => c.state === "failed" || c.rollback));
  if (failed.length === 0 || !props.status) return null;
  return (
    <section aria-labelledby="failures">
      <h2 id="failures">Failed clusters</h2>
      <ul class="failures">
        {failed.map((c) => {
          const report = props.status?.clusters.find((a) => a.cluster === c.name)?.report;
          const bad = report?.resources.filter((o) => o.health !== "healthy" || o.sync !== "synced") ?? [];
          return (
            <li key={c.name} data-failed-cluster={c.name}>
              <strong>{c.name}</strong>: {c.reason ?? c.state}
              {report?.error && (
                <p class="agent-error" data-error-code={report.error.code}>
                  agent: {report.error.code}: {report.error.message}
                </p>
              )}
              {bad.length > 0 && (
                <ul>
                  {bad.map((o) => (
                    <li key={`${o.kind}/${o.namespace}/${o.name}`} data-object={`${o.kind}/${o.name}`}>
                      {o.kind} {o.namespace ? `${o.namespace}/` : ""}
                      {o.name}: {o.health}, {o.sync}
                      {o.message ? ` — ${o.message}` : ""}
                    </li>
                  ))}
                </ul>
              )}
              {c.rollback && (
                <p data-rollback={c.rollback.writtenAtMs ? "written" : "requested"}>
                  rollback to {shortSha(props.rollout.from?.revision)}{" "}
                  {c.rollback.writtenAtMs
                    ? `written at ${time(c.rollback.writtenAtMs)} (generation ${c.rollback.generation})`
                    : c.rollback.abandoned
                      ? `abandoned: ${c.rollback.abandoned.reason}`
                      : `requested at ${time(c.rollback.requestedAtMs)}`}
                </p>
              )}
            </li>
          );
        })}
      </ul>
    </section>
  );
}

/** One rollout as a timeline of its waves, why each cluster waits, and the buttons the session may press. */
export function RolloutView(props: { store: FleetStore; id: string }) {
  const { store, id } = props;
  const rollout = useSignal<Rollout | null>(null);
  const status = useSignal<AppStatus | null>(null);
  const audit = useSignal<AuditEntry[]>([]);
  const error = useSignal<string | null>(null);
  const asking = useSignal<RolloutCommand | null>(null);
  const notice = useSignal<string | null>(null);

  const load = async () => {
    try {
      const r = await hub.rollout(id);
      rollout.value = r;
      error.value = null;
      const [s, a] = await Promise.all([
        hub.appStatus(r.app).catch(() => null),
        hub.audit({ kind: "Rollout", object: id }).catch(() => ({ items: [] as AuditEntry[] })),
      ]);
      status.value = s;
      audit.value = a.items;
    } catch (err) {
      error.value = err instanceof Error ? err.message : String(err);
    }
  };
  useEffect(() => {
    rollout.value = null;
    void load();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const off = store.onRollout((rid) => {
      if (rid !== id) return;
      clearTimeout(timer);
      timer = setTimeout(() => void load(), 150);
    });
    return () => {
      off();
      clearTimeout(timer);
    };
  }, [id]);

  const r = rollout.value;
  if (error.value && !r) return <Failure message={error.value} />;
  if (!r) return <p aria-busy="true">Loading rollout {id}…</p>;

  const now = store.now.value;
  const team = store.teamOfApp.value.get(r.app);
  const steer = maySteer(store.identity.value, team);
  const commands = steer ? commandsFor(r) : [];
  const stateOf = (name: string) => store.row(name)?.peek().state;
  const envClusters = store.clusterNames.value.filter((n) => store.row(n)?.peek().environment === r.environment);
  const outside = notInAnyWave(r, envClusters);
  const run = async (command: RolloutCommand) => {
    asking.value = null;
    try {
      rollout.value = await hub.command(r.id, command);
      notice.value = `${command}: done`;
      void load();
    } catch (err) {
      notice.value = `${command} refused: ${err instanceof Error ? err.message : String(err)}`;
    }
  };

  return (
    <>
      <h1>
        Rollout {r.app} → {r.environment}
      </h1>
      <p class={`headline p-${r.state}`} data-rollout-state={r.state} role="status">
        {headline(r, now)}
      </p>
      <dl class="facts">
        <dt>Revision</dt>
        <dd>
          {shortSha(r.from?.revision)} → <span title={r.to.revision}>{shortSha(r.to.revision)}</span>
          {r.commit && ` — ${r.commit.message.split("\n")[0]} (${r.commit.author})`}
        </dd>
        <dt>Changes</dt>
        <dd>{r.changed.join(", ")}</dd>
        <dt>Detected</dt>
        <dd>{new Date(r.detectedAtMs).toLocaleString()}</dd>
        {r.leadTime.commitToConvergedSeconds !== undefined && (
          <>
            <dt>Lead time</dt>
            <dd>{duration(r.leadTime.commitToConvergedSeconds)} from commit to every wave healthy</dd>
          </>
        )}
        <dt>Policy</dt>
        <dd>
          progress deadline {duration(r.progressDeadlineSeconds)}, automatic rollback {r.autoRollback ? "on" : "off"},
          offline clusters: {r.offlineClusters}
        </dd>
        <dt>Id</dt>
        <dd>{r.id}</dd>
      </dl>
      {r.failure && (
        <p class="error" data-failure={r.failure.kind}>
          {r.failure.kind}: {r.failure.reason}
        </p>
      )}
      {commands.length > 0 && (
        <fieldset class="actions">
          <legend class="sr-only">Steer this rollout</legend>
          {commands.map((c) => (
            <button
              type="button"
              key={c}
              data-command={c}
              class={c === "promote" ? "primary" : undefined}
              onClick={() => {
                asking.value = c;
              }}
            >
              {c[0]?.toUpperCase()}
              {c.slice(1)}
            </button>
          ))}
        </fieldset>
      )}
      {!steer && !["Succeeded", "Failed", "RolledBack", "Superseded"].includes(r.state) && (
        <p class="muted" data-readonly="true">
          Read-only: steering this rollout needs a member of team {team || "(unknown)"} or an admin.
        </p>
      )}
      {notice.value && (
        <p class="notice" role="status">
          {notice.value}
        </p>
      )}
      {asking.value && (
        <Confirm
          title={`${asking.value} rollout ${r.id}?`}
          confirm={`Yes, ${asking.value}`}
          onConfirm={() => void run(asking.value as RolloutCommand)}
          onCancel={() => {
            asking.value = null;
          }}
        >
          <p>{COMMAND_TEXT[asking.value]}</p>
        </Confirm>
      )}
      <h2>Waves</h2>
      <ol class="timeline">
        {r.waves.map((w, i) => {
          const left = bakeLeftSeconds(w, now);
          const budget = budgetOf(w);
          return (
            <li key={w.name} class={`wave w-${w.status}`} data-wave={w.name} data-wave-status={w.status}>
              <h3>
                {i + 1}. {w.name} <span class="badge">{w.status}</span>
                {left !== undefined && (
                  <span class="bake" data-bake-left={left}>
                    {" "}
                    baking, {duration(left)} left
                  </span>
                )}
              </h3>
              <p class="muted">
                {w.clusters.length} cluster{w.clusters.length === 1 ? "" : "s"} · {w.maxConcurrency} at a time · bake{" "}
                {duration(w.bakeSeconds)} ·{" "}
                <span data-budget={`${budget.failed}/${budget.budget}`}>
                  failures {budget.failed} of {budget.budget} allowed
                </span>
                {w.requireApproval ? " · needs promote" : ""}
              </p>
              <p class="muted">
                {w.startedAtMs && `started ${time(w.startedAtMs)}`}
                {w.approvedAtMs && ` · promoted ${time(w.approvedAtMs)}`}
                {w.bakeStartedAtMs && ` · bake from ${time(w.bakeStartedAtMs)}`}
                {w.completedAtMs && ` · completed ${time(w.completedAtMs)}`}
              </p>
              <ul class="clusters">
                {w.clusters.map((c) => (
                  <li key={c.name} data-rollout-cluster={c.name} data-cluster-step={c.state}>
                    <a href={href.cluster(c.name)}>{c.name}</a> <span class="badge">{c.state}</span>{" "}
                    <span class="why">{clusterReason(r, i, c, now, stateOf(c.name))}</span>
                  </li>
                ))}
              </ul>
            </li>
          );
        })}
      </ol>
      {outside.length > 0 && (
        <section aria-labelledby="outside">
          <h2 id="outside">Not in any wave</h2>
          <ul>
            {outside.map((o) => (
              <li key={o.name} data-outside={o.name}>
                {o.name}: {o.reason}
              </li>
            ))}
          </ul>
        </section>
      )}
      <Failures rollout={r} status={status.value} />
      <section aria-labelledby="history">
        <h2 id="history">Who steered it</h2>
        {audit.value.length === 0 ? (
          <p class="muted">No commands recorded{r.pausedAtMs ? `; paused since ${time(r.pausedAtMs)}` : ""}.</p>
        ) : (
          <ul>
            {audit.value.map((a) => (
              <li key={a.id} data-audit={a.detail ?? a.action}>
                {time(a.atMs)}: {a.detail ?? a.action} by {a.actor.role} token {a.actor.tokenId}
                {a.actor.team ? ` of team ${a.actor.team}` : ""}
                {a.status === 403 ? " (refused)" : ""}
              </li>
            ))}
          </ul>
        )}
      </section>
    </>
  );
}
