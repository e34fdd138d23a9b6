/**
 * Copy-on-write copies of a rollout. A step over a wave of thousands of clusters changes a few
 * of them (those whose reports arrived); copying every cluster's progress first, and then
 * turning every one into text again to store it, made each step cost the whole rollout. A copy
 * made here shares each cluster's progress with the original until {@link own} hands out a
 * private copy of that one cluster to change. The original is never changed, and a cluster the
 * step left alone keeps its identity, by which the rollout store keeps its stored text.
 */
import type { ClusterProgress, RolloutState, WaveProgress } from "./state.js";

/** Per copy made by {@link copyRollout}: the clusters already copied for it. */
const owned = new WeakMap<RolloutState, WeakSet<ClusterProgress>>();

/** A copy of `rollout` whose header and waves are its own and whose clusters are shared. */
export function copyRollout(rollout: RolloutState): RolloutState {
  const { waves, ...header } = rollout;
  const next: RolloutState = {
    ...structuredClone(header),
    waves: waves.map(({ clusters, ...wave }) => ({ ...structuredClone(wave), clusters: [...clusters] })),
  };
  owned.set(next, new WeakSet());
  return next;
}

/**
 * The progress of `wave.clusters[index]` to change in `rollout`: for a copy of
 * {@link copyRollout}, its own copy of that cluster (made at the first call); for any other
 * rollout (already the caller's own), the cluster itself.
 */
export function own(rollout: RolloutState, wave: WaveProgress, index: number): ClusterProgress {
  const c = wave.clusters[index];
  if (!c) throw new RangeError(`wave "${wave.name}" has no cluster at ${index}`);
  const mine = owned.get(rollout);
  if (!mine || mine.has(c)) return c;
  const copy = structuredClone(c);
  mine.add(copy);
  wave.clusters[index] = copy;
  return copy;
}
