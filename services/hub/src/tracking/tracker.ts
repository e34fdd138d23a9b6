import { type GitCredentials, teamMayTarget } from "@flotilla/api";
import type { Logger } from "pino";
import type { RolloutConductor, RolloutRequest } from "../conductor/conductor.js";
import { settingsDigest, settingsOf } from "../desired/index.js";
import { HubError, NotLeaderError } from "../errors.js";
import type { HubMetrics } from "../metrics.js";
import type { DesiredStatePublisher } from "../nats/publisher.js";
import type { Registry } from "../registry/registry.js";
import { targetClusters } from "../registry/targets.js";
import { policyOfTeam } from "../registry/team-policy.js";
import type { EventBus } from "../status/events.js";
import type {
  AppRecord,
  ClusterRecord,
  DesiredStore,
  HeadStore,
  ObjectReader,
  RepoRecord,
  RolloutStore,
  TeamRecord,
} from "../store.js";
import { needsSource, wantedRevision } from "./change.js";
import type { RefLister } from "./git.js";
import { inputsDigest } from "./inputs.js";
import type { CommitSource, SourceReader } from "./source-cache.js";

/** How often the tracker looks for repos that are due; their own intervals are longer. */
export const TRACKER_TICK_MS = 200;
/** Decisions remembered per (app, environment, head, settings), so a steady head costs no tree walk. */
const DECISION_MEMORY = 4096;

export interface TrackerOptions {
  objects: ObjectReader;
  desired: DesiredStore;
  heads: HeadStore;
  /** Decrypts a repo's credentials for listing its branches. */
  registry: Pick<Registry, "repoSecrets">;
  refs: RefLister;
  /** Reads new heads (commit time, author, message, tree) from the bounded Git cache. */
  sources: SourceReader;
  /** Read for the newest rollout of each (app, environment). */
  rollouts: Pick<RolloutStore, "latest">;
  /** Publishes removals. */
  publisher: DesiredStatePublisher;
  /** Turns new heads into rollouts and gives clusters outside any rollout their revision. */
  conductor: Pick<RolloutConductor, "rollOut" | "fill">;
  events: EventBus;
  metrics: HubMetrics;
  log: Logger;
  defaultPollMs: number;
}

/**
 * Runs on the leader only. For each repo, on its poll interval and at once when nudged (a
 * verified webhook, a registry change), lists the branch heads and, per app and environment,
 * works out the wanted target: (revision, digest of the app's settings now). The revision is the
 * head, unless the settings did not change and the app's inputs at the head (tree ids of its
 * path and what it references, from the Git cache) equal those of its newest rollout: then the
 * app keeps its revision and does not roll. The conductor rolls out any target that differs
 * from the newest rollout's, so a new commit and a settings change go through the waves alike.
 * Level-triggered: each pass compares again and lets clusters outside any rollout catch up, so
 * a missed nudge, a new cluster or a leader change all converge on the next pass. Listing the
 * refs costs no fetch; the cache fetches a head only when some app's target may have changed.
 */
export class Tracker {
  readonly #nextAt = new Map<string, number>();
  readonly #inFlight = new Set<string>();
  readonly #again = new Set<string>();
  /** Repos whose heads are being checked beside a running pass, and those nudged again meanwhile. */
  readonly #checking = new Set<string>();
  readonly #checkAgain = new Set<string>();
  readonly #passes = new Set<Promise<void>>();
  readonly #decided = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #running = false;

  constructor(private readonly o: TrackerOptions) {}

  start(): void {
    this.#running = true;
    this.#unsubscribe = this.o.events.onNudge((repo) => this.#nudge(repo));
    this.#schedule(0);
  }

  /** Stops polling and waits for passes in flight (their writes are fenced anyway). */
  async stop(): Promise<void> {
    this.#running = false;
    this.#unsubscribe?.();
    if (this.#timer) clearTimeout(this.#timer);
    await Promise.allSettled([...this.#passes]);
  }

  #nudge(repo: string): void {
    if (!this.#running) return;
    if (repo === "*") this.#nextAt.clear();
    else this.#nextAt.set(repo, 0);
    // A pass in flight may take long (it fills every cluster); a pushed commit need not wait for it.
    if (this.#inFlight.has(repo)) this.#check(repo);
    this.#schedule(0);
  }

  /** Checks `repo`'s heads beside the pass in flight; the pass that follows it does the rest. */
  #check(repo: string): void {
    if (this.#checking.has(repo)) {
      this.#checkAgain.add(repo);
      return;
    }
    this.#checking.add(repo);
    const check = this.rollOutHeads(repo)
      .catch((err) => this.o.log.warn({ err, repo }, "head check failed; the next pass retries"))
      .finally(() => {
        this.#checking.delete(repo);
        this.#passes.delete(check);
        if (this.#checkAgain.delete(repo) && this.#running && this.#inFlight.has(repo)) this.#check(repo);
      });
    this.#passes.add(check);
  }

  #schedule(delayMs: number): void {
    if (!this.#running) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#tick(), delayMs);
  }

  async #tick(): Promise<void> {
    try {
      const repos = await this.o.objects.listObjects("Repo");
      // Stopped while waiting: a sync started now would run outside this term, on a conductor
      // already stopped, fenced by whatever lease the replica holds next.
      if (!this.#running) return;
      const now = Date.now();
      for (const repo of repos) {
        if ((this.#nextAt.get(repo.name) ?? 0) > now) continue;
        this.#nextAt.set(
          repo.name,
          now + (repo.pollIntervalSeconds ? repo.pollIntervalSeconds * 1000 : this.o.defaultPollMs),
        );
        this.#run(repo);
      }
    } catch (err) {
      this.o.log.warn({ err }, "tracker could not list repos; retrying");
    }
    this.#schedule(TRACKER_TICK_MS);
  }

  #run(repo: RepoRecord): void {
    if (this.#inFlight.has(repo.name)) {
      this.#again.add(repo.name);
      return;
    }
    this.#inFlight.add(repo.name);
    const pass = this.syncRepo(repo.name)
      .catch((err) => this.o.log.warn({ err, repo: repo.name }, "repo sync failed; will retry on the next poll"))
      .finally(() => {
        this.#inFlight.delete(repo.name);
        this.#passes.delete(pass);
        if (this.#again.delete(repo.name)) this.#nudge(repo.name);
      });
    this.#passes.add(pass);
  }

  /**
   * Publishes a removal for every (cluster, app) of this repo that was deployed and is no longer
   * targeted: the app was deleted or moved to another repo, or the cluster was relabelled out of
   * the app's environments or selector. Targets are computed from the registry alone, never from
   * the heads, so a branch missing on the Git server removes nothing.
   */
  async #removeStale(repo: RepoRecord, repoApps: AppRecord[], clusters: ClusterRecord[]): Promise<number> {
    const targeted = new Set<string>();
    for (const app of repoApps) {
      for (const environment of Object.keys(repo.branches)) {
        for (const c of targetClusters(clusters, environment, app.clusterSelector))
          targeted.add(`${c.name}.${app.name}`);
      }
    }
    const deployed = (await this.o.desired.listDesired({})).filter((d) => d.repo === repo.name && !d.removed);
    let failures = 0;
    for (const d of deployed) {
      if (targeted.has(`${d.cluster}.${d.app}`)) continue;
      try {
        await this.o.publisher.remove(d.cluster, d.app, repo.name);
      } catch (err) {
        if (err instanceof NotLeaderError) throw err;
        failures++;
        this.o.log.warn({ err, cluster: d.cluster, app: d.app }, "could not publish app removal");
      }
    }
    return failures;
  }

  async #listHeads(repo: RepoRecord, credentials: GitCredentials | undefined): Promise<Map<string, string>> {
    const end = this.o.metrics.gitPollDuration.startTimer({ repo: repo.name });
    try {
      return await this.o.refs.listBranchHeads(repo.name, repo.url, credentials);
    } catch (err) {
      this.o.metrics.gitPollErrors.inc({ repo: repo.name });
      throw err;
    } finally {
      end();
    }
  }

  /**
   * Lists the repo's heads and starts the rollouts a moved head asks for, and nothing else: what
   * a webhook needs at once. The next pass (`syncRepo`) records the heads, fills and removes;
   * asking for the same rollout again there changes nothing.
   */
  async rollOutHeads(name: string): Promise<void> {
    const repo = await this.o.objects.getObject("Repo", name);
    if (!repo) return;
    const secrets = await this.o.registry.repoSecrets(repo);
    const heads = await this.#listHeads(repo, secrets.credentials);
    const [apps, team] = await Promise.all([
      this.o.objects.listObjects("App"),
      this.o.objects.getObject("Team", repo.team),
    ]);
    const repoApps = apps.filter((a) => a.repo === repo.name);
    for (const [environment, branch] of Object.entries(repo.branches)) {
      const sha = heads.get(branch);
      const seen = await this.o.heads.getHead(repo.name, environment);
      if (!sha || (seen?.sha === sha && seen.branch === branch)) continue;
      let source: Promise<CommitSource | Error> | undefined;
      const readSource = () => {
        source ??= this.#read(repo, secrets.credentials, branch, sha);
        return source;
      };
      const detectedAtMs = Date.now();
      for (const app of repoApps) {
        const request = await this.#request(app, repo, team, environment, sha, detectedAtMs, readSource);
        if (request) await this.o.conductor.rollOut(app, environment, request);
      }
    }
  }

  /** One pass over one repo: list heads, then roll out what changed and fill in the rest. */
  async syncRepo(name: string): Promise<void> {
    const repo = await this.o.objects.getObject("Repo", name);
    if (!repo) return;
    const secrets = await this.o.registry.repoSecrets(repo);
    const heads = await this.#listHeads(repo, secrets.credentials);
    const [apps, everyCluster, team] = await Promise.all([
      this.o.objects.listObjects("App"),
      this.o.objects.listObjects("Cluster"),
      this.o.objects.getObject("Team", repo.team),
    ]);
    // Only the clusters the repo's team may target (its policy's selector) run its apps.
    const teamPolicy = policyOfTeam(repo.team, team);
    const clusters = everyCluster.filter((c) => teamMayTarget(teamPolicy, c.labels));
    const repoApps = apps.filter((a) => a.repo === repo.name);
    let failures = 0;
    for (const [environment, branch] of Object.entries(repo.branches)) {
      const sha = heads.get(branch);
      if (!sha) {
        this.o.metrics.gitPollErrors.inc({ repo: repo.name });
        this.o.log.warn({ repo: repo.name, environment, branch }, "branch not found on the Git server");
        continue;
      }
      const seen = await this.o.heads.getHead(repo.name, environment);
      const fresh = seen?.sha !== sha || seen.branch !== branch;
      const detectedAtMs = fresh ? Date.now() : (seen?.seenAtMs ?? Date.now());
      let source: Promise<CommitSource | Error> | undefined;
      const readSource = () => {
        source ??= this.#read(repo, secrets.credentials, branch, sha);
        return source;
      };
      for (const app of repoApps) {
        try {
          // Rollout first, head second: a crash in between only repeats an idempotent check.
          const request = await this.#request(app, repo, team, environment, sha, detectedAtMs, readSource);
          if (request) await this.o.conductor.rollOut(app, environment, request);
          failures += await this.o.conductor.fill(
            app,
            environment,
            targetClusters(clusters, environment, app.clusterSelector),
          );
        } catch (err) {
          // One app's failure must not hold back the others; the next pass retries it.
          if (err instanceof NotLeaderError) throw err;
          failures++;
          this.o.log.warn({ err, app: app.name, environment, revision: sha }, "could not roll out the new head");
        }
      }
      if (fresh) {
        await this.o.heads.putHead({ repo: repo.name, environment, branch, sha, seenAtMs: detectedAtMs });
        this.o.log.info(
          { repo: repo.name, environment, branch, revision: sha, previous: seen?.sha },
          "new branch head",
        );
      }
    }
    failures += await this.#removeStale(repo, repoApps, clusters);
    if (failures > 0) throw new HubError(`repo ${repo.name}: ${failures} desired state(s) not published; retrying`);
  }

  /** The commit from the Git cache, or the error that kept it out (which must not block a rollout). */
  async #read(
    repo: RepoRecord,
    credentials: GitCredentials | undefined,
    branch: string,
    sha: string,
  ): Promise<CommitSource | Error> {
    try {
      return await this.o.sources.read(repo.name, repo.url, credentials, branch, sha);
    } catch (err) {
      this.o.log.warn(
        { err, repo: repo.name, branch, revision: sha },
        "cannot read the new head; rolling every app out, lead time from detection",
      );
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  /**
   * What (app, environment) should run, or undefined when its newest rollout already targets
   * the head with the current settings (the steady state: no fetch, no tree walk).
   */
  async #request(
    app: AppRecord,
    repo: RepoRecord,
    team: TeamRecord | undefined,
    environment: string,
    head: string,
    detectedAtMs: number,
    readSource: () => Promise<CommitSource | Error>,
  ): Promise<RolloutRequest | undefined> {
    const settings = settingsOf(app, repo, environment, team);
    const digest = settingsDigest(settings);
    const latest = (await this.o.rollouts.latest(app.name, environment))?.rollout;
    const known = latest
      ? { to: latest.to, ...(latest.sourceDigest ? { sourceDigest: latest.sourceDigest } : {}) }
      : undefined;
    if (!needsSource({ head, settings: digest, ...(known ? { latest: known } : {}) })) return undefined;
    const memo = `${app.name}|${environment}|${head}|${digest}|${latest?.id ?? ""}`;
    const remembered = this.#decided.get(memo);
    if (remembered !== undefined && latest && remembered === latest.to.revision) return undefined;
    const source = await readSource();
    const headInputs = source instanceof Error ? undefined : await inputsDigest(source.tree, settings, environment);
    const { revision, reason } = wantedRevision({
      head,
      settings: digest,
      ...(known ? { latest: known } : {}),
      ...(headInputs ? { headInputs } : {}),
    });
    if (this.#decided.size >= DECISION_MEMORY) this.#decided.clear();
    this.#decided.set(memo, revision);
    if (reason === "inputs unchanged") {
      this.o.log.info(
        { app: app.name, environment, head, keeps: revision },
        "new head changes nothing the app renders; no rollout",
      );
      return undefined;
    }
    return {
      revision,
      settings,
      ...(source instanceof Error ? { commitUnknown: source.message } : { commit: source.commit }),
      ...(headInputs ? { sourceDigest: headInputs } : {}),
      detectedAtMs,
    };
  }
}
