import {
  type ApplyAction,
  type ApplyResult,
  type AppSpec,
  type BootstrapBundle,
  type ClusterPage,
  type ClusterSpec,
  type ClusterView,
  type EnvironmentSpec,
  type Kind,
  matchesSelector,
  namespaceBreach,
  type PolicyBreach,
  type PrometheusCredentials,
  parseSelector,
  type ReceiverSpec,
  type Repo,
  type RepoSpec,
  repoUrlBreach,
  type SpecOf,
  type TeamSpec,
} from "@flotilla/api";
import {
  ResolveError,
  type Resolver,
  resolveRepoUrl,
  systemResolver,
  UrlRefusedError,
  type UrlRules,
} from "@flotilla/netguard";
import { generateSigningKey, publicKeyToPem, type SigningKey, signingKeyToPem } from "@flotilla/proto";
import type { Logger } from "pino";
import { ConflictError, NotFoundError, ValidationError } from "../errors.js";
import type { SecretBox } from "../secrets/secretbox.js";
import type { EventBus } from "../status/events.js";
import type {
  AppRecord,
  ClusterCleanup,
  ClusterRecord,
  ClusterStatusStore,
  EnvironmentRecord,
  ObjectStore,
  RepoRecord,
  RepoSecrets,
  TeamRecord,
} from "../store.js";
import { AgentKeys } from "./agent-keys.js";
import { type ApplyDocument, completeReceiver, keepWriteOnly, parseApplyDocuments, planApply, where } from "./apply.js";
import { canonicalJson } from "./canonical.js";
import type { ClusterCredentialIssuer } from "./credentials.js";
import { dependencyCycle } from "./dependencies.js";
import { policyOfTeam } from "./team-policy.js";

/** Clusters one bulk registration stores at once: enough to hide Redis round trips, few enough to keep the event loop free. */
export const REGISTRATION_CONCURRENCY = 32;

export interface RegistryOptions {
  objects: ObjectStore;
  /** What repository URLs may reach; checked, with their names resolved, when a repo is saved. */
  gitRules: UrlRules;
  /** Resolves repository host names. @default the system resolver */
  resolver?: Resolver;
  statuses: ClusterStatusStore;
  cleanup: ClusterCleanup;
  box: SecretBox;
  events: EventBus;
  hubKey: SigningKey;
  /** NATS URL written into bootstrap bundles. */
  agentNatsUrl: string;
  /** PEM of the CA written into bootstrap bundles, which agents verify NATS's certificate with. */
  agentNatsCa?: string;
  issuer?: ClusterCredentialIssuer;
  /** Clears what the transport holds for a deregistered cluster (its KV keys). */
  onClusterDeleted?: (cluster: string) => Promise<void>;
  /** Ids of the API tokens of a team: a team that has some cannot be deleted. */
  teamTokens?: (team: string) => Promise<string[]>;
  /** The notification receivers, which Receiver documents of an apply write; none: such documents are refused. */
  receivers?: ApplyReceivers;
  log: Logger;
}

/** What an apply needs of the notification receivers (notify/receivers.ts). */
export interface ApplyReceivers {
  /** The spec a receiver was written with, URL and secret opened; undefined when none. */
  spec(name: string): Promise<ReceiverSpec | undefined>;
  /** Refuses a URL the receiver address rules refuse (ValidationError on `field`, naming `where`). */
  check(spec: Pick<ReceiverSpec, "url">, field?: string, where?: string): Promise<void>;
  write(name: string, spec: ReceiverSpec): Promise<unknown>;
}

function repoSecretsContext(name: string): string {
  return `repo/${name}`;
}

function prometheusContext(environment: string): string {
  return `environment/${environment}/prometheus`;
}

/** An environment as the API shows it: its Prometheus credentials only by whether it has them. */
function environmentView<T>(record: T): T {
  const { sealedPrometheusCredentials: _s, ...view } = record as EnvironmentRecord;
  return view as T;
}

/**
 * The fleet registry: clusters, teams, repos, apps and environments, with the checks that keep
 * references whole. Every change is written to the Store first, then announced (an event for
 * SSE clients, a nudge so the leader's tracker re-syncs what it touches).
 */
export class Registry {
  constructor(private readonly o: RegistryOptions) {}

  // ---- clusters ----

  /**
   * One page of clusters in name order, with their state, last heartbeat and agent version:
   * `limit` of them (all without it) after the cluster a `continue` token names, matching
   * `selector`. Without a selector only the page's clusters are read, so a page costs the same
   * in a fleet of any size; statuses come in one round trip per page.
   */
  async listClusterPage(query: { limit?: number; continue?: string; selector?: string }): Promise<ClusterPage> {
    const after = query.continue === undefined ? undefined : pageAfter(query.continue);
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    let page: ClusterRecord[];
    let more: boolean;
    if (query.selector) {
      const requirements = parseSelector(query.selector);
      const matching = (await this.o.objects.listObjects("Cluster")).filter(
        (c) => (after === undefined || c.name > after) && matchesSelector(requirements, c.labels),
      );
      page = matching.slice(0, limit);
      more = matching.length > page.length;
    } else {
      const names = await this.o.objects.listNames("Cluster");
      const start = after === undefined ? 0 : firstAfter(names, after);
      const wanted = names.slice(start, start + limit);
      const records = await this.o.objects.getObjects("Cluster", wanted);
      page = wanted.flatMap((n) => records.get(n) ?? []);
      more = start + wanted.length < names.length;
    }
    const statuses = await this.o.statuses.getClusterStatuses(page.map((c) => c.name));
    const items = page.map((c) => {
      const s = statuses.get(c.name);
      return {
        ...clusterView(c),
        status: {
          state: s?.state ?? "Pending",
          ...(s?.lastHeartbeatMs !== undefined ? { lastHeartbeatMs: s.lastHeartbeatMs } : {}),
          ...(s?.agentVersion !== undefined ? { agentVersion: s.agentVersion } : {}),
        },
      };
    });
    const last = page.at(-1);
    return more && last ? { items, continue: pageToken(last.name) } : { items };
  }

  async getCluster(name: string): Promise<ClusterRecord> {
    const c = await this.o.objects.getObject("Cluster", name);
    if (!c) throw new NotFoundError("cluster", name);
    return c;
  }

  /**
   * Registers a cluster: generates its agent's key (only the public half is stored), mints its
   * NATS credentials when an operator setup is configured, and returns the bootstrap bundle —
   * the one time the agent's private key leaves the hub. 409 when the name is taken.
   */
  async createCluster(name: string, spec: ClusterSpec): Promise<BootstrapBundle> {
    const [bundle] = await this.#createClusters([{ name, spec }]);
    return bundle as BootstrapBundle;
  }

  /**
   * Registers many clusters, {@link REGISTRATION_CONCURRENCY} at a time, and announces them in
   * one event message and one nudge: a bulk registration (an apply of hundreds of Cluster
   * documents) costs a few round trips per cluster, not a sequence of them. When one fails (a
   * name taken meanwhile), the registrations under way finish and are announced, none starts
   * after it, and the first failure is thrown.
   */
  async #createClusters(docs: readonly { name: string; spec: ClusterSpec }[]): Promise<BootstrapBundle[]> {
    const bundles: BootstrapBundle[] = new Array(docs.length);
    let failure: { err: unknown } | undefined;
    let next = 0;
    const created: string[] = [];
    const worker = async () => {
      for (let i = next++; i < docs.length && !failure; i = next++) {
        const doc = docs[i] as { name: string; spec: ClusterSpec };
        try {
          bundles[i] = await this.#register(doc.name, doc.spec);
          created.push(doc.name);
        } catch (err) {
          failure ??= { err };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(REGISTRATION_CONCURRENCY, docs.length) }, worker));
    if (created.length > 0) {
      const atMs = Date.now();
      await this.o.events.emitAll(
        created.map((name) => ({ type: "registry", kind: "Cluster", name, action: "created", atMs }) as const),
      );
      await this.o.events.nudge("*");
    }
    if (failure) throw failure.err;
    return bundles;
  }

  /** Stores a new cluster and its Pending status; announcing it is the caller's. */
  async #register(name: string, spec: ClusterSpec): Promise<BootstrapBundle> {
    const agentKey = generateSigningKey();
    // A new name has no assignments (deregistration forgets them): its agent asks for each
    // app's status key when that app's first desired state arrives (nats/creds.ts).
    const minted = this.o.issuer ? await this.o.issuer.mint(name, []) : undefined;
    const record: ClusterRecord = {
      name,
      labels: spec.labels,
      agentPublicKey: publicKeyToPem(agentKey.publicKey),
      ...(minted ? { natsUserPublicKey: minted.userPublicKey } : {}),
      createdAtMs: Date.now(),
    };
    if (!(await this.o.objects.createObject("Cluster", record))) {
      if (minted && this.o.issuer) await this.o.issuer.revoke(name, minted.userPublicKey).catch(() => {});
      throw new ConflictError("cluster", name, "already registered; delete it first to re-register");
    }
    await this.o.statuses.putClusterStatus(name, { state: "Pending", changedAtMs: Date.now() });
    this.o.log.info({ cluster: name, labels: spec.labels, natsCredentials: Boolean(minted) }, "cluster registered");
    return {
      cluster: name,
      natsUrl: this.o.agentNatsUrl,
      natsCreds: minted?.creds ?? "",
      ...(this.o.agentNatsCa ? { natsCa: this.o.agentNatsCa } : {}),
      hubPublicKey: publicKeyToPem(this.o.hubKey.publicKey),
      agentSigningKey: signingKeyToPem(agentKey),
    };
  }

  /** Replaces a cluster's labels (its keys and credentials stay). */
  async updateCluster(name: string, spec: ClusterSpec): Promise<ClusterView> {
    const current = await this.getCluster(name);
    const next = { ...current, labels: spec.labels };
    await this.o.objects.putObject("Cluster", next);
    await this.#announce("Cluster", name, "configured", "*");
    return clusterView(next);
  }

  /**
   * Marks a cluster's NATS user for rotation at the agent's next renewal (nats/creds.ts). False
   * when the cluster has no NATS user to rotate.
   */
  async requestRotation(name: string): Promise<boolean> {
    const current = await this.getCluster(name);
    if (!current.natsUserPublicKey) return false;
    await this.o.objects.putObject("Cluster", { ...current, natsRotateRequested: true });
    this.o.log.info({ cluster: name }, "NATS credentials rotation requested");
    return true;
  }

  /** Deregisters a cluster and revokes its NATS user, so its credentials stop working. */
  async deleteCluster(name: string): Promise<void> {
    const current = await this.getCluster(name);
    if (current.natsUserPublicKey && this.o.issuer) await this.o.issuer.revoke(name, current.natsUserPublicKey);
    await this.o.objects.deleteObject("Cluster", name);
    await this.o.cleanup.forgetCluster(name);
    await this.o
      .onClusterDeleted?.(name)
      .catch((err) => this.o.log.warn({ err, cluster: name }, "could not clear the deregistered cluster's KV keys"));
    this.o.log.info({ cluster: name }, "cluster deregistered");
    await this.#announce("Cluster", name, "deleted", undefined);
  }

  // ---- teams, repos, apps, environments ----

  async list<K extends "Team" | "App" | "Environment">(kind: K) {
    const records = await this.o.objects.listObjects(kind);
    return kind === "Environment" ? records.map(environmentView) : records;
  }

  async get<K extends "Team" | "App" | "Environment">(kind: K, name: string) {
    const record = await this.o.objects.getObject(kind, name);
    if (!record) throw new NotFoundError(kind.toLowerCase(), name);
    return kind === "Environment" ? environmentView(record) : record;
  }

  /** An environment's decrypted Prometheus credentials, for the conductor's analyses only. */
  async prometheusCredentials(environment: string): Promise<PrometheusCredentials | undefined> {
    const record = await this.o.objects.getObject("Environment", environment);
    if (!record?.sealedPrometheusCredentials) return undefined;
    return JSON.parse(
      this.o.box.open(record.sealedPrometheusCredentials, prometheusContext(environment)),
    ) as PrometheusCredentials;
  }

  async listRepos(): Promise<Repo[]> {
    return (await this.o.objects.listObjects("Repo")).map(repoView);
  }

  async getRepo(name: string): Promise<Repo> {
    const record = await this.o.objects.getObject("Repo", name);
    if (!record) throw new NotFoundError("repo", name);
    return repoView(record);
  }

  /** The repo's decrypted credentials and webhook secret, for the tracker and webhook check only. */
  async repoSecrets(record: RepoRecord): Promise<RepoSecrets> {
    if (!record.sealedSecrets) return {};
    return JSON.parse(this.o.box.open(record.sealedSecrets, repoSecretsContext(record.name))) as RepoSecrets;
  }

  /**
   * Creates (`mode: "create"`, 409 if it exists) or creates-or-replaces (`"upsert"`) a team,
   * repo, app or environment, after checking its references. Returns what happened.
   */
  async put<K extends "Team" | "Repo" | "App" | "Environment">(
    kind: K,
    name: string,
    spec: SpecOf[K],
    mode: "create" | "upsert",
  ): Promise<ApplyAction> {
    await this.#checkReferences(kind, spec);
    if (kind === "App") await this.#checkDependencies([{ name, spec: spec as AppSpec }]);
    const before = await this.specOf(kind, name);
    if (mode === "create" && before !== undefined) {
      throw new ConflictError(kind.toLowerCase(), name, "already exists; use PUT to replace it");
    }
    if (before !== undefined && canonicalJson(before) === canonicalJson(spec)) return "unchanged";
    await this.#write(kind, name, spec);
    const action: ApplyAction = before === undefined ? "created" : "configured";
    await this.#announce(kind, name, action, this.#nudgeTarget(kind, name, spec));
    return action;
  }

  async delete(kind: "Team" | "Repo" | "App" | "Environment", name: string): Promise<void> {
    const record = await this.o.objects.getObject(kind, name);
    if (!record) throw new NotFoundError(kind.toLowerCase(), name);
    if (kind === "Team") {
      const repos = (await this.o.objects.listObjects("Repo")).filter((r) => r.team === name);
      if (repos.length > 0) {
        throw new ConflictError(
          "team",
          name,
          `still owns repos ${repos.map((r) => r.name).join(", ")}; delete them first`,
        );
      }
      // A token outliving its team would act for any later team of the same name.
      const tokens = (await this.o.teamTokens?.(name)) ?? [];
      if (tokens.length > 0) {
        throw new ConflictError(
          "team",
          name,
          `still has API tokens ${tokens.join(", ")}; revoke them first ('flotilla token revoke <id>')`,
        );
      }
    }
    if (kind === "Repo") {
      const apps = (await this.o.objects.listObjects("App")).filter((a) => a.repo === name);
      if (apps.length > 0) {
        throw new ConflictError(
          "repo",
          name,
          `still has apps ${apps.map((a) => a.name).join(", ")}; delete them first`,
        );
      }
    }
    await this.o.objects.deleteObject(kind, name);
    // The app's repo is re-synced, which publishes the removal to every cluster that ran it.
    await this.#announce(kind, name, "deleted", kind === "App" ? (record as AppRecord).repo : undefined);
  }

  /** The current spec of an object as an apply would write it (secrets decrypted), or undefined. */
  async specOf(kind: Kind, name: string): Promise<unknown> {
    switch (kind) {
      case "Cluster": {
        const c = await this.o.objects.getObject("Cluster", name);
        return c ? ({ labels: c.labels } satisfies ClusterSpec) : undefined;
      }
      case "Team": {
        const t = await this.o.objects.getObject("Team", name);
        if (!t) return undefined;
        const { name: _n, ...spec } = t;
        return spec satisfies TeamSpec;
      }
      case "Repo": {
        const r = await this.o.objects.getObject("Repo", name);
        if (!r) return undefined;
        const { name: _n, sealedSecrets: _s, hasCredentials: _c, hasWebhookSecret: _w, ...rest } = r;
        const secrets = await this.repoSecrets(r);
        return { ...rest, ...secrets } satisfies RepoSpec;
      }
      case "App": {
        const a = await this.o.objects.getObject("App", name);
        if (!a) return undefined;
        const { name: _n, ...spec } = a;
        return spec satisfies AppSpec;
      }
      case "Environment": {
        const e = await this.o.objects.getObject("Environment", name);
        if (!e) return undefined;
        const { name: _n, sealedPrometheusCredentials: _s, hasPrometheusCredentials: _h, ...spec } = e;
        const credentials = await this.prometheusCredentials(name);
        return { ...spec, ...(credentials ? { prometheusCredentials: credentials } : {}) } satisfies EnvironmentSpec;
      }
      case "Receiver":
        return this.o.receivers?.spec(name);
    }
  }

  /**
   * Applies a multi-document YAML file: validates every document and every reference first
   * (nothing is written if any fails), then writes in dependency order. Applying the same file
   * again reports every object `unchanged` and writes nothing.
   */
  async apply(text: string): Promise<ApplyResult[]> {
    const docs = parseApplyDocuments(text);
    await this.#checkPolicies(docs);
    for (const d of docs) {
      if (d.kind === "Repo") await this.#checkRepoUrl(d.spec.url, where(d.index, d.kind, d.name));
    }
    const current = new Map<string, unknown>();
    await Promise.all(docs.map(async (d) => current.set(`${d.kind}/${d.name}`, await this.specOf(d.kind, d.name))));
    for (const d of docs) if (d.kind === "Repo") keepWriteOnly(d.spec, current.get(`Repo/${d.name}`) as RepoSpec);
    // Receivers: the stored URL and secret where a document leaves them out, then the checks of
    // `PUT /v1/receivers/{name}`, all before anything is written.
    const receivers = new Map<string, ReceiverSpec>();
    for (const d of docs) {
      if (d.kind !== "Receiver") continue;
      const at = where(d.index, d.kind, d.name);
      if (!this.o.receivers) {
        throw new ValidationError("kind", "this hub keeps no notification receivers; leave the document out", at);
      }
      const spec = completeReceiver(d, current.get(`Receiver/${d.name}`) as ReceiverSpec | undefined);
      await this.o.receivers.check(spec, "spec.url", at);
      d.spec = spec;
      receivers.set(d.name, spec);
    }
    const refs = new Map<string, boolean>();
    const needed = docs.flatMap((d): ["Team" | "Repo", string][] =>
      d.kind === "Repo" ? [["Team", d.spec.team]] : d.kind === "App" ? [["Repo", d.spec.repo]] : [],
    );
    await Promise.all(
      needed.map(async ([kind, name]) =>
        refs.set(`${kind}/${name}`, (await this.o.objects.getObject(kind, name)) !== undefined),
      ),
    );
    const plan = planApply(docs, {
      spec: (kind, name) => current.get(`${kind}/${name}`),
      exists: (kind, name) => refs.get(`${kind}/${name}`) === true || current.get(`${kind}/${name}`) !== undefined,
    });
    await this.#checkDependencies(
      docs.flatMap((d) =>
        d.kind === "App" ? [{ name: d.name, spec: d.spec, where: where(d.index, d.kind, d.name) }] : [],
      ),
    );
    const results: ApplyResult[] = [];
    // New clusters next to each other in the plan are registered together (see #createClusters).
    let newClusters: { result: ApplyResult; name: string; spec: ClusterSpec }[] = [];
    const registerNew = async () => {
      const batch = newClusters;
      newClusters = [];
      if (batch.length === 0) return;
      const bundles = await this.#createClusters(batch);
      batch.forEach((c, i) => {
        c.result.bootstrap = bundles[i];
      });
    };
    for (const { doc, action } of plan) {
      const result: ApplyResult = { index: doc.index, kind: doc.kind, name: doc.name, action };
      results.push(result);
      if (doc.kind === "Cluster" && action === "created") {
        newClusters.push({ result, name: doc.name, spec: doc.spec });
        continue;
      }
      await registerNew();
      if (action !== "unchanged") {
        if (doc.kind === "Cluster") {
          await this.updateCluster(doc.name, doc.spec);
        } else if (doc.kind === "Receiver") {
          const spec = receivers.get(doc.name);
          if (spec) await this.o.receivers?.write(doc.name, spec);
        } else {
          await this.#write(doc.kind, doc.name, doc.spec);
          await this.#announce(doc.kind, doc.name, action, this.#nudgeTarget(doc.kind, doc.name, doc.spec));
        }
      }
    }
    await registerNew();
    return results.sort((a, b) => a.index - b.index);
  }

  /**
   * Refuses a repo URL that breaks the Git URL rules (400 naming why). A name that does not
   * resolve now is let through: the tracker checks again before every listing, and says so.
   */
  async #checkRepoUrl(url: string, where = ""): Promise<void> {
    try {
      await resolveRepoUrl(url, this.o.gitRules, this.o.resolver ?? systemResolver);
    } catch (err) {
      if (err instanceof ResolveError) return;
      if (err instanceof UrlRefusedError) throw new ValidationError("url", err.message, where);
      throw err;
    }
  }

  /**
   * Refuses apps whose `dependsOn` names an app that neither exists nor comes in the same
   * apply, or that would close a cycle with the stored apps (400 naming the cycle).
   */
  async #checkDependencies(apps: readonly { name: string; spec: AppSpec; where?: string }[]): Promise<void> {
    if (!apps.some((a) => a.spec.dependsOn?.length)) return;
    const graph = new Map<string, readonly string[]>(
      (await this.o.objects.listObjects("App")).map((a) => [a.name, a.dependsOn ?? []]),
    );
    for (const a of apps) graph.set(a.name, a.spec.dependsOn ?? []);
    for (const a of apps)
      for (const dep of a.spec.dependsOn ?? [])
        if (!graph.has(dep))
          throw new ValidationError(
            "spec.dependsOn",
            `app ${JSON.stringify(dep)} does not exist; add an App document or create it first`,
            a.where ?? "",
          );
    const cycle = dependencyCycle(
      graph,
      apps.map((a) => a.name),
    );
    if (cycle) {
      const at = apps.find((a) => cycle.includes(a.name));
      throw new ValidationError(
        "spec.dependsOn",
        `apps would depend on each other in a cycle: ${cycle.join(" → ")}; remove one of these dependencies`,
        at?.where ?? "",
      );
    }
  }

  async #checkReferences(kind: Kind, spec: unknown): Promise<void> {
    if (kind === "Repo") {
      await this.#checkRepoUrl((spec as RepoSpec).url);
      const team = (spec as RepoSpec).team;
      const record = await this.o.objects.getObject("Team", team);
      if (!record) {
        throw new ValidationError("team", `team ${JSON.stringify(team)} does not exist; create it first`);
      }
      refuseBreach(repoUrlBreach(policyOfTeam(team, record), (spec as RepoSpec).url));
    }
    if (kind === "App") {
      const repo = (spec as AppSpec).repo;
      const record = await this.o.objects.getObject("Repo", repo);
      if (!record) {
        throw new ValidationError("repo", `repo ${JSON.stringify(repo)} does not exist; create it first`);
      }
      const team = await this.o.objects.getObject("Team", record.team);
      refuseBreach(namespaceBreach(policyOfTeam(record.team, team), (spec as AppSpec).namespace));
    }
  }

  /**
   * Checks every Repo and App document of an apply against its team's policy, as the file would
   * leave it: a Team or Repo document in the same file counts over the stored one.
   */
  async #checkPolicies(docs: readonly ApplyDocument[]): Promise<void> {
    const teams = new Map<string, TeamRecord | undefined>();
    const repos = new Map<string, string | undefined>();
    for (const d of docs) {
      if (d.kind === "Team") teams.set(d.name, { name: d.name, ...d.spec });
      if (d.kind === "Repo") repos.set(d.name, d.spec.team);
    }
    const teamOf = async (name: string) =>
      teams.has(name) ? teams.get(name) : await this.o.objects.getObject("Team", name);
    for (const d of docs) {
      const at = where(d.index, d.kind, d.name);
      if (d.kind === "Repo") {
        refuseBreach(repoUrlBreach(policyOfTeam(d.spec.team, await teamOf(d.spec.team)), d.spec.url), at);
      }
      if (d.kind === "App") {
        const team = repos.has(d.spec.repo)
          ? repos.get(d.spec.repo)
          : (await this.o.objects.getObject("Repo", d.spec.repo))?.team;
        // A repo that does not exist is planApply's to refuse, naming the reference.
        if (team !== undefined)
          refuseBreach(namespaceBreach(policyOfTeam(team, await teamOf(team)), d.spec.namespace), at);
      }
    }
  }

  async #write(kind: "Team" | "Repo" | "App" | "Environment", name: string, spec: unknown): Promise<void> {
    switch (kind) {
      case "Repo": {
        const { credentials, webhookSecret, ...rest } = spec as RepoSpec;
        const secrets: RepoSecrets = {
          ...(credentials ? { credentials } : {}),
          ...(webhookSecret ? { webhookSecret } : {}),
        };
        const hasSecrets = credentials !== undefined || webhookSecret !== undefined;
        await this.o.objects.putObject("Repo", {
          name,
          ...rest,
          ...(hasSecrets ? { sealedSecrets: this.o.box.seal(JSON.stringify(secrets), repoSecretsContext(name)) } : {}),
          hasCredentials: credentials !== undefined,
          hasWebhookSecret: webhookSecret !== undefined,
        });
        return;
      }
      case "Team":
        await this.o.objects.putObject("Team", { name, ...(spec as TeamSpec) });
        return;
      case "App":
        await this.o.objects.putObject("App", { name, ...(spec as AppSpec) });
        return;
      case "Environment": {
        const { prometheusCredentials, ...rest } = spec as EnvironmentSpec;
        await this.o.objects.putObject("Environment", {
          name,
          ...rest,
          ...(prometheusCredentials
            ? {
                sealedPrometheusCredentials: this.o.box.seal(
                  JSON.stringify(prometheusCredentials),
                  prometheusContext(name),
                ),
                hasPrometheusCredentials: true,
              }
            : {}),
        });
        return;
      }
    }
  }

  #nudgeTarget(kind: Kind, name: string, spec: unknown): string | undefined {
    if (kind === "Repo") return name;
    if (kind === "App") return (spec as AppSpec).repo;
    // The team's settings travel in every desired state of its apps: re-check them all.
    if (kind === "Team") return "*";
    return undefined;
  }

  async #announce(kind: Kind, name: string, action: string, nudge: string | undefined): Promise<void> {
    await this.o.events.emit({ type: "registry", kind, name, action, atMs: Date.now() });
    if (nudge) await this.o.events.nudge(nudge);
  }
}

/**
 * Refuses (400) what breaks a team's policy, naming the field and the rule; in an apply the
 * field is the document's (`spec.url`) and `where` names the document.
 */
function refuseBreach(breach: PolicyBreach | undefined, where = ""): void {
  if (!breach) return;
  throw new ValidationError(where ? `spec.${breach.field}` : breach.field, breach.reason, where);
}

/** The `continue` token after cluster `name`: opaque to clients, so its form may change. */
function pageToken(name: string): string {
  return Buffer.from(`after:${name}`).toString("base64url");
}

/** The cluster name a `continue` token names; ValidationError when it is not one this hub gave. */
function pageAfter(token: string): string {
  const text = Buffer.from(token, "base64url").toString("utf8");
  if (!text.startsWith("after:") || text.length === "after:".length) {
    throw new ValidationError("continue", "is not a token this hub gave; list again without it");
  }
  return text.slice("after:".length);
}

/** Index of the first name greater than `after` in sorted `names`. */
function firstAfter(names: readonly string[], after: string): number {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((names[mid] ?? "") <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Parsed once per key: listing thousands of clusters must not parse thousands of PEMs per call. */
const agentKeys = new AgentKeys();

/** A cluster as the API shows it: its agent's key only by id. */
export function clusterView(c: ClusterRecord): ClusterView {
  return {
    name: c.name,
    labels: c.labels,
    agentKeyId: agentKeys.keyId(c.agentPublicKey),
    hasNatsCredentials: c.natsUserPublicKey !== undefined,
    createdAtMs: c.createdAtMs,
  };
}

function repoView(r: RepoRecord): Repo {
  const { sealedSecrets: _s, ...view } = r;
  return view;
}
