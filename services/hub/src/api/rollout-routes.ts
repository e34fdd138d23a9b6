import {
  operations,
  type RolloutCommand,
  type RolloutState,
  type RolloutSummary,
  type RolloutView,
  teamMayTarget,
} from "@flotilla/api";
import type { FastifyPluginAsync } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Ownership } from "../access/ownership.js";
import { describePrincipal } from "../access/principal.js";
import { type SettingsChange, settingsDiff } from "../desired/index.js";
import { ConflictError, NotFoundError } from "../errors.js";
import { ENV_LABEL } from "../registry/targets.js";
import { policyOfTeam } from "../registry/team-policy.js";
import {
  clusterStandings,
  command,
  heldClusters,
  holdsAt,
  isSettled,
  leadTime,
  parsePolicy,
  planWaves,
} from "../rollout/index.js";
import type { EventBus } from "../status/events.js";
import type { ClusterStatusStore, FreezeStore, ObjectReader, RolloutStore, SettingsStore } from "../store.js";
import { listedTeamOf } from "./access.js";
import { routeOf } from "./route.js";

/** Compare-and-set attempts of a command against the leader's concurrent steps. */
const COMMAND_ATTEMPTS = 10;

/**
 * A rollout as the API shows it: the stored state, its lead-time figures, why each cluster is
 * where it is (`why`), and, when settings changed, the settings diff (secret-looking values
 * masked; every field of the new snapshot when the old one is unknown).
 */
export function rolloutView(r: RolloutState, diff?: SettingsChange[]): RolloutView {
  const why = clusterStandings(r);
  return {
    ...r,
    waves: r.waves.map((w) => ({ ...w, clusters: w.clusters.map((c) => ({ ...c, why: why[c.name] ?? "" })) })),
    settled: isSettled(r),
    leadTime: leadTime(r),
    ...(diff ? { settingsDiff: diff } : {}),
  };
}

/** The masked settings diff of a rollout that changed settings; undefined when it did not. */
async function diffOf(r: RolloutState, settings: SettingsStore): Promise<SettingsChange[] | undefined> {
  if (!r.changed.includes("settings")) return undefined;
  const [from, to] = await Promise.all([
    r.from?.settings ? settings.getSettings(r.from.settings) : undefined,
    settings.getSettings(r.to.settings),
  ]);
  return to ? settingsDiff(from, to) : undefined;
}

/** A rollout in a list: what it is and where it stands, without per-cluster detail. */
function rolloutSummary(r: RolloutState): RolloutSummary {
  const waves = r.waves.map((w) => ({ name: w.name, status: w.status, clusters: w.clusters.length }));
  return {
    id: r.id,
    app: r.app,
    environment: r.environment,
    ...(r.from ? { from: r.from } : {}),
    to: r.to,
    changed: r.changed,
    ...(r.commit ? { commit: r.commit } : {}),
    ...(r.commitUnknown ? { commitUnknown: r.commitUnknown } : {}),
    state: r.state,
    waves,
    detectedAtMs: r.detectedAtMs,
    ...(r.finishedAtMs !== undefined ? { finishedAtMs: r.finishedAtMs } : {}),
    ...(r.failure ? { failure: r.failure } : {}),
  };
}

export interface RolloutRoutesOptions {
  objects: ObjectReader;
  statuses: ClusterStatusStore;
  rollouts: RolloutStore;
  settings: SettingsStore;
  freezes: Pick<FreezeStore, "list">;
  events: EventBus;
  ownership: Ownership;
}

/**
 * `GET /v1/rollouts`, `GET /v1/rollouts/:id`, `POST /v1/rollouts/:id/{command}` and the wave
 * plan preview. Commands are served by every replica: each is one compare-and-set on the stored
 * rollout (commands only change state), then an event makes the leader step it at once.
 */
export function rolloutRoutes(o: RolloutRoutesOptions): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();

    app.route({
      ...routeOf(operations.listRollouts),
      handler: async (req) => {
        const { app: a, environment, state } = req.query;
        const items = await o.rollouts.list({
          ...(a ? { app: a } : {}),
          ...(environment ? { environment } : {}),
          ...(state ? { state } : {}),
        });
        const team = listedTeamOf(req);
        const teams = team === undefined ? undefined : await o.ownership.appTeams();
        const visible = teams ? items.filter((r) => teams.get(r.app) === team) : items;
        return { items: visible.map(rolloutSummary) };
      },
    });

    app.route({
      ...routeOf(operations.getRollout),
      handler: async (req) => {
        const stored = await o.rollouts.get(req.params.id);
        if (!stored) throw new NotFoundError("rollout", req.params.id);
        return rolloutView(stored.rollout, await diffOf(stored.rollout, o.settings));
      },
    });

    const apply = async (id: string, cmd: RolloutCommand, by: string) => {
      for (let attempt = 0; attempt < COMMAND_ATTEMPTS; attempt++) {
        const stored = await o.rollouts.get(id);
        if (!stored) throw new NotFoundError("rollout", id);
        const result = command(stored.rollout, cmd, Date.now(), by);
        if (!(await o.rollouts.compareAndSet(stored, result.rollout))) continue;
        const r = result.rollout;
        await o.events.emit({
          type: "rollout",
          rolloutId: r.id,
          app: r.app,
          environment: r.environment,
          event: `Command:${cmd}`,
          state: r.state,
          message: r.failure?.reason ?? cmd,
          origin: "api",
          atMs: Date.now(),
        });
        return rolloutView(r, await diffOf(r, o.settings));
      }
      throw new ConflictError("rollout", id, "changed under every attempt to apply the command; retry");
    };

    app.route({
      ...routeOf(operations.commandRollout),
      handler: async (req) => apply(req.params.id, req.params.command, "api"),
    });

    app.route({
      ...routeOf(operations.overrideRollout),
      handler: async (req) =>
        apply(req.params.id, "override", req.principal ? describePrincipal(req.principal) : "api"),
    });

    app.route({
      ...routeOf(operations.previewPlan),
      handler: async (req) => {
        const environment = req.params.env;
        const appRecord = await o.objects.getObject("App", req.body.app);
        if (!appRecord) throw new NotFoundError("app", req.body.app);
        const [envRecord, clusters] = await Promise.all([
          o.objects.getObject("Environment", environment),
          o.objects.listObjects("Cluster"),
        ]);
        const repo = await o.objects.getObject("Repo", appRecord.repo);
        const team = repo ? await o.objects.getObject("Team", repo.team) : undefined;
        const teamPolicy = policyOfTeam(repo?.team ?? "", team);
        const members = clusters.filter(
          (c) => c.labels[ENV_LABEL] === environment && teamMayTarget(teamPolicy, c.labels),
        );
        if (!envRecord && members.length === 0) throw new NotFoundError("environment", environment);
        const states = await Promise.all(members.map((c) => o.statuses.getClusterStatus(c.name)));
        const policy = parsePolicy(envRecord?.policy ?? {}, environment);
        const waves = planWaves(
          policy,
          members.map((c, i) => ({ name: c.name, labels: c.labels, state: states[i]?.state ?? "Pending" })),
          appRecord.clusterSelector,
        );
        const { holds: whole, limited } = holdsAt(policy.windows, await o.freezes.list(), environment, Date.now());
        const held = heldClusters(limited, members);
        const holds = [
          ...whole,
          ...limited.flatMap((l) => {
            const clusters = [...held].filter(([, reason]) => reason === l.reason).map(([name]) => name);
            return clusters.length > 0 ? [{ kind: l.kind, reason: l.reason, clusters }] : [];
          }),
          // A cluster that asks for a freeze itself is held as an offline one (offlineClusters).
          ...members.flatMap((c, i) => {
            const asked = states[i]?.freeze;
            return asked
              ? [
                  {
                    kind: "cluster-freeze" as const,
                    reason: `cluster requested a freeze: ${asked.reason} (offlineClusters: ${policy.offlineClusters})`,
                    clusters: [c.name],
                  },
                ]
              : [];
          }),
        ];
        return {
          environment,
          app: appRecord.name,
          policy,
          waves,
          holds,
          ...(appRecord.dependsOn?.length ? { dependsOn: appRecord.dependsOn } : {}),
        };
      },
    });
  };
}
