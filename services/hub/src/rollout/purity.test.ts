import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * What the engine may import besides its own modules: validation, the wire and HTTP contracts,
 * and croner, which only computes cron times here (no callback given, so it starts no timer).
 */
const ALLOWED = new Set(["zod", "@flotilla/proto", "@flotilla/api", "croner"]);
const HERE = fileURLToPath(new URL(".", import.meta.url));

describe("the rollout engine", () => {
  it("imports only its own modules, zod, croner and the contracts: no I/O, no hub state", () => {
    const sources = readdirSync(HERE).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));
    expect(sources).toContain("step.ts");
    let imports = 0;
    for (const file of sources) {
      const text = readFileSync(join(HERE, file), "utf8");
      expect(text, `${file} imports dynamically`).not.toMatch(/\bimport\(/);
      for (const [, from, bare] of text.matchAll(
        /^(?:import|export)\b[^;"=]*\bfrom\s*"([^"]+)";|^import\s*"([^"]+)";/gm,
      )) {
        const spec = from ?? bare;
        expect(spec?.startsWith("./") || ALLOWED.has(spec ?? ""), `${file} imports ${spec}`).toBe(true);
        imports++;
      }
    }
    expect(imports).toBeGreaterThan(sources.length);
  });
});
