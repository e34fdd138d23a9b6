import { writeFile } from "node:fs/promises";

/**
 * Writes a secret (a token, a key, credentials, a bootstrap bundle) to a file only its owner
 * can read, and returns the path: programs get their secrets by file, never on their command
 * line or in their environment, where `ps` and /proc show them.
 */
export async function writeSecretFile(path: string, content: string): Promise<string> {
  await writeFile(path, content, { mode: 0o600 });
  return path;
}
