import type { GitCredentials } from "@flotilla/api";
import git from "isomorphic-git";
import http from "isomorphic-git/http/node";
import { GitError } from "../errors.js";

/** Asks a Git server for its branch heads, without cloning. */
export interface RefLister {
  /** Branch name (without `refs/heads/`) → commit SHA. Throws GitError (retryable). */
  listBranchHeads(repo: string, url: string, credentials: GitCredentials | undefined): Promise<Map<string, string>>;
}

const HEADS = "refs/heads/";

/** RefLister over isomorphic-git's `listServerRefs` (protocol v2, ~15 ms against http-backend). */
export class IsomorphicGitRefLister implements RefLister {
  async listBranchHeads(
    repo: string,
    url: string,
    credentials: GitCredentials | undefined,
  ): Promise<Map<string, string>> {
    let refs: { ref: string; oid: string }[];
    try {
      refs = await git.listServerRefs({
        http,
        url,
        prefix: HEADS,
        protocolVersion: 2,
        ...(credentials ? { onAuth: () => ({ username: credentials.username, password: credentials.password }) } : {}),
        // Without this isomorphic-git asks onAuth again forever on a 401 with bad credentials.
        onAuthFailure: () => ({ cancel: true }),
      });
    } catch (err) {
      throw new GitError(repo, `cannot list branches of ${url}: ${(err as Error).message}`, { cause: err });
    }
    return new Map(refs.filter((r) => r.ref.startsWith(HEADS)).map((r) => [r.ref.slice(HEADS.length), r.oid]));
  }
}
