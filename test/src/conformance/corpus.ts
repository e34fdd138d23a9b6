/**
 * The health conformance corpus: object states as data (test/conformance/health/*.yaml),
 * kstatus's verdicts on them from the fixture binary, and the list of deliberate differences.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { KubeObject } from "@flotilla/agent";
import { binPath } from "@flotilla/devfleet";
import { parse } from "yaml";

/** Where the corpus files live. */
export const CORPUS_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "conformance", "health");

/** kstatus's statuses, as the agent's health names (lowercase, as reports carry them). */
export const KSTATUS_TO_OURS: Readonly<Record<string, string>> = {
  Current: "healthy",
  InProgress: "progressing",
  Failed: "degraded",
  Terminating: "progressing",
  NotFound: "missing",
  Unknown: "unknown",
};

/** One object state. */
export interface CorpusState {
  name: string;
  /** Which file it came from. */
  file: string;
  object: KubeObject;
  /** For kstatus's own cases: what its test expects. */
  kstatus?: string;
  note?: string;
  context?: { ageSeconds?: number; statusSubresource?: boolean };
}

/** A state where the agent and kstatus disagree on purpose. */
export interface Difference {
  state: string;
  /** The agent's verdict (health name). */
  ours: string;
  /** kstatus's status. */
  kstatus: string;
  /** Why the agent's verdict is the right one for gating a wave. */
  reason: string;
}

/** Every state of every corpus file, with creation times stamped relative to `nowMs`. */
export function loadCorpus(nowMs: number): CorpusState[] {
  const states: CorpusState[] = [];
  for (const file of readdirSync(CORPUS_DIR).sort()) {
    if (!file.endsWith(".yaml") || file === "differences.yaml") continue;
    const doc = parse(readFileSync(join(CORPUS_DIR, file), "utf8")) as { states: Omit<CorpusState, "file">[] };
    for (const s of doc.states) {
      const age = s.context?.ageSeconds;
      if (age !== undefined) {
        s.object.metadata.creationTimestamp = new Date(nowMs - age * 1000).toISOString().replace(/\.\d+Z$/, "Z");
      }
      states.push({ ...s, file });
    }
  }
  return states;
}

export function loadDifferences(): Difference[] {
  const doc = parse(readFileSync(join(CORPUS_DIR, "differences.yaml"), "utf8")) as { differences: Difference[] };
  return doc.differences;
}

/** kstatus's verdict on each object, in order, from the fixture binary. */
export function kstatusVerdicts(objects: readonly KubeObject[]): { status: string; message: string }[] {
  const out = execFileSync(binPath("kstatus"), { input: JSON.stringify(objects), encoding: "utf8" });
  return out
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { status: string; message: string });
}
