import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { apiPath, HubClient } from "../client.js";
import { FleetError } from "./errors.js";

/** The `dist/main.js` beside a workspace package's entry point, for running it as its own process. */
export function entryPoint(pkg: "@flotilla/hub" | "@flotilla/agent"): string {
  return join(dirname(fileURLToPath(import.meta.resolve(pkg))), "main.js");
}

/** Per-request timeout while the fleet drives its own hub. */
const REQUEST_TIMEOUT_MS = 30_000;

/** The hub calls the fleet makes while it starts and while it runs the demo. */
export class FleetHub {
  readonly client: HubClient;

  constructor(
    readonly url: string,
    token: string,
  ) {
    this.client = new HubClient({
      baseUrl: url,
      hubSource: "the local fleet",
      token,
      tokenSource: "the local fleet",
      configPath: "",
      timeoutMs: REQUEST_TIMEOUT_MS,
    });
  }

  /** Waits for `/readyz`; fails early, with the hub's last log lines, if the hub process exits. */
  async waitReady(timeoutMs: number, alive: () => boolean, tail: () => string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ok = await fetch(new URL("/readyz", this.url)).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      if (!alive()) throw new FleetError(`the hub exited while starting:\n${tail()}`);
      if (Date.now() > deadline) throw new FleetError(`the hub was not ready within ${timeoutMs / 1000} s:\n${tail()}`);
      await sleep(200);
    }
  }

  apply(yaml: string): Promise<unknown> {
    return this.client.post("/v1/apply", { text: yaml, contentType: "application/yaml" });
  }

  registerCluster(name: string, labels: Record<string, string>): Promise<unknown> {
    return this.client.post("/v1/clusters", { json: { name, labels } });
  }

  /** Rollouts of one app in one environment. */
  async listRollouts(app: string, environment: string): Promise<{ id: string; toRevision: string }[]> {
    const { items } = await this.client.get<{ items: { id: string; toRevision: string }[] }>("/v1/rollouts", {
      app,
      environment,
    });
    return items;
  }

  async waitClustersReady(names: string[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await Promise.all(
        names.map(
          async (n) => (await this.client.get<{ status: { state: string } }>(apiPath`/v1/clusters/${n}`)).status.state,
        ),
      );
      const waiting = names.filter((_, i) => states[i] !== "Ready");
      if (waiting.length === 0) return;
      if (Date.now() > deadline) {
        throw new FleetError(
          `clusters not Ready within ${timeoutMs / 1000} s: ${waiting.join(", ")} (see agents/<name>/agent.log in the fleet directory)`,
        );
      }
      await sleep(500);
    }
  }
}
