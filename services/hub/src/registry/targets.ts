/** The label that puts a cluster in an environment. */
export const ENV_LABEL = "env";

interface Labelled {
  name: string;
  labels: Record<string, string>;
}

/** True when `labels` carry every key/value of `selector`. */
export function matchesSelector(labels: Record<string, string>, selector: Record<string, string> | undefined): boolean {
  if (!selector) return true;
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

/**
 * The clusters an app runs on in one environment: those labelled `env=<environment>` that
 * also match the app's cluster selector, sorted by name so every replica computes the same list.
 */
export function targetClusters<C extends Labelled>(
  clusters: readonly C[],
  environment: string,
  selector: Record<string, string> | undefined,
): C[] {
  return clusters
    .filter((c) => c.labels[ENV_LABEL] === environment && matchesSelector(c.labels, selector))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Path of an app for one environment: `{env}` in the app's path is replaced by the environment name. */
export function resolveAppPath(path: string, env: string): string {
  return path.replaceAll("{env}", env);
}
