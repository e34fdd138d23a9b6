/**
 * Flotilla's own programs (the hub, the agent) as the harness runs them: by the command each
 * package declares in its `bin`, with an environment that holds only what the caller sets.
 */
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

/** A Flotilla program the harness can run as a process. */
export type Program = "hub" | "agent";

/** The package and `bin` command of each program. */
const PROGRAMS = {
  hub: { pkg: "@flotilla/hub", command: "flotilla-hub" },
  agent: { pkg: "@flotilla/agent", command: "flotilla-agent" },
} as const satisfies Record<Program, { pkg: string; command: string }>;

const require = createRequire(import.meta.url);

/**
 * Absolute path of the script a program's package declares as its command (its `bin`), to
 * run with `node`; the package must be built. Found the way Node finds the package itself,
 * without reaching into its files.
 */
export function entryPoint(program: Program): string {
  const { pkg, command } = PROGRAMS[program];
  for (const modules of require.resolve.paths(pkg) ?? []) {
    const dir = join(modules, pkg);
    const manifest = join(dir, "package.json");
    if (!existsSync(manifest)) continue;
    const { bin } = JSON.parse(readFileSync(manifest, "utf8")) as { bin?: Record<string, string> };
    const script = bin?.[command];
    if (script === undefined) throw new Error(`${pkg} declares no ${command} command in its package.json`);
    return join(realpathSync(dir), script);
  }
  throw new Error(`cannot find ${pkg} from ${import.meta.url}; run npm ci`);
}

/**
 * The environment of a program the harness starts: PATH, HOME and TMPDIR from this process
 * and `settings`, nothing else, so a FLOTILLA_* variable in the caller's shell cannot change
 * what a test or a local fleet runs.
 */
export function programEnv(settings: Readonly<Record<string, string>>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of ["PATH", "HOME", "TMPDIR"]) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return { ...env, ...settings };
}
