import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

/** The `dist/main.js` beside a workspace package's entry point, for running it as its own process. */
export function entryPoint(pkg: "@flotilla/hub" | "@flotilla/agent"): string {
  return join(dirname(fileURLToPath(import.meta.resolve(pkg))), "main.js");
}

/** The few hub calls the fleet needs while it starts, before the CLI's config exists. */
export class HubClient {
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  private async call(method: string, path: string, body?: string, contentType = "application/json"): Promise<unknown> {
    const res = await fetch(new URL(path, this.url), {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { "content-type": contentType }),
      },
      body,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  }

  async waitReady(timeoutMs: number, alive: () => boolean, tail: () => string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ok = await fetch(new URL("/readyz", this.url)).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      if (!alive()) throw new Error(`the hub exited while starting:\n${tail()}`);
      if (Date.now() > deadline) throw new Error(`the hub was not ready within ${timeoutMs / 1000} s:\n${tail()}`);
      await sleep(200);
    }
  }

  apply(yaml: string): Promise<unknown> {
    return this.call("POST", "/v1/apply", yaml, "application/yaml");
  }

  registerCluster(name: string, labels: Record<string, string>): Promise<unknown> {
    return this.call("POST", "/v1/clusters", JSON.stringify({ name, labels }));
  }

  /** Rollouts of one app in one environment, newest first. */
  async listRollouts(app: string, environment: string): Promise<{ id: string; toRevision: string }[]> {
    const query = new URLSearchParams({ app, environment });
    const { items } = (await this.call("GET", `/v1/rollouts?${query}`)) as {
      items: { id: string; toRevision: string }[];
    };
    return items;
  }

  async waitClustersReady(names: string[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await Promise.all(
        names.map(
          async (n) => ((await this.call("GET", `/v1/clusters/${n}`)) as { status: { state: string } }).status.state,
        ),
      );
      const waiting = names.filter((_, i) => states[i] !== "Ready");
      if (waiting.length === 0) return;
      if (Date.now() > deadline) {
        throw new Error(
          `clusters not Ready within ${timeoutMs / 1000} s: ${waiting.join(", ")} (see agents/*/agent.log)`,
        );
      }
      await sleep(500);
    }
  }
}
