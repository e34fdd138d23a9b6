import type { NameRef, ObjectKind } from "@flotilla/api";
import type { ObjectReader, RolloutStore } from "../store.js";
import type { OwnerFact } from "./decide.js";

/** What a name turned out to be: whether it exists and which team owns it. */
export interface Owner {
  exists: boolean;
  team: string | undefined;
}

/** Repos and teams an applied file declares, which count as existing for the documents after them. */
export interface DeclaredOwners {
  /** Repo name → its team, from the file's Repo documents. */
  repos: ReadonlyMap<string, string>;
}

/**
 * Finds the team that owns a named object: a team owns itself, a repo is its team's, an app its
 * repo's team's, a rollout its app's. Clusters, environments and tokens belong to no team. An
 * object whose chain breaks (a rollout of a deleted app) exists without a team.
 */
export class Ownership {
  constructor(
    private readonly objects: ObjectReader,
    private readonly rollouts: Pick<RolloutStore, "get">,
  ) {}

  async ownerOf(kind: ObjectKind, name: string, declared?: DeclaredOwners): Promise<Owner> {
    switch (kind) {
      case "Team":
        return { exists: true, team: name };
      case "Repo": {
        const inFile = declared?.repos.get(name);
        if (inFile !== undefined) return { exists: true, team: inFile };
        const repo = await this.objects.getObject("Repo", name);
        return repo ? { exists: true, team: repo.team } : { exists: false, team: undefined };
      }
      case "App": {
        const app = await this.objects.getObject("App", name);
        if (!app) return { exists: false, team: undefined };
        return { exists: true, team: (await this.ownerOf("Repo", app.repo)).team };
      }
      case "Rollout": {
        const stored = await this.rollouts.get(name);
        if (!stored) return { exists: false, team: undefined };
        return { exists: true, team: (await this.ownerOf("App", stored.rollout.app)).team };
      }
      default:
        return { exists: true, team: undefined };
    }
  }

  /** The facts of every name in `refs` that the request carries (names it leaves out are skipped). */
  async facts(
    refs: readonly NameRef[],
    nameAt: (ref: NameRef) => string | undefined,
    declared?: DeclaredOwners,
  ): Promise<OwnerFact[]> {
    const named = refs.flatMap((ref) => {
      const name = nameAt(ref);
      return name === undefined || name === "" ? [] : [{ ref, name }];
    });
    return Promise.all(
      named.map(async ({ ref, name }) => ({ ref, name, ...(await this.ownerOf(ref.kind, name, declared)) })),
    );
  }

  /** Team of every app, in one pass over repos and apps, for filtering lists. */
  async appTeams(): Promise<Map<string, string>> {
    const [repos, apps] = await Promise.all([this.objects.listObjects("Repo"), this.objects.listObjects("App")]);
    const teamOfRepo = new Map(repos.map((r) => [r.name, r.team]));
    const out = new Map<string, string>();
    for (const a of apps) {
      const team = teamOfRepo.get(a.repo);
      if (team !== undefined) out.set(a.name, team);
    }
    return out;
  }
}
