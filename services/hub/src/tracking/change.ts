/**
 * Which revision an app should run after a new head: the head, unless the app's settings are
 * the same as its newest rollout's and its inputs at the head are known to equal those at that
 * rollout's revision (then the app keeps that revision: nothing it renders changed, so it does
 * not roll). Pure; the tracker gathers the inputs.
 */

import type { RolloutTarget } from "../rollout/index.js";

/** What the decision looks at. */
export interface ChangeInputs {
  /** The branch head now. */
  head: string;
  /** Digest of the app's settings now. */
  settings: string;
  /** The newest rollout of (app, environment): its target and the input digest recorded for it. */
  latest?: { to: RolloutTarget; sourceDigest?: string };
  /** Digest of the app's inputs at `head` under the current settings; undefined when unknown. */
  headInputs?: string;
}

/** Why a revision was chosen, for logs. */
export type ChangeReason =
  | "first rollout"
  | "already at the head"
  | "settings changed"
  | "inputs changed"
  | "inputs unknown"
  | "inputs unchanged";

/** The revision the app should run and why. */
export function wantedRevision(i: ChangeInputs): { revision: string; reason: ChangeReason } {
  const latest = i.latest;
  if (!latest) return { revision: i.head, reason: "first rollout" };
  if (latest.to.revision === i.head) return { revision: i.head, reason: "already at the head" };
  // New settings may name paths that exist only at the head; roll both together.
  if (latest.to.settings !== i.settings) return { revision: i.head, reason: "settings changed" };
  if (i.headInputs === undefined || latest.sourceDigest === undefined)
    return { revision: i.head, reason: "inputs unknown" };
  if (i.headInputs !== latest.sourceDigest) return { revision: i.head, reason: "inputs changed" };
  return { revision: latest.to.revision, reason: "inputs unchanged" };
}

/** Whether deciding needs the head's inputs (and so a fetch): only when the head moved past the newest rollout. */
export function needsSource(i: Omit<ChangeInputs, "headInputs">): boolean {
  return i.latest?.to.revision !== i.head || i.latest.to.settings !== i.settings;
}
