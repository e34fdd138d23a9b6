/**
 * A summary of a V8 CPU profile (`node --cpu-prof`): the functions that took the most time,
 * by self time (spent in the function itself) and total time (with what it called).
 */
import { readdir, readFile } from "node:fs/promises";
import { basename, join } from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** One function's share of a profile. */
export interface ProfileEntry {
  fn: string;
  selfMs: number;
  totalMs: number;
}

function nameOf(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  if (!url) return `(${functionName || "anonymous"})`;
  const file = url.includes("/node_modules/")
    ? url.slice(url.lastIndexOf("/node_modules/") + "/node_modules/".length)
    : basename(url);
  return `${functionName || "(anonymous)"} ${file}:${lineNumber + 1}`;
}

/** Self and total time per function of one profile, largest total first. */
export function summarise(profile: CpuProfile): { entries: ProfileEntry[]; totalMs: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let totalMs = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    const node = byId.get(id);
    if (!node || node.callFrame.functionName === "(idle)") return;
    totalMs += ms;
    const leaf = nameOf(node);
    self.set(leaf, (self.get(leaf) ?? 0) + ms);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const name = nameOf(byId.get(at)!);
      if (seen.has(name)) continue;
      seen.add(name);
      total.set(name, (total.get(name) ?? 0) + ms);
    }
  });
  const entries = [...total.entries()]
    .map(([fn, t]) => ({ fn, selfMs: self.get(fn) ?? 0, totalMs: t }))
    .sort((a, b) => b.totalMs - a.totalMs);
  return { entries, totalMs };
}

/**
 * The top `count` functions by self time and by total time of the profile(s) in `dir`, as
 * printable lines; program roots ((root), (program), the event loop) are left out of "total".
 */
export async function describeProfiles(dir: string, count = 15): Promise<string> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".cpuprofile"));
  const out: string[] = [];
  for (const file of files) {
    const { entries, totalMs } = summarise(JSON.parse(await readFile(join(dir, file), "utf8")) as CpuProfile);
    const pct = (ms: number) => `${((100 * ms) / totalMs).toFixed(1).padStart(5)} %`;
    out.push(`profile ${file}: ${(totalMs / 1000).toFixed(1)} s on CPU`);
    out.push("  by self time:");
    for (const e of [...entries].sort((a, b) => b.selfMs - a.selfMs).slice(0, count)) {
      out.push(`    ${pct(e.selfMs)}  ${e.fn}`);
    }
    out.push("  by total time (with callees):");
    const framework = /^\((root|program|garbage collector)\)|^processTicksAndRejections|^listOnTimeout|^processTimers/;
    for (const e of entries.filter((e) => !framework.test(e.fn)).slice(0, count)) {
      out.push(`    ${pct(e.totalMs)}  ${e.fn}`);
    }
  }
  return out.join("\n");
}
