/**
 * toxiproxy (built by scripts/fixtures.sh from its Go module) as a process, and a small client
 * of its HTTP API: TCP proxies on loopback ports whose links a fault test slows, resets, cuts
 * or blackholes while both ends keep running.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { binPath } from "./fixtures.js";
import { freePort, freePorts, releasePorts } from "./ports.js";
import { restartableServer } from "./process.js";

/** A toxic's direction: traffic towards the upstream server, or back to the client. */
export type ToxicStream = "upstream" | "downstream";

/** One toxic, as toxiproxy's API takes it (`latency`, `reset_peer`, `timeout`, `bandwidth`...). */
export interface Toxic {
  readonly name: string;
  readonly type: string;
  readonly stream?: ToxicStream;
  /** Share of connections it applies to, 0..1. @default 1 */
  readonly toxicity?: number;
  readonly attributes: Readonly<Record<string, number>>;
}

/** One TCP proxy: clients connect to `port`, it forwards to the upstream. */
export interface ToxicProxy {
  readonly name: string;
  /** The loopback port clients connect to. */
  readonly port: number;
  /** Adds a toxic to every connection, open and new. */
  addToxic(toxic: Toxic): Promise<void>;
  removeToxic(name: string): Promise<void>;
  /** Refuses new connections and closes open ones (a cut link), or lets them through again. */
  setEnabled(enabled: boolean): Promise<void>;
  /** Removes every toxic and enables the proxy. */
  heal(): Promise<void>;
}

/** A running toxiproxy-server. */
export interface Toxiproxy {
  /** Its HTTP API, `http://127.0.0.1:<port>`. */
  readonly api: string;
  readonly pid: number | undefined;
  /** Creates a proxy on a free loopback port to `upstream` (`host:port`). */
  proxy(name: string, upstream: string): Promise<ToxicProxy>;
  stop(): Promise<void>;
}

async function call(api: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${api}${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`toxiproxy ${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** Options of {@link startToxiproxy}. */
export interface ToxiproxyOptions {
  /** Parent directory for its log. @default os.tmpdir() */
  dir?: string;
}

/** Starts toxiproxy-server on a free loopback port. */
export async function startToxiproxy(options: ToxiproxyOptions = {}): Promise<Toxiproxy> {
  const dir = await mkdtemp(join(options.dir ?? tmpdir(), "flotilla-toxiproxy-"));
  const port = await freePort();
  const server = restartableServer({
    name: "toxiproxy-server",
    command: binPath("toxiproxy-server"),
    args: ["-host", "127.0.0.1", "-port", String(port)],
    logPath: join(dir, "toxiproxy.log"),
    port,
  });
  await server.start();
  const api = `http://127.0.0.1:${port}`;
  const proxyPorts: number[] = [];
  return {
    api,
    get pid() {
      return server.pid;
    },
    async proxy(name, upstream) {
      const [listen] = await freePorts(1);
      proxyPorts.push(listen as number);
      await call(api, "POST", "/proxies", { name, listen: `127.0.0.1:${listen}`, upstream, enabled: true });
      const toxics = new Set<string>();
      const proxy: ToxicProxy = {
        name,
        port: listen as number,
        async addToxic(toxic) {
          await call(api, "POST", `/proxies/${name}/toxics`, {
            name: toxic.name,
            type: toxic.type,
            stream: toxic.stream ?? "downstream",
            toxicity: toxic.toxicity ?? 1,
            attributes: toxic.attributes,
          });
          toxics.add(toxic.name);
        },
        async removeToxic(toxic) {
          await call(api, "DELETE", `/proxies/${name}/toxics/${toxic}`);
          toxics.delete(toxic);
        },
        async setEnabled(enabled) {
          await call(api, "POST", `/proxies/${name}`, { enabled });
        },
        async heal() {
          for (const t of [...toxics]) await proxy.removeToxic(t);
          await proxy.setEnabled(true);
        },
      };
      return proxy;
    },
    async stop() {
      await server.stop();
      releasePorts([port, ...proxyPorts]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
