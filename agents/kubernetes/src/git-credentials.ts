import { readFileSync } from "node:fs";
import { z } from "zod";
import { ConfigError } from "./errors.js";

/** One entry of the Git credentials file: used for every repository URL starting with `urlPrefix`. */
export interface GitCredential {
  urlPrefix: string;
  username: string;
  password: string;
}

const fileSchema = z.array(
  z.object({ urlPrefix: z.string().min(1), username: z.string().default(""), password: z.string().default("") }),
);

/** Reads `[{ urlPrefix, username, password }]`; an empty path means no credentials. */
export function loadGitCredentials(path: string): GitCredential[] {
  if (!path) return [];
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read Git credentials file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse quotes the text around the error, which here is a password: name the file only, keep no cause.
    throw new ConfigError(`Git credentials file ${path} is not valid JSON`);
  }
  const result = fileSchema.safeParse(parsed);
  if (!result.success) {
    throw new ConfigError(`Git credentials file ${path} must be a JSON array of { urlPrefix, username, password }`);
  }
  return result.data;
}

/** The credential with the longest prefix matching `url`, so a per-repo entry beats a per-host one. */
export function credentialFor(creds: readonly GitCredential[], url: string): GitCredential | undefined {
  let best: GitCredential | undefined;
  for (const c of creds) {
    if (url.startsWith(c.urlPrefix) && (!best || c.urlPrefix.length > best.urlPrefix.length)) best = c;
  }
  return best;
}
