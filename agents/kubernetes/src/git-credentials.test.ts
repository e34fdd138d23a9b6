import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "./errors.js";
import { credentialFor, loadGitCredentials } from "./git-credentials.js";

const dir = mkdtempSync(join(tmpdir(), "agent-git-credentials-"));

function errorOf(fn: () => unknown): Error | undefined {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  return undefined;
}

describe("loadGitCredentials", () => {
  it("reads entries and picks the longest matching prefix", () => {
    const file = join(dir, "ok.json");
    writeFileSync(
      file,
      JSON.stringify([
        { urlPrefix: "https://git.example/", username: "host", password: "p1" },
        { urlPrefix: "https://git.example/team/", username: "team", password: "p2" },
      ]),
    );
    const creds = loadGitCredentials(file);
    expect(credentialFor(creds, "https://git.example/team/app.git")?.username).toBe("team");
    expect(credentialFor(creds, "https://git.example/other.git")?.username).toBe("host");
    expect(credentialFor(creds, "https://elsewhere/x.git")).toBeUndefined();
  });

  it("does not quote a malformed file, which holds passwords, in its error", () => {
    const file = join(dir, "broken.json");
    writeFileSync(file, '[{"urlPrefix":"https://git.example/","username":"u","password":hunter2SECRET}]');
    const err = errorOf(() => loadGitCredentials(file));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err?.message).toMatch(/broken\.json is not valid JSON/);
    expect(`${err?.message} ${String(err?.cause)}`).not.toContain("SECRET");
  });
});
