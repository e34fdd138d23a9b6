import {
  DESIRED_BUCKET,
  DESIRED_STATE,
  type DesiredStateInit,
  KeyRing,
  open,
  type SigningKey,
  SourceType,
  seal,
  stateKey,
} from "@flotilla/proto";
import type { KV } from "nats";
import type { Logger } from "pino";
import { HubError, NotFoundError, NotLeaderError } from "../errors.js";
import type { HubMetrics } from "../metrics.js";
import { fingerprint } from "../registry/canonical.js";
import { healthRulesInput, mergeHealthChecks } from "../registry/health-checks.js";
import { type AppSpec, resolveAppPath } from "../registry/resources.js";
import { ENV_LABEL } from "../registry/targets.js";
import type { EventBus } from "../status/events.js";
import type { DesiredStore, GenerationStore, Lease, ObjectReader } from "../store.js";

/** Outcome of one publish. */
export interface PublishResult {
  /** The generation now in force for (cluster, app). */
  generation: number;
  /** False when the same inputs were already published: nothing was written. */
  published: boolean;
}

/**
 * Writes desired states. The Git tracker calls it today with every target cluster at once;
 * the rollout engine will call it cluster by cluster as waves advance. Idempotent: publishing
 * the same (cluster, app, revision) again writes nothing and returns the generation in force,
 * so a new leader repeating its predecessor's last step publishes nothing twice.
 */
export interface DesiredStatePublisher {
  publish(cluster: string, app: string, revision: string, rolloutId: string): Promise<PublishResult>;
  /**
   * Tells the cluster's agent to prune everything the app owns and stop reconciling it (the app
   * was deleted, or the cluster no longer matches it). `repo` is kept on the record so later
   * passes over that repo know the removal is done.
   */
  remove(cluster: string, app: string, repo: string): Promise<PublishResult>;
}

const SOURCE_TYPES: Record<AppSpec["source"], SourceType> = {
  manifests: SourceType.SOURCE_TYPE_MANIFESTS,
  kustomize: SourceType.SOURCE_TYPE_KUSTOMIZE,
  helm: SourceType.SOURCE_TYPE_HELM,
};

/** Attempts at the compare-and-set write before giving up (another writer kept winning). */
const CAS_ATTEMPTS = 3;

type DesiredInputs = Omit<DesiredStateInit, "generation" | "rolloutId" | "issuedAtMs">;

/**
 * Everything in a desired state the agent acts on, normalised so that a state built here and
 * the same state decoded from the bucket hash equally (protobuf turns unset into defaults).
 */
function inputsFingerprint(m: DesiredInputs): string {
  const helm = m.source?.helm;
  const helmInputs =
    helm && (helm.releaseName || (helm.valueFiles?.length ?? 0) > 0 || Object.keys(helm.set ?? {}).length > 0)
      ? { releaseName: helm.releaseName ?? "", valueFiles: [...(helm.valueFiles ?? [])], set: { ...(helm.set ?? {}) } }
      : null;
  const rules = healthRulesInput(m.healthRules);
  const deadline = Number(m.progressDeadlineSeconds ?? 0);
  return fingerprint({
    cluster: m.cluster ?? "",
    app: m.app ?? "",
    environment: m.environment ?? "",
    repoUrl: m.source?.repoUrl ?? "",
    revision: m.source?.revision ?? "",
    branch: m.source?.branch ?? "",
    path: m.source?.path ?? "",
    type: Number(m.source?.type ?? 0),
    helm: helmInputs,
    targetNamespace: m.targetNamespace ?? "",
    prune: Boolean(m.prune),
    selfHeal: Boolean(m.selfHeal),
    remove: Boolean(m.remove),
    // Only when set, so that states published before these fields existed keep their fingerprint.
    ...(rules.length > 0 ? { healthRules: rules } : {}),
    ...(deadline > 0 ? { progressDeadlineSeconds: deadline } : {}),
  });
}

export interface NatsPublisherOptions {
  objects: ObjectReader;
  desired: DesiredStore;
  generations: GenerationStore;
  kv: KV;
  hubKey: SigningKey;
  /** The lease this replica holds now, undefined when it is not the leader. */
  lease: () => Lease | undefined;
  events: EventBus;
  metrics: HubMetrics;
  log: Logger;
}

/**
 * Publishes signed desired states to the `flotilla_desired` bucket. Each write is fenced twice:
 * the generation comes from a Redis INCR that only succeeds while this replica's lease holds,
 * and the bucket write is a compare-and-set on the revision read just before, so two replicas
 * that both believe they lead can never both write the same key from the same state.
 */
export class NatsDesiredStatePublisher implements DesiredStatePublisher {
  readonly #ring: KeyRing;

  constructor(private readonly o: NatsPublisherOptions) {
    this.#ring = new KeyRing([o.hubKey.publicKey]);
  }

  async publish(cluster: string, app: string, revision: string, rolloutId: string): Promise<PublishResult> {
    const inputs = await this.#inputs(cluster, app, revision);
    const record = await this.o.objects.getObject("App", app);
    return this.#write(inputs, rolloutId, record?.repo ?? "");
  }

  async remove(cluster: string, app: string, repo: string): Promise<PublishResult> {
    return this.#write({ cluster, app, remove: true }, "", repo);
  }

  async #write(inputs: DesiredInputs, rolloutId: string, repo: string): Promise<PublishResult> {
    const lease = this.o.lease();
    if (!lease) throw new NotLeaderError("only the leader publishes desired states");
    const cluster = inputs.cluster ?? "";
    const app = inputs.app ?? "";
    const revision = inputs.source?.revision ?? "";
    const fp = inputsFingerprint(inputs);
    const recorded = await this.o.desired.getDesired(cluster, app);
    if (recorded?.fingerprint === fp) return { generation: recorded.generation, published: false };

    const key = stateKey(cluster, app);
    for (let attempt = 1; ; attempt++) {
      const entry = await this.o.kv.get(key);
      let floor = 0;
      if (entry && entry.operation === "PUT" && entry.value.length > 0) {
        try {
          const current = open(DESIRED_STATE, entry.value, this.#ring).message;
          floor = Number(current.generation) + 1;
          if (inputsFingerprint(current) === fp) {
            // Written before a crash or by the previous leader, but not yet recorded in Redis.
            await this.#record(inputs, Number(current.generation), current.rolloutId, fp, repo);
            return { generation: Number(current.generation), published: false };
          }
        } catch (err) {
          this.o.log.warn({ err, cluster, app }, "current desired state does not verify; replacing it");
        }
      }
      const generation = await this.o.generations.allocateGeneration(cluster, app, floor, lease);
      const message: DesiredStateInit = { ...inputs, generation, rolloutId, issuedAtMs: Date.now() };
      const bytes = seal(DESIRED_STATE, message, this.o.hubKey);
      try {
        if (entry) await this.o.kv.update(key, bytes, entry.revision);
        else await this.o.kv.create(key, bytes);
      } catch (err) {
        if (attempt >= CAS_ATTEMPTS) {
          throw new HubError(`cannot write ${DESIRED_BUCKET}/${key}: another writer keeps changing it`, { cause: err });
        }
        this.o.log.warn({ err, cluster, app, generation }, "desired state changed under us; reading it again");
        continue;
      }
      await this.#record(inputs, generation, rolloutId, fp, repo);
      this.o.metrics.desiredPublished.inc();
      this.o.log.info(
        {
          cluster,
          app,
          generation,
          revision: revision || undefined,
          remove: inputs.remove || undefined,
          rollout: rolloutId || undefined,
        },
        inputs.remove ? "app removal published" : "desired state published",
      );
      await this.o.events.emit({ type: "desired", cluster, app, revision, generation, rolloutId, atMs: Date.now() });
      return { generation, published: true };
    }
  }

  async #inputs(cluster: string, app: string, revision: string): Promise<DesiredInputs> {
    const [c, a] = await Promise.all([
      this.o.objects.getObject("Cluster", cluster),
      this.o.objects.getObject("App", app),
    ]);
    if (!c) throw new NotFoundError("cluster", cluster);
    if (!a) throw new NotFoundError("app", app);
    const repo = await this.o.objects.getObject("Repo", a.repo);
    if (!repo) throw new NotFoundError("repo", a.repo);
    const environment = c.labels[ENV_LABEL];
    if (!environment) throw new HubError(`cluster ${cluster} has no ${ENV_LABEL} label, so no environment to deploy`);
    const branch = repo.branches[environment];
    if (!branch) throw new HubError(`repo ${repo.name} maps no branch to environment ${environment}`);
    return {
      cluster,
      app,
      environment,
      source: {
        repoUrl: repo.url,
        revision,
        branch,
        path: resolveAppPath(a.path, environment),
        type: SOURCE_TYPES[a.source],
        ...(a.helm
          ? {
              helm: {
                releaseName: a.helm.releaseName ?? "",
                valueFiles: a.helm.valueFiles ?? [],
                set: a.helm.set ?? {},
              },
            }
          : {}),
      },
      targetNamespace: a.namespace,
      prune: a.prune,
      selfHeal: a.selfHeal,
      // Team rules join here once teams carry a policy: mergeHealthChecks(team's, app's).
      healthRules: mergeHealthChecks([], a.healthChecks ?? []),
      progressDeadlineSeconds: a.progressDeadlineSeconds ?? 0,
    };
  }

  async #record(inputs: DesiredInputs, generation: number, rolloutId: string, fp: string, repo: string): Promise<void> {
    await this.o.desired.putDesired({
      cluster: inputs.cluster ?? "",
      app: inputs.app ?? "",
      generation,
      environment: inputs.environment ?? "",
      repo,
      branch: inputs.source?.branch ?? "",
      revision: inputs.source?.revision ?? "",
      path: inputs.source?.path ?? "",
      rolloutId,
      fingerprint: fp,
      publishedAtMs: Date.now(),
      ...(inputs.remove ? { removed: true } : {}),
    });
  }
}
