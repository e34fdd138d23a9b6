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
import type { KV, KvEntry } from "nats";
import type { Logger } from "pino";
import { type AppSettings, type DesiredInputs, desiredFingerprint, resolveDesired } from "../desired/index.js";
import { HubError, NotFoundError, NotLeaderError } from "../errors.js";
import type { HubMetrics } from "../metrics.js";
import { ENV_LABEL } from "../registry/targets.js";
import type { RolloutTarget } from "../rollout/index.js";
import type { EventBus, HubEvent } from "../status/events.js";
import type {
  ClusterRecord,
  DesiredBatchStore,
  DesiredRecord,
  GenerationStore,
  Lease,
  ObjectReader,
  SettingsStore,
} from "../store.js";
import { WrittenEntries, type WrittenEntry } from "./written.js";

/** Outcome of one publish. */
export interface PublishResult {
  /** The generation now in force for (cluster, app). */
  generation: number;
  /** False when the same inputs were already published: nothing was written. */
  published: boolean;
  /** The rollout that wrote the state now in force ("" outside a rollout). */
  rolloutId: string;
}

/** One desired state to publish: `app` on `cluster` at `target`, written by `rolloutId`. */
export interface PublishRequest {
  cluster: string;
  app: string;
  target: RolloutTarget;
  rolloutId: string;
}

/** What came of one request of a batch: its result, or why it was not published. */
export type PublishOutcome = { ok: true; result: PublishResult } | { ok: false; error: unknown };

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
   * Publishes many requests as one batch (each (cluster, app) at most once): one outcome per
   * request, in order. A request that fails does not fail the others; only a lost lease throws
   * (NotLeaderError), as `publish` does.
   */
  publishAll(requests: readonly PublishRequest[]): Promise<PublishOutcome[]>;
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
  desired: DesiredBatchStore;
  generations: GenerationStore;
  kv: KV;
  hubKey: SigningKey;
  /** The keys the hub's own writes may be signed by (all of the current key set); only `hubKey`'s when absent. */
  trusted?: () => KeyRing;
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
  /** This hub's own last write per key: replaced without reading and verifying it again. */
  readonly #written = new WrittenEntries();

  constructor(private readonly o: NatsPublisherOptions) {
    this.#ring = new KeyRing([o.hubKey.publicKey]);
  }

  /** The keys this hub's writes may be signed by: after a rotation's switch, the old key's writes still count as its own. */
  #trusted(): KeyRing {
    return this.o.trusted?.() ?? this.#ring;
  }

  async publish(cluster: string, app: string, target: RolloutTarget, rolloutId: string): Promise<PublishResult> {
    return unwrap((await this.publishAll([{ cluster, app, target, rolloutId }]))[0]);
  }

  /**
   * Publishes a batch in a few round trips, whatever its size: the clusters, the snapshots and
   * the records in force are read once, the bucket's current entries are read concurrently, the
   * generations are allocated in one fenced script, the writes go out together (each still a
   * compare-and-set on the revision read), and the records and events are stored in one
   * transaction and one message. A write that lost its compare-and-set is retried on its own.
   */
  async publishAll(requests: readonly PublishRequest[]): Promise<PublishOutcome[]> {
    const lease = this.o.lease();
    if (!lease) throw new NotLeaderError("only the leader publishes desired states");
    const digests = [...new Set(requests.map((q) => q.target.settings))];
    const [clusters, snapshots] = await Promise.all([
      this.o.objects.getObjects("Cluster", [...new Set(requests.map((q) => q.cluster))]),
      Promise.all(digests.map((d) => this.o.settings.getSettings(d))),
    ]);
    const settingsOf = new Map(digests.map((d, i) => [d, snapshots[i]]));
    const outcomes: PublishOutcome[] = new Array(requests.length);
    const items: WriteItem[] = [];
    const at: number[] = [];
    requests.forEach((q, i) => {
      try {
        const settings = settingsOf.get(q.target.settings);
        items.push({
          inputs: resolveFor(q, clusters.get(q.cluster), settings),
          rolloutId: q.rolloutId,
          repo: settings?.repo ?? "",
          settings: q.target.settings,
        });
        at.push(i);
      } catch (error) {
        outcomes[i] = { ok: false, error };
      }
    });
    const written = await this.#writeAll(items, lease);
    written.forEach((o, j) => {
      outcomes[at[j] ?? 0] = o;
    });
    return outcomes;
  }

  async remove(cluster: string, app: string, repo: string): Promise<PublishResult> {
    const lease = this.o.lease();
    if (!lease) throw new NotLeaderError("only the leader publishes desired states");
    const [outcome] = await this.#writeAll(
      [{ inputs: { cluster, app, remove: true }, rolloutId: "", repo, settings: undefined }],
      lease,
    );
    return unwrap(outcome);
  }

  /** Writes a batch (see {@link publishAll}); one outcome per item, in order. */
  async #writeAll(items: readonly WriteItem[], lease: Lease): Promise<PublishOutcome[]> {
    const outcomes: PublishOutcome[] = new Array(items.length);
    const fps = items.map((it) => desiredFingerprint(it.inputs));
    const recorded = await this.o.desired.getDesiredMany(items.map((it) => pairOf(it.inputs)));
    const renamed: DesiredRecord[] = [];
    const pending: number[] = [];
    items.forEach((it, i) => {
      const rec = recorded[i];
      if (!rec || rec.fingerprint !== fps[i]) {
        pending.push(i);
        return;
      }
      // Same objects under another snapshot (an override that leaves this cluster as it was):
      // nothing to write, but the record now names the target the cluster is at.
      if (it.settings !== undefined && rec.settings !== it.settings) renamed.push({ ...rec, settings: it.settings });
      outcomes[i] = { ok: true, result: { generation: rec.generation, published: false, rolloutId: rec.rolloutId } };
    });
    if (renamed.length > 0) await this.o.desired.putDesiredMany(renamed);
    if (pending.length === 0) return outcomes;

    // The bucket's entries now, read concurrently; a key whose last write this hub remembers
    // is not read: its write compare-and-sets on the remembered revision, and only if another
    // writer changed the key since is it read and verified (the lost writes below).
    const entries = await Promise.all(
      pending.map((i) => {
        const key = keyOf(items[i] as WriteItem);
        const known = this.#written.get(key);
        if (known) return { known };
        return this.o.kv.get(key).then(
          (entry) => ({ entry }),
          (error: unknown) => ({ error }),
        );
      }),
    );
    const records: DesiredRecord[] = [];
    const toWrite: { i: number; entry: { revision: number } | null; floor: number }[] = [];
    pending.forEach((i, j) => {
      const it = items[i] as WriteItem;
      const read = entries[j] as { entry?: KvEntry | null; error?: unknown; known?: WrittenEntry };
      const known = read.known;
      if (known) {
        if (known.fingerprint === fps[i]) {
          // Written by this hub but not recorded in Redis (a record write that failed).
          records.push(this.#record(it, known.generation, known.rolloutId, fps[i] ?? ""));
          outcomes[i] = {
            ok: true,
            result: { generation: known.generation, published: false, rolloutId: known.rolloutId },
          };
          return;
        }
        toWrite.push({ i, entry: { revision: known.revision }, floor: known.generation + 1 });
        return;
      }
      if (read.error !== undefined || read.entry === undefined) {
        outcomes[i] = { ok: false, error: read.error };
        return;
      }
      const entry = read.entry;
      let floor = 0;
      if (entry && entry.operation === "PUT" && entry.value.length > 0) {
        try {
          const current = open(DESIRED_STATE, entry.value, this.#trusted()).message;
          floor = Number(current.generation) + 1;
          if (desiredFingerprint(current) === fps[i]) {
            // Written before a crash or by the previous leader, but not yet recorded in Redis.
            const generation = Number(current.generation);
            records.push(this.#record(it, generation, current.rolloutId, fps[i] ?? ""));
            outcomes[i] = { ok: true, result: { generation, published: false, rolloutId: current.rolloutId } };
            return;
          }
        } catch (err) {
          const { cluster, app } = pairOf(it.inputs);
          this.o.log.warn({ err, cluster, app }, "current desired state does not verify; replacing it");
        }
      }
      toWrite.push({ i, entry, floor });
    });

    const generations = await this.o.generations.allocateGenerations(
      toWrite.map((w) => ({ ...pairOf((items[w.i] as WriteItem).inputs), floor: w.floor })),
      lease,
    );
    const now = Date.now();
    const sealed = toWrite.map((w, j) => {
      const it = items[w.i] as WriteItem;
      const message: DesiredStateInit = {
        ...it.inputs,
        generation: generations[j] ?? 0,
        rolloutId: it.rolloutId,
        issuedAtMs: now,
      };
      return seal(DESIRED_STATE, message, this.o.hubKey);
    });
    // NATS cannot check the lease: check it here, in the same tick as the writes go out, so a
    // leader frozen after allocating (its term over when it wakes) writes nothing.
    this.#fence(lease);
    const puts = await Promise.all(
      toWrite.map((w, j) => {
        const key = keyOf(items[w.i] as WriteItem);
        const bytes = sealed[j] as Uint8Array;
        const put = w.entry ? this.o.kv.update(key, bytes, w.entry.revision) : this.o.kv.create(key, bytes);
        return put.then(
          (revision): { revision: number; error?: undefined } => ({ revision }),
          (error: unknown) => ({ error: error ?? new Error("write failed") }),
        );
      }),
    );
    // A leader that froze here, its writes in NATS but not yet in Redis, leaves the records to
    // its successor, which finds the writes in the bucket (above) and records them.
    this.#fence(lease);
    const events: HubEvent[] = [];
    const lost: number[] = [];
    toWrite.forEach((w, j) => {
      const it = items[w.i] as WriteItem;
      const put = puts[j];
      if (!put || put.error !== undefined) {
        this.#written.forget(keyOf(it));
        lost.push(w.i);
        return;
      }
      const generation = generations[j] ?? 0;
      this.#written.remember(keyOf(it), {
        revision: put.revision,
        generation,
        fingerprint: fps[w.i] ?? "",
        rolloutId: it.rolloutId,
      });
      const { cluster, app } = pairOf(it.inputs);
      const revision = it.inputs.source?.revision ?? "";
      records.push(this.#record(it, generation, it.rolloutId, fps[w.i] ?? ""));
      outcomes[w.i] = { ok: true, result: { generation, published: true, rolloutId: it.rolloutId } };
      this.o.log.info(
        {
          cluster,
          app,
          generation,
          revision: revision || undefined,
          remove: it.inputs.remove || undefined,
          rollout: it.rolloutId || undefined,
        },
        it.inputs.remove ? "app removal published" : "desired state published",
      );
      events.push({ type: "desired", cluster, app, revision, generation, rolloutId: it.rolloutId, atMs: now });
    });
    if (records.length > 0) await this.o.desired.putDesiredMany(records);
    if (events.length > 0) {
      this.o.metrics.desiredPublished.inc(events.length);
      await this.o.events.emitAll(events);
    }
    // Another writer changed these keys between the read and the write: one at a time, again.
    for (const i of lost) {
      const it = items[i] as WriteItem;
      try {
        outcomes[i] = { ok: true, result: await this.#write(it, fps[i] ?? "", lease) };
      } catch (error) {
        if (error instanceof NotLeaderError) throw error;
        outcomes[i] = { ok: false, error };
      }
    }
    return outcomes;
  }

  /** One write, read and compare-and-set again up to {@link CAS_ATTEMPTS} times. */
  async #write(it: WriteItem, fp: string, lease: Lease): Promise<PublishResult> {
    const { inputs, rolloutId } = it;
    const { cluster, app } = pairOf(inputs);
    const revision = inputs.source?.revision ?? "";
    const key = keyOf(it);
    for (let attempt = 1; ; attempt++) {
      const entry = await this.o.kv.get(key);
      let floor = 0;
      if (entry && entry.operation === "PUT" && entry.value.length > 0) {
        try {
          const current = open(DESIRED_STATE, entry.value, this.#trusted()).message;
          floor = Number(current.generation) + 1;
          if (desiredFingerprint(current) === fp) {
            await this.o.desired.putDesired(this.#record(it, Number(current.generation), current.rolloutId, fp));
            return { generation: Number(current.generation), published: false, rolloutId: current.rolloutId };
          }
        } catch (err) {
          this.o.log.warn({ err, cluster, app }, "current desired state does not verify; replacing it");
        }
      }
      const generation = await this.o.generations.allocateGeneration(cluster, app, floor, lease);
      const message: DesiredStateInit = { ...inputs, generation, rolloutId, issuedAtMs: Date.now() };
      const bytes = seal(DESIRED_STATE, message, this.o.hubKey);
      this.#fence(lease);
      try {
        const written = entry ? await this.o.kv.update(key, bytes, entry.revision) : await this.o.kv.create(key, bytes);
        this.#written.remember(key, { revision: written, generation, fingerprint: fp, rolloutId });
      } catch (err) {
        this.#written.forget(key);
        if (attempt >= CAS_ATTEMPTS) {
          throw new HubError(`cannot write ${DESIRED_BUCKET}/${key}: another writer keeps changing it`, { cause: err });
        }
        this.o.log.warn({ err, cluster, app, generation }, "desired state changed under us; reading it again");
        continue;
      }
      this.#fence(lease);
      await this.o.desired.putDesired(this.#record(it, generation, rolloutId, fp));
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

  #record(it: WriteItem, generation: number, rolloutId: string, fp: string): DesiredRecord {
    const { inputs, repo, settings } = it;
    return {
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
    };
  }
}

/** One desired state to write: its resolved inputs and what its record keeps beside them. */
interface WriteItem {
  inputs: DesiredInputs;
  rolloutId: string;
  repo: string;
  /** The snapshot digest the record names; undefined for a removal. */
  settings: string | undefined;
}

function pairOf(inputs: DesiredInputs): { cluster: string; app: string } {
  return { cluster: inputs.cluster ?? "", app: inputs.app ?? "" };
}

function keyOf(it: WriteItem): string {
  const { cluster, app } = pairOf(it.inputs);
  return stateKey(cluster, app);
}

function unwrap(outcome: PublishOutcome | undefined): PublishResult {
  if (!outcome) throw new HubError("the publisher answered nothing");
  if (!outcome.ok) throw outcome.error;
  return outcome.result;
}

/** The inputs of one request, resolved from its snapshot for the cluster's labels; throws naming what is missing. */
function resolveFor(q: PublishRequest, c: ClusterRecord | undefined, settings: AppSettings | undefined): DesiredInputs {
  if (!c) throw new NotFoundError("cluster", q.cluster);
  if (!settings) throw new HubError(`settings snapshot ${q.target.settings} of app ${q.app} is not stored`);
  const environment = c.labels[ENV_LABEL];
  if (!environment) throw new HubError(`cluster ${q.cluster} has no ${ENV_LABEL} label, so no environment to deploy`);
  if (!settings.branch) throw new HubError(`repo ${settings.repo} maps no branch to environment ${environment}`);
  return resolveDesired(settings, {
    app: q.app,
    cluster: q.cluster,
    labels: c.labels,
    environment,
    revision: q.target.revision,
  });
}
