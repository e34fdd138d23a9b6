import {
  DESIRED_BUCKET,
  DESIRED_STATE,
  type DesiredStateInit,
  KeyRing,
  open,
  type SigningKey,
  seal,
  stateKey,
} from "@flotilla/proto";
import type { KV } from "nats";
import type { Logger } from "pino";
import { type DesiredInputs, desiredFingerprint, resolveDesired } from "../desired/index.js";
import { HubError, NotFoundError, NotLeaderError } from "../errors.js";
import type { HubMetrics } from "../metrics.js";
import { ENV_LABEL } from "../registry/targets.js";
import type { RolloutTarget } from "../rollout/index.js";
import type { EventBus } from "../status/events.js";
import type { DesiredStore, GenerationStore, Lease, ObjectReader, SettingsStore } from "../store.js";

/** Outcome of one publish. */
export interface PublishResult {
  /** The generation now in force for (cluster, app). */
  generation: number;
  /** False when the same inputs were already published: nothing was written. */
  published: boolean;
  /** The rollout that wrote the state now in force ("" outside a rollout). */
  rolloutId: string;
}

/**
 * Writes desired states, cluster by cluster as the rollout engine asks. A desired state is
 * resolved from the target's settings snapshot (never from the live app, repo or team), so
 * only a rollout can change what a cluster runs. Idempotent: publishing a target whose resolved
 * state equals the one in force writes nothing and returns the generation in force, so a new
 * leader repeating its predecessor's last step publishes nothing twice.
 */
export interface DesiredStatePublisher {
  /** Publishes `app` on `cluster` at `target` (its snapshot must be stored). */
  publish(cluster: string, app: string, target: RolloutTarget, rolloutId: string): Promise<PublishResult>;
  /**
   * Tells the cluster's agent to prune everything the app owns and stop reconciling it (the app
   * was deleted, or the cluster no longer matches it). `repo` is kept on the record so later
   * passes over that repo know the removal is done.
   */
  remove(cluster: string, app: string, repo: string): Promise<PublishResult>;
}

/** Attempts at the compare-and-set write before giving up (another writer kept winning). */
const CAS_ATTEMPTS = 3;

export interface NatsPublisherOptions {
  /** Read for the cluster's labels only. */
  objects: ObjectReader;
  settings: SettingsStore;
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
 * Publishes signed desired states to the `flotilla_desired` bucket. Each write is fenced three
 * times: the generation comes from a Redis INCR that only succeeds while this replica's lease
 * holds, the lease's local deadline is checked again just before the write goes out (the
 * elector's `lease` answers nothing once it passed), and the bucket write is a compare-and-set
 * on the revision read just before, so two replicas that both believe they lead can never both
 * write the same key from the same state.
 */
export class NatsDesiredStatePublisher implements DesiredStatePublisher {
  readonly #ring: KeyRing;

  constructor(private readonly o: NatsPublisherOptions) {
    this.#ring = new KeyRing([o.hubKey.publicKey]);
  }

  async publish(cluster: string, app: string, target: RolloutTarget, rolloutId: string): Promise<PublishResult> {
    const [c, settings] = await Promise.all([
      this.o.objects.getObject("Cluster", cluster),
      this.o.settings.getSettings(target.settings),
    ]);
    if (!c) throw new NotFoundError("cluster", cluster);
    if (!settings) throw new HubError(`settings snapshot ${target.settings} of app ${app} is not stored`);
    const environment = c.labels[ENV_LABEL];
    if (!environment) throw new HubError(`cluster ${cluster} has no ${ENV_LABEL} label, so no environment to deploy`);
    if (!settings.branch) throw new HubError(`repo ${settings.repo} maps no branch to environment ${environment}`);
    const inputs = resolveDesired(settings, { app, cluster, labels: c.labels, environment, revision: target.revision });
    return this.#write(inputs, rolloutId, settings.repo, target.settings);
  }

  async remove(cluster: string, app: string, repo: string): Promise<PublishResult> {
    return this.#write({ cluster, app, remove: true }, "", repo, undefined);
  }

  async #write(
    inputs: DesiredInputs,
    rolloutId: string,
    repo: string,
    settings: string | undefined,
  ): Promise<PublishResult> {
    const lease = this.o.lease();
    if (!lease) throw new NotLeaderError("only the leader publishes desired states");
    const cluster = inputs.cluster ?? "";
    const app = inputs.app ?? "";
    const revision = inputs.source?.revision ?? "";
    const fp = desiredFingerprint(inputs);
    const recorded = await this.o.desired.getDesired(cluster, app);
    if (recorded?.fingerprint === fp) {
      // Same objects under another snapshot (an override that leaves this cluster as it was):
      // nothing to write, but the record now names the target the cluster is at.
      if (settings !== undefined && recorded.settings !== settings)
        await this.o.desired.putDesired({ ...recorded, settings });
      return { generation: recorded.generation, published: false, rolloutId: recorded.rolloutId };
    }

    const key = stateKey(cluster, app);
    for (let attempt = 1; ; attempt++) {
      const entry = await this.o.kv.get(key);
      let floor = 0;
      if (entry && entry.operation === "PUT" && entry.value.length > 0) {
        try {
          const current = open(DESIRED_STATE, entry.value, this.#ring).message;
          floor = Number(current.generation) + 1;
          if (desiredFingerprint(current) === fp) {
            // Written before a crash or by the previous leader, but not yet recorded in Redis.
            await this.#record(inputs, Number(current.generation), current.rolloutId, fp, repo, settings);
            return { generation: Number(current.generation), published: false, rolloutId: current.rolloutId };
          }
        } catch (err) {
          this.o.log.warn({ err, cluster, app }, "current desired state does not verify; replacing it");
        }
      }
      const generation = await this.o.generations.allocateGeneration(cluster, app, floor, lease);
      const message: DesiredStateInit = { ...inputs, generation, rolloutId, issuedAtMs: Date.now() };
      const bytes = seal(DESIRED_STATE, message, this.o.hubKey);
      // NATS cannot check the lease: check it here, in the same tick as the write goes out, so a
      // leader frozen after allocating (its term over when it wakes) writes nothing.
      this.#fence(lease);
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
      // A leader that froze here, its write in NATS but not yet in Redis, leaves the record to its
      // successor, which finds the write in the bucket (above) and records it.
      this.#fence(lease);
      await this.#record(inputs, generation, rolloutId, fp, repo, settings);
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
      return { generation, published: true, rolloutId };
    }
  }

  /** Throws NotLeaderError unless this replica still holds `lease` (its local deadline included). */
  #fence(lease: Lease): void {
    if (this.o.lease()?.token !== lease.token) {
      throw new NotLeaderError(`replica ${lease.holder} no longer holds leader lease ${lease.token}`);
    }
  }

  async #record(
    inputs: DesiredInputs,
    generation: number,
    rolloutId: string,
    fp: string,
    repo: string,
    settings: string | undefined,
  ): Promise<void> {
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
      ...(settings !== undefined ? { settings } : {}),
      fingerprint: fp,
      publishedAtMs: Date.now(),
      ...(inputs.remove ? { removed: true } : {}),
    });
  }
}
