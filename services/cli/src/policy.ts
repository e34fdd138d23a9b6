/**
 * Builds an environment's rollout policy from what the user typed: a file (`-f`) or flags.
 * Pure; the hub validates the result against its policy schema and answers 400 naming the
 * field, so the CLI checks only what it parses itself (names, numbers, key=value shapes).
 */
import type { Percentage, PolicyInput, WaveInput } from "@flotilla/api";
import { UsageError } from "./errors.js";

/** Name of the implicit last wave, whose settings live under `remaining:`. */
export const REMAINING_WAVE = "remaining";

/** The policy flags of `env set`. */
export interface PolicyFlags {
  /** `name` or `name:selector`, in order. */
  wave?: string[];
  /** `wave=n` or `wave=n%`. */
  maxConcurrency?: string[];
  /** `wave=seconds` (or 90s, 5m, 1h). */
  bake?: string[];
  /** `wave=n` or `wave=n%`. */
  failureBudget?: string[];
  /** Wave names. */
  requireApproval?: string[];
  progressDeadline?: string;
  autoRollback?: boolean;
  offlineClusters?: string;
}

/** Whether any policy flag was given (to refuse mixing them with `-f`). */
export function hasPolicyFlags(f: PolicyFlags): boolean {
  return (
    [f.wave, f.maxConcurrency, f.bake, f.failureBudget, f.requireApproval].some((v) => v && v.length > 0) ||
    f.progressDeadline !== undefined ||
    f.autoRollback !== undefined ||
    f.offlineClusters !== undefined
  );
}

const SECONDS_PER: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Seconds from `300`, `300s`, `5m`, `1h` or `30d`. */
export function parseSeconds(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d)?$/.exec(text.trim());
  if (!m)
    throw new UsageError(`${flag} ${JSON.stringify(text)} is not a duration`, "use seconds (300) or 90s, 5m, 1h, 30d");
  const n = Number(m[1]) * (SECONDS_PER[m[2] ?? "s"] ?? 1);
  if (!Number.isInteger(n)) throw new UsageError(`${flag} ${JSON.stringify(text)} is not a whole number of seconds`);
  return n;
}

function isPercentage(text: string): text is Percentage {
  return /^\d+%$/.test(text);
}

/** A count (`3`) or a percentage (`25%`), as the policy schema takes them. */
function amount(text: string, flag: string): number | Percentage {
  if (isPercentage(text)) return text;
  if (/^\d+$/.test(text)) return Number(text);
  throw new UsageError(`${flag} value ${JSON.stringify(text)} is not a count or percentage`, "e.g. 2 or 25%");
}

/** Splits `wave=value`, checking the wave exists in this policy (or is `remaining`). */
function perWave(values: readonly string[], flag: string, waves: ReadonlySet<string>): [string, string][] {
  return values.map((v) => {
    const at = v.indexOf("=");
    if (at <= 0) throw new UsageError(`${flag} ${JSON.stringify(v)} is not <wave>=<value>`, `e.g. ${flag} canary=1`);
    return [checkWave(v.slice(0, at), flag, waves), v.slice(at + 1)];
  });
}

function checkWave(name: string, flag: string, waves: ReadonlySet<string>): string {
  if (name !== REMAINING_WAVE && !waves.has(name)) {
    const known = [...waves, REMAINING_WAVE].join(", ");
    throw new UsageError(`${flag} names wave ${JSON.stringify(name)}, which no --wave declares`, `waves: ${known}`);
  }
  return name;
}

/**
 * The policy the flags describe. Waves keep the order of `--wave`; settings for the implicit
 * last wave go under `remaining`. Flags that are not given are left out, so the hub's safe
 * defaults apply.
 */
export function policyFromFlags(f: PolicyFlags): PolicyInput {
  const waves: WaveInput[] = [];
  const names = new Set<string>();
  for (const spec of f.wave ?? []) {
    const colon = spec.indexOf(":");
    const name = colon < 0 ? spec : spec.slice(0, colon);
    const selector = colon < 0 ? "" : spec.slice(colon + 1);
    if (!name) throw new UsageError(`--wave ${JSON.stringify(spec)} has no name`, "e.g. --wave canary:tier=canary");
    if (names.has(name)) throw new UsageError(`--wave ${JSON.stringify(name)} is declared twice`);
    names.add(name);
    waves.push({ name, ...(selector ? { selector } : {}) });
  }
  const remaining: Omit<WaveInput, "name" | "selector"> = {};
  const settingsOf = (name: string) =>
    name === REMAINING_WAVE ? remaining : (waves.find((w) => w.name === name) ?? {});
  for (const [wave, v] of perWave(f.maxConcurrency ?? [], "--max-concurrency", names)) {
    settingsOf(wave).maxConcurrency = amount(v, "--max-concurrency");
  }
  for (const [wave, v] of perWave(f.failureBudget ?? [], "--failure-budget", names)) {
    settingsOf(wave).failureBudget = amount(v, "--failure-budget");
  }
  for (const [wave, v] of perWave(f.bake ?? [], "--bake", names))
    settingsOf(wave).bakeSeconds = parseSeconds(v, "--bake");
  for (const wave of f.requireApproval ?? [])
    settingsOf(checkWave(wave, "--require-approval", names)).requireApproval = true;

  const policy: PolicyInput = {};
  if (waves.length > 0) policy.waves = waves;
  if (Object.keys(remaining).length > 0) policy.remaining = remaining;
  if (f.progressDeadline !== undefined)
    policy.progressDeadlineSeconds = parseSeconds(f.progressDeadline, "--progress-deadline");
  if (f.autoRollback !== undefined) policy.autoRollback = f.autoRollback;
  if (f.offlineClusters !== undefined) {
    if (f.offlineClusters !== "block" && f.offlineClusters !== "skip") {
      throw new UsageError(`--offline-clusters ${JSON.stringify(f.offlineClusters)} must be block or skip`);
    }
    policy.offlineClusters = f.offlineClusters;
  }
  return policy;
}

/**
 * The policy in a `-f` file, which may hold the policy itself (`waves: ...`), an object with a
 * `policy:` key, or a whole `kind: Environment` document (its `spec.policy`).
 */
export function policyFromDocument(doc: unknown, path: string): PolicyInput {
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    throw new UsageError(`${path === "-" ? "stdin" : path} must hold a policy object (waves:, remaining:, ...)`);
  }
  const o = doc as Record<string, unknown>;
  if (o.kind === "Environment") {
    const spec = (o.spec ?? {}) as Record<string, unknown>;
    return (spec.policy ?? {}) as PolicyInput;
  }
  if ("policy" in o && Object.keys(o).every((k) => k === "policy" || k === "name"))
    return (o.policy ?? {}) as PolicyInput;
  return o as PolicyInput;
}
