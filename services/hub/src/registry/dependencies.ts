/**
 * App dependencies as a graph, checked when apps are saved: every app named in `dependsOn`
 * exists (in the registry or the same apply), and no app depends on itself through others. Pure.
 */

/**
 * The first cycle found, as the path that closes it (`["api", "db", "api"]`), or undefined.
 * The search starts from `first` (the apps being saved, so the cycle is named from the app the
 * user touched), then the others by name.
 */
export function dependencyCycle(
  graph: ReadonlyMap<string, readonly string[]>,
  first: readonly string[] = [],
): string[] | undefined {
  const state = new Map<string, "visiting" | "done">();
  const path: string[] = [];
  const visit = (app: string): string[] | undefined => {
    const seen = state.get(app);
    if (seen === "done") return undefined;
    if (seen === "visiting") return [...path.slice(path.indexOf(app)), app];
    state.set(app, "visiting");
    path.push(app);
    for (const dep of graph.get(app) ?? []) {
      const cycle = visit(dep);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(app, "done");
    return undefined;
  };
  for (const app of [...first, ...[...graph.keys()].sort()]) {
    const cycle = visit(app);
    if (cycle) return cycle;
  }
  return undefined;
}
