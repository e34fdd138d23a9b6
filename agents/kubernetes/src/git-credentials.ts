import { readFileSync } from "node:fs";
import { z } from "zod";
import { ConfigError } from "./errors.js";

/**
 * One entry of the Git credentials file: used for repository URLs of the same scheme, host and
 * port as `urlPrefix` whose path starts with its path.
 */
export interface GitCredential {
  urlPrefix: string;
  username: string;
  password: string;
}

const fileSchema = z.array(
  z.object({
    urlPrefix: z
      .string()
      .refine((p) => URL.canParse(p), "urlPrefix must be a URL such as https://git.example.com/team/"),
    username: z.string().default(""),
    password: z.string().default(""),
  }),
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
    // Name the entry and field only: the values around them are passwords.
    const where = result.error.issues.map((i) => i.path.join(".")).join(", ");
    throw new ConfigError(
      `Git credentials file ${path} must be a JSON array of { urlPrefix, username, password } with URL prefixes (check ${where})`,
    );
  }
  return result.data;
}

/**
 * Whether `prefix` covers `url`: the same origin (scheme, host and port, compared whole, so
 * `https://git.example.com` never covers `https://git.example.com.evil.io`), and a path that
 * starts with the prefix's path.
 */
function covers(prefix: string, url: URL): boolean {
  if (!URL.canParse(prefix)) return false;
  const p = new URL(prefix);
  return p.origin === url.origin && url.pathname.startsWith(p.pathname);
}

/** The credential with the longest prefix covering `url`, so a per-repo entry beats a per-host one. */
export function credentialFor(creds: readonly GitCredential[], url: string): GitCredential | undefined {
  if (!URL.canParse(url)) return undefined;
  const target = new URL(url);
  let best: GitCredential | undefined;
  for (const c of creds) {
    if (covers(c.urlPrefix, target) && (!best || c.urlPrefix.length > best.urlPrefix.length)) best = c;
  }
  return best;
}
