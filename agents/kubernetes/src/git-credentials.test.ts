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

  it.each([
    ["https://git.example.com", "https://git.example.com.evil.io/team/app.git", false],
    ["https://git.example.com", "https://git.example.com@evil.io/team/app.git", false],
    ["https://git.example.com", "https://git.example.com:8443/team/app.git", false],
    ["https://git.example.com", "http://git.example.com/team/app.git", false],
    ["https://git.example.com", "https://GIT.example.com/team/app.git", true],
    ["https://git.example.com/team/", "https://git.example.com/team/app.git", true],
    ["https://git.example.com/team/", "https://git.example.com/other/app.git", false],
  ])("matches %s to %s only on the host boundary: %s", (urlPrefix, url, match) => {
    const creds = [{ urlPrefix, username: "u", password: "p" }];
    expect(credentialFor(creds, url) !== undefined).toBe(match);
  });

  it("refuses a prefix that is not a URL, naming the entry but no value", () => {
    const file = join(dir, "prefix.json");
    writeFileSync(file, JSON.stringify([{ urlPrefix: "git.example.com", username: "u", password: "hunter2SECRET" }]));
    const err = errorOf(() => loadGitCredentials(file));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err?.message).toMatch(/check 0\.urlPrefix/);
    expect(err?.message).not.toContain("SECRET");
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
