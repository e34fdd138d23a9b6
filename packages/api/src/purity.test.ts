import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * What the contract may import besides its own modules: validation, the wire contract's names,
 * and croner, to check a window's cron schedule (parsing only; no callback, so no timer).
 */
const ALLOWED = ["zod", "@flotilla/proto", "croner"];
const SRC = fileURLToPath(new URL(".", import.meta.url));

describe("@flotilla/api", () => {
  it("is pure: its modules import only each other, zod, croner and @flotilla/proto", () => {
    const modules = readdirSync(SRC).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));
    const foreign: string[] = [];
    const seen: string[] = [];
    for (const module of modules) {
      const source = readFileSync(`${SRC}/${module}`, "utf8");
      if (/\bimport\s*\(|\brequire\s*\(/.test(source)) foreign.push(`${module}: loads a module at run time`);
      for (const match of source.matchAll(/^(?:import|export)\b[^;"]*\bfrom\s+"([^"]+)"|^import\s+"([^"]+)"/gm)) {
        const target = match[1] ?? match[2] ?? "";
        seen.push(target);
        if (!target.startsWith("./") && !ALLOWED.includes(target)) foreign.push(`${module}: ${target}`);
      }
    }
    expect(modules).toContain("operations.ts");
    expect(seen).toContain("zod");
    expect(foreign).toEqual([]);
  });
});
