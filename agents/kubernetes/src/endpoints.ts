/**
 * The agent's HTTP endpoints, on the metrics port:
 *
 * - `GET /metrics`: Prometheus metrics;
 * - `GET /healthz`: 200 while the process runs and answers (liveness);
 * - `GET /readyz`: 200 when ready, 503 when not, with a JSON body saying why (see `readiness.ts`).
 */
import { createServer, type Server } from "node:http";
import type { AgentMetrics } from "./metrics.js";
import type { Readiness } from "./readiness.js";

export interface EndpointSources {
  metrics: AgentMetrics;
  readiness: () => Readiness;
}

/** Serves the endpoints on `host:port`; resolves once listening (port 0 picks a free port). */
export async function serveEndpoints(host: string, port: number, sources: EndpointSources): Promise<Server> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://agent").pathname;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    switch (path) {
      case "/metrics":
        sources.metrics.registry.metrics().then(
          (body) => res.writeHead(200, { "content-type": sources.metrics.registry.contentType }).end(body),
          (err: Error) => res.writeHead(500).end(err.message),
        );
        return;
      case "/healthz":
        res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
        return;
      case "/readyz": {
        const r = sources.readiness();
        res.writeHead(r.ready ? 200 : 503, { "content-type": "application/json" }).end(`${JSON.stringify(r)}\n`);
        return;
      }
      default:
        res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
