import { readFile, writeFile } from "node:fs/promises";
import { stringify } from "yaml";
import type { KeyPair } from "./pki.js";

async function base64(path: string): Promise<string> {
  return (await readFile(path)).toString("base64");
}

/**
 * Writes a self-contained kubeconfig (certificates embedded, so the file can
 * be copied elsewhere) with one cluster, one user and one context, all named
 * `name`, and that context current.
 */
export async function writeKubeconfig(options: {
  readonly path: string;
  readonly name: string;
  readonly server: string;
  readonly caCert: string;
  readonly client: KeyPair;
}): Promise<void> {
  const { path, name, server } = options;
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name, cluster: { server, "certificate-authority-data": await base64(options.caCert) } }],
    users: [
      {
        name,
        user: {
          "client-certificate-data": await base64(options.client.cert),
          "client-key-data": await base64(options.client.key),
        },
      },
    ],
    contexts: [{ name, context: { cluster: name, user: name } }],
    "current-context": name,
  };
  await writeFile(path, stringify(config), { mode: 0o600 });
}
